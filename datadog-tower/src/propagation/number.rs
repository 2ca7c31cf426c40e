//! Allocation-free parsing and formatting of the ids and integers that travel in headers.

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The value of one lowercase hex digit.
fn lower_hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    }
}

/// Parses exactly `text.len()` lowercase hex digits (the W3C `HEXDIGLC` rule), at most 32.
pub(crate) fn parse_lower_hex(text: &[u8]) -> Option<u128> {
    if text.is_empty() || text.len() > 32 {
        return None;
    }
    let mut value: u128 = 0;
    for &byte in text {
        value = (value << 4) | u128::from(lower_hex_value(byte)?);
    }
    Some(value)
}

/// Parses 1 to `max_digits` hex digits of either case (B3 ids, as lenient as the SDKs' parsers).
pub(crate) fn parse_hex_any_case(text: &str, max_digits: usize) -> Option<u128> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes.len() > max_digits || max_digits > 32 {
        return None;
    }
    let mut value: u128 = 0;
    for &byte in bytes {
        value = (value << 4) | u128::from(lower_hex_value(byte.to_ascii_lowercase())?);
    }
    Some(value)
}

/// Parses an unsigned decimal made of digits only (no sign, no spaces), rejecting overflow.
pub(crate) fn parse_decimal_u64(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes.len() > 20 {
        return None;
    }
    let mut value: u64 = 0;
    for &byte in bytes {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(byte - b'0'))?;
    }
    Some(value)
}

/// Parses a signed decimal integer (optional `+`/`-`, then digits), rejecting overflow.
pub(crate) fn parse_decimal_i32(text: &str) -> Option<i32> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = parse_decimal_u64(digits)?;
    let signed = if negative {
        -i64::try_from(magnitude).ok()?
    } else {
        i64::try_from(magnitude).ok()?
    };
    i32::try_from(signed).ok()
}

/// Two lowercase hex digits for every byte value.
static HEX_PAIRS: [[u8; 2]; 256] = {
    let mut pairs = [[0u8; 2]; 256];
    let mut byte = 0;
    while byte < 256 {
        pairs[byte] = [HEX_DIGITS[byte >> 4], HEX_DIGITS[byte & 0xf]];
        byte += 1;
    }
    pairs
};

/// Appends `value` as 16 lowercase hex digits (zero-padded).
pub(crate) fn push_hex16(out: &mut Vec<u8>, value: u64) {
    let mut digits = [0u8; 16];
    for (pair, byte) in digits.chunks_exact_mut(2).zip(value.to_be_bytes()) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(byte)]);
    }
    out.extend_from_slice(&digits);
}

/// Appends `value` as 32 lowercase hex digits (zero-padded).
pub(crate) fn push_hex32(out: &mut Vec<u8>, value: u128) {
    push_hex16(out, (value >> 64) as u64);
    push_hex16(out, value as u64);
}

/// Appends `value` in decimal.
pub(crate) fn push_decimal(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Appends a signed `value` in decimal.
pub(crate) fn push_signed_decimal(out: &mut Vec<u8>, value: i32) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// `value` as 16 lowercase hex digits, as a new string.
pub(crate) fn hex16(value: u64) -> String {
    format!("{value:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_strictly_and_leniently() {
        assert_eq!(parse_lower_hex(b"00ff"), Some(255));
        assert_eq!(parse_lower_hex(b"00FF"), None);
        assert_eq!(parse_lower_hex(&[b'f'; 33]), None);
        assert_eq!(parse_lower_hex(&[b'f'; 32]), Some(u128::MAX));
        assert_eq!(parse_hex_any_case("Ab", 16), Some(0xab));
        assert_eq!(parse_hex_any_case("", 16), None);
        assert_eq!(parse_hex_any_case("12345678901234567", 16), None);
    }

    #[test]
    fn parses_decimals_with_overflow_checks() {
        assert_eq!(parse_decimal_u64("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal_u64("18446744073709551616"), None);
        assert_eq!(parse_decimal_u64("-1"), None);
        assert_eq!(parse_decimal_u64("1.5"), None);
        assert_eq!(parse_decimal_i32("-2"), Some(-2));
        assert_eq!(parse_decimal_i32("+2"), Some(2));
        assert_eq!(parse_decimal_i32("2147483648"), None);
        assert_eq!(parse_decimal_i32("-2147483648"), Some(i32::MIN));
        assert_eq!(parse_decimal_i32("-"), None);
    }

    #[test]
    fn formats_into_buffers() {
        let mut out = Vec::new();
        push_hex16(&mut out, 0xabc);
        push_decimal(&mut out, 0);
        push_signed_decimal(&mut out, -12);
        push_decimal(&mut out, u64::MAX);
        push_hex32(&mut out, u128::MAX - 1);
        assert_eq!(
            out,
            b"0000000000000abc0-1218446744073709551615fffffffffffffffffffffffffffffffe"
        );
        assert_eq!(hex16(1), "0000000000000001");
    }
}
