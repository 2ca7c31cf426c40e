//! The MessagePack primitives the `/v0.4/traces` encoder needs, written straight into a `Vec<u8>`.
//!
//! Each value uses the shortest form, byte for byte what `rmp::encode` writes (the tests check
//! it): a span is ~25 small values, and going through `rmp`'s `io::Write`-generic writers cost
//! several times the bytes themselves.

/// A string (fixstr / str8 / str16 / str32).
#[inline]
pub(crate) fn string(buffer: &mut Vec<u8>, value: &str) {
    let len = value.len();
    if len < 32 {
        buffer.push(0xa0 | len as u8);
    } else if len < 0x100 {
        buffer.extend_from_slice(&[0xd9, len as u8]);
    } else if len < 0x1_0000 {
        buffer.push(0xda);
        buffer.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        buffer.push(0xdb);
        buffer.extend_from_slice(&(len as u32).to_be_bytes());
    }
    buffer.extend_from_slice(value.as_bytes());
}

/// A string of at most 23 bytes given as a zero-padded array: copied as one fixed-size block,
/// then cut to length (cheaper than a variable-length copy).
#[inline]
pub(crate) fn padded_string(buffer: &mut Vec<u8>, bytes: &[u8; 23], len: usize) {
    let mut block = [0u8; 24];
    block[0] = 0xa0 | len as u8;
    block[1..].copy_from_slice(bytes);
    let start = buffer.len();
    buffer.extend_from_slice(&block);
    buffer.truncate(start + 1 + len.min(23));
}

/// The encoding of a fixstr key (at most 31 bytes), at compile time.
pub(crate) const fn key<const N: usize>(key: &str) -> [u8; N] {
    let bytes = key.as_bytes();
    assert!(bytes.len() < 32 && N == bytes.len() + 1);
    let mut out = [0u8; N];
    out[0] = 0xa0 | bytes.len() as u8;
    let mut index = 0;
    while index < bytes.len() {
        out[index + 1] = bytes[index];
        index += 1;
    }
    out
}

/// A map header (fixmap / map16 / map32).
#[inline]
pub(crate) fn map_len(buffer: &mut Vec<u8>, len: u32) {
    if len < 16 {
        buffer.push(0x80 | len as u8);
    } else if len < 0x1_0000 {
        buffer.push(0xde);
        buffer.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        buffer.push(0xdf);
        buffer.extend_from_slice(&len.to_be_bytes());
    }
}

/// An array header (fixarray / array16 / array32).
#[inline]
pub(crate) fn array_len(buffer: &mut Vec<u8>, len: u32) {
    if len < 16 {
        buffer.push(0x90 | len as u8);
    } else if len < 0x1_0000 {
        buffer.push(0xdc);
        buffer.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        buffer.push(0xdd);
        buffer.extend_from_slice(&len.to_be_bytes());
    }
}

/// An unsigned integer in its shortest form.
#[inline]
pub(crate) fn uint(buffer: &mut Vec<u8>, value: u64) {
    if value < 0x80 {
        buffer.push(value as u8);
    } else if value < 0x100 {
        buffer.extend_from_slice(&[0xcc, value as u8]);
    } else if value < 0x1_0000 {
        buffer.push(0xcd);
        buffer.extend_from_slice(&(value as u16).to_be_bytes());
    } else if value < 0x1_0000_0000 {
        buffer.push(0xce);
        buffer.extend_from_slice(&(value as u32).to_be_bytes());
    } else {
        buffer.push(0xcf);
        buffer.extend_from_slice(&value.to_be_bytes());
    }
}

/// A float64.
#[inline]
pub(crate) fn float(buffer: &mut Vec<u8>, value: f64) {
    buffer.push(0xcb);
    buffer.extend_from_slice(&value.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rmp_bytes(write: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut buffer = Vec::new();
        write(&mut buffer);
        buffer
    }

    #[test]
    fn strings_match_rmp_at_every_length_boundary() {
        for len in [0, 1, 31, 32, 255, 256, 65_535, 65_536, 70_000] {
            let text = "x".repeat(len);
            let ours = rmp_bytes(|b| string(b, &text));
            let theirs = rmp_bytes(|b| rmp::encode::write_str(b, &text).unwrap());
            assert_eq!(ours, theirs, "length {len}");
        }
    }

    #[test]
    fn padded_strings_and_keys_match_rmp() {
        for len in [0, 1, 22, 23] {
            let text = "y".repeat(len);
            let mut padded = [0u8; 23];
            padded[..len].copy_from_slice(text.as_bytes());
            let mut ours = vec![7];
            padded_string(&mut ours, &padded, len);
            let mut theirs = vec![7];
            rmp::encode::write_str(&mut theirs, &text).unwrap();
            assert_eq!(ours, theirs, "length {len}");
        }
        let service: [u8; 8] = key("service");
        let theirs = rmp_bytes(|b| rmp::encode::write_str(b, "service").unwrap());
        assert_eq!(service.as_slice(), theirs.as_slice());
    }

    #[test]
    fn headers_match_rmp_at_every_length_boundary() {
        for len in [0, 1, 15, 16, 65_535, 65_536, u32::MAX] {
            let ours = rmp_bytes(|b| map_len(b, len));
            let theirs = rmp_bytes(|b| {
                rmp::encode::write_map_len(b, len).unwrap();
            });
            assert_eq!(ours, theirs, "map {len}");
            let ours = rmp_bytes(|b| array_len(b, len));
            let theirs = rmp_bytes(|b| {
                rmp::encode::write_array_len(b, len).unwrap();
            });
            assert_eq!(ours, theirs, "array {len}");
        }
    }

    #[test]
    fn unsigned_integers_and_floats_match_rmp() {
        let mut values: Vec<i64> = vec![i64::MIN, i64::MAX, 0, 1, -1];
        for bits in [5, 7, 8, 15, 16, 31, 32, 63] {
            let edge = 1i64 << bits.min(62);
            values.extend([edge - 1, edge, edge + 1, -edge - 1, -edge, -edge + 1]);
        }
        values.extend([-33, -32, -31, -129, -128, -127, 127, 128, 255, 256]);
        for value in values {
            let unsigned = value as u64;
            let ours = rmp_bytes(|b| uint(b, unsigned));
            let theirs = rmp_bytes(|b| {
                rmp::encode::write_uint(b, unsigned).unwrap();
            });
            assert_eq!(ours, theirs, "uint {unsigned}");
        }
        for value in [0.0, -1.5, f64::MAX, 3.0] {
            let ours = rmp_bytes(|b| float(b, value));
            let theirs = rmp_bytes(|b| rmp::encode::write_f64(b, value).unwrap());
            assert_eq!(ours, theirs);
        }
    }
}
