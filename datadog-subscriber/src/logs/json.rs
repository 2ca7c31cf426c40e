//! The JSON line writer: appends keys and values straight into a reused byte buffer.
//!
//! Going through `serde_json::Value` (or even `serde_json::Serializer`) costs an allocation per
//! value and a trait dispatch per byte; a log line only needs strings, numbers and booleans, so the
//! few escaping rules of RFC 8259 are applied here directly. Every function keeps the buffer valid
//! UTF-8 and every value it writes valid JSON, whatever the input: control characters are escaped,
//! NaN and infinities become strings, and over-long values are cut at a character boundary.

use std::fmt::{self, Write as _};

/// What a value cut at the size limit ends with.
const TRUNCATED: &str = "...(truncated)";

/// Appends `value` as a JSON string (quotes included), escaped, at most `limit` bytes of it.
pub(crate) fn string(out: &mut Vec<u8>, value: &str, limit: usize) {
    out.push(b'"');
    let mut escaper = Escaper::new(out, limit);
    escaper.push_str(value);
    escaper.finish();
    out.push(b'"');
}

/// Appends the `Debug` (or `Display`) output of `value` as a JSON string, at most `limit` bytes.
pub(crate) fn formatted(out: &mut Vec<u8>, value: fmt::Arguments<'_>, limit: usize) {
    out.push(b'"');
    let mut escaper = Escaper::new(out, limit);
    // A `Debug` impl that returns an error (they exist) leaves what it wrote so far: still valid.
    let _ = escaper.write_fmt(value);
    escaper.finish();
    out.push(b'"');
}

/// Appends `text` escaped, without quotes.
pub(crate) fn escaped(out: &mut Vec<u8>, text: &str) {
    escape_into(out, text);
}

/// Appends `,"key":` (the comma only when `comma` is set).
pub(crate) fn key(out: &mut Vec<u8>, key: &str, comma: bool) {
    if comma {
        out.push(b',');
    }
    string(out, key, usize::MAX);
    out.push(b':');
}

/// Appends an integer.
pub(crate) fn integer(out: &mut Vec<u8>, value: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Appends a float; NaN and the infinities, which JSON cannot hold, become the strings `"NaN"`,
/// `"inf"` and `"-inf"`.
pub(crate) fn float(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(value).as_bytes());
    } else if value.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if value > 0.0 {
        out.extend_from_slice(b"\"inf\"");
    } else {
        out.extend_from_slice(b"\"-inf\"");
    }
}

/// Appends `true` or `false`.
pub(crate) fn boolean(out: &mut Vec<u8>, value: bool) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

/// Escapes text into a buffer, counting the input bytes against a limit.
struct Escaper<'a> {
    out: &'a mut Vec<u8>,
    remaining: usize,
    truncated: bool,
}

impl<'a> Escaper<'a> {
    fn new(out: &'a mut Vec<u8>, limit: usize) -> Self {
        Escaper {
            out,
            remaining: limit,
            truncated: false,
        }
    }

    fn push_str(&mut self, text: &str) {
        if self.truncated {
            return;
        }
        let text = if text.len() > self.remaining {
            self.truncated = true;
            let mut end = self.remaining;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            &text[..end]
        } else {
            text
        };
        self.remaining -= text.len();
        escape_into(self.out, text);
    }

    fn finish(self) {
        if self.truncated {
            self.out.extend_from_slice(TRUNCATED.as_bytes());
        }
    }
}

impl fmt::Write for Escaper<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.push_str(text);
        Ok(())
    }
}

fn escape_into(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    let mut start = 0;
    while let Some(offset) = find_escape(&bytes[start..]) {
        let index = start + offset;
        // Only ASCII bytes are escaped, so `start..index` always ends on a character boundary.
        out.extend_from_slice(&bytes[start..index]);
        match bytes[index] {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            other => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(other >> 4)],
                    HEX[usize::from(other & 0xf)],
                ]);
            }
        }
        start = index + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// The position of the first byte of `bytes` that must be escaped inside a JSON string (control
/// characters, `"` and `\\`), testing eight bytes at a time (log values are mostly short plain
/// text: a byte-by-byte loop costs more than the copy; in a profile of the `tower` benchmark's
/// full stack it took 3.3% of each request's time, as much as extracting its trace ids).
fn find_escape(bytes: &[u8]) -> Option<usize> {
    let length = bytes.len();
    if length < 8 {
        // Short keys and values ("GET", "server"): one word from two overlapping halves.
        return match length {
            0 => None,
            1..4 => bytes.iter().position(|&byte| needs_escape(byte)),
            _ => {
                let low = u64::from(read_u32(bytes, 0));
                let high = u64::from(read_u32(bytes, length - 4));
                let found = flags(low | high << 32);
                // Bytes `length - 4..4` are in both halves: a match in the low half comes first.
                (found != 0).then(|| {
                    let index = (found.trailing_zeros() / 8) as usize;
                    if index < 4 { index } else { index + length - 8 }
                })
            }
        };
    }
    let mut offset = 0;
    while offset + 8 <= length {
        let found = flags(read_u64(bytes, offset));
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    if offset == length {
        return None;
    }
    // The last eight bytes, overlapping bytes already found clean: the first flag is a new byte.
    let last = length - 8;
    let found = flags(read_u64(bytes, last));
    (found != 0).then(|| last + (found.trailing_zeros() / 8) as usize)
}

/// Whether a byte must be escaped inside a JSON string.
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// The high bit of each byte of `word` that must be escaped, plus possibly some bits above the
/// first such byte.
///
/// Classic SWAR tests: `(x - n) & !x & HIGH_BITS` is non-zero exactly when some byte of `x` is
/// below `n` (n <= 0x80); borrows only start at such a byte and only move to higher bytes, so the
/// lowest flagged byte is the first real match. Quotes and backslashes are tested as zero bytes of
/// `x ^ byte`; bytes >= 0x80 (UTF-8) never match since `!x` clears their flag.
fn flags(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    (word.wrapping_sub(ONES * 0x20) | quote.wrapping_sub(ONES) | backslash.wrapping_sub(ONES))
        & !word
        & HIGH_BITS
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_json_string(value: &str, limit: usize) -> String {
        let mut out = Vec::new();
        string(&mut out, value, limit);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_quotes_backslashes_and_control_characters() {
        let written = as_json_string("a\"b\\c\nd\te\u{1}f\u{7f}é", usize::MAX);
        assert_eq!(written, r#""a\"b\\c\nd\te\u0001f"#.to_owned() + "\u{7f}é\"");
        let parsed: String = serde_json::from_str(&written).unwrap();
        assert_eq!(parsed, "a\"b\\c\nd\te\u{1}f\u{7f}é");
    }

    /// The byte-by-byte rule, to compare the eight-bytes-at-a-time search with.
    fn first_escape_one_by_one(bytes: &[u8]) -> Option<usize> {
        bytes.iter().position(|&byte| needs_escape(byte))
    }

    #[test]
    fn the_word_search_finds_the_same_byte_as_a_plain_loop() {
        // Every byte value at every position of strings up to 24 bytes long, over plain ASCII
        // and multi-byte UTF-8 backgrounds, with a second special byte later on (to catch
        // borrows that flag the wrong byte).
        for background in [b'a', 0x80, 0xff, b'!', b'#', b'[', b']', 0x1f + 1] {
            for length in 0..24 {
                for position in 0..length {
                    for byte in 0..=u8::MAX {
                        let mut bytes = vec![background; length];
                        bytes[position] = byte;
                        if position + 3 < length {
                            bytes[position + 3] = b'"';
                        }
                        assert_eq!(
                            find_escape(&bytes),
                            first_escape_one_by_one(&bytes),
                            "{bytes:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn escaping_matches_serde_json() {
        for text in [
            "",
            "plain",
            "exactly8",
            "\"quoted\" and \\backslashed\\ over eight bytes",
            "\u{0}\u{1f}\u{7f}\u{80}é🦀\n\r\t",
            "/users/{id}?q=a&b=c",
        ] {
            let mut out = Vec::new();
            string(&mut out, text, usize::MAX);
            let parsed: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(parsed, text);
        }
    }

    #[test]
    fn cuts_long_values_on_a_character_boundary() {
        let written = as_json_string("ééé", 3);
        let parsed: String = serde_json::from_str(&written).unwrap();
        assert_eq!(parsed, format!("é{TRUNCATED}"));
    }

    #[test]
    fn non_finite_floats_become_strings() {
        for (value, expected) in [
            (f64::NAN, "\"NaN\""),
            (f64::INFINITY, "\"inf\""),
            (f64::NEG_INFINITY, "\"-inf\""),
            (1.5, "1.5"),
            (-0.0, "-0.0"),
            (1e300, "1e300"),
        ] {
            let mut out = Vec::new();
            float(&mut out, value);
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }

    #[test]
    fn debug_output_of_non_utf8_bytes_is_a_valid_string() {
        let bytes: &[u8] = b"\xff\xfe\"\n";
        let mut out = Vec::new();
        formatted(
            &mut out,
            format_args!("{:?}", String::from_utf8_lossy(bytes)),
            usize::MAX,
        );
        let parsed: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed, "\"\u{fffd}\u{fffd}\\\"\\n\"");
    }
}
