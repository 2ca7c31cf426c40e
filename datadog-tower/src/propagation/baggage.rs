//! The `baggage` style: the W3C `baggage` header.

use std::borrow::Cow;

use datadog_subscriber::context::Baggage;

use super::carrier::{Extractor, Injector};
use super::names::BAGGAGE;
use super::text::{split, split_once, trim_ows, trim_spaces};

/// Reads every `baggage` field line (joined with `,`); `None` when absent, empty or malformed.
///
/// Members past `max_items`, or past `max_bytes` of header (commas counted), are dropped before
/// anything is allocated for them.
pub(crate) fn extract<E: Extractor + ?Sized>(
    carrier: &E,
    max_items: usize,
    max_bytes: usize,
) -> Option<Baggage> {
    let mut joined: Option<Cow<'_, str>> = None;
    let mut valid = true;
    carrier.get_all(BAGGAGE, &mut |value| match value {
        None => valid = false,
        Some(line) if trim_ows(line).is_empty() => {}
        Some(line) => match &mut joined {
            None => joined = Some(Cow::Borrowed(line)),
            Some(all) => {
                let all = all.to_mut();
                all.push(',');
                all.push_str(line);
            }
        },
    });
    let header = joined.filter(|_| valid)?;
    let header = trim_ows(&header);

    // First pass: find the members within the limits and check they are well formed.
    let mut accepted = 0usize;
    let mut bytes = 0usize;
    for (index, member) in split(header, b',').enumerate() {
        let cost = member.len() + usize::from(index > 0);
        if index >= max_items || bytes + cost > max_bytes {
            break;
        }
        split_member(member)?;
        bytes += cost;
        accepted += 1;
    }
    if accepted == 0 {
        return None;
    }
    let mut baggage = Baggage::default();
    for member in split(header, b',').take(accepted) {
        let (key, value) = split_member(member)?;
        baggage.insert(percent_decode(key), percent_decode(value));
    }
    Some(baggage)
}

fn split_member(member: &str) -> Option<(&str, &str)> {
    let (key, value) = split_once(member, b'=')?;
    let (key, value) = (trim_ows(key), trim_ows(value));
    (!key.is_empty() && !value.is_empty()).then_some((key, value))
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%HH` escapes; other `%` stay literal; invalid UTF-8 becomes U+FFFD; `+` stays `+`.
fn percent_decode(text: &str) -> String {
    if !text.bytes().any(|byte| byte == b'%') {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && let (Some(high), Some(low)) = (
                bytes.get(index + 1).copied().and_then(hex_value),
                bytes.get(index + 2).copied().and_then(hex_value),
            )
        {
            out.push(high << 4 | low);
            index += 3;
            continue;
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8(out)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}

fn key_safe(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$&'*+-.^_`|~".contains(&byte)
}

fn value_safe(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$&'()*+-./:<>?@[]^_`{|}~".contains(&byte)
}

fn push_encoded(out: &mut String, text: &str, safe: fn(u8) -> bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in text.as_bytes() {
        if safe(byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
}

/// Writes `baggage` when at least one item fits the limits, formatted in `out`.
pub(crate) fn inject<I: Injector + ?Sized>(
    baggage: &Baggage,
    carrier: &mut I,
    (max_items, max_bytes): (usize, usize),
    out: &mut String,
) {
    out.clear();
    let mut items = 0usize;
    for (key, value) in baggage.iter() {
        if items == max_items {
            break;
        }
        let (key, value) = (trim_spaces(key), trim_spaces(value));
        if key.is_empty() || value.is_empty() {
            continue;
        }
        let mark = out.len();
        if items > 0 {
            out.push(',');
        }
        push_encoded(out, key, key_safe);
        out.push('=');
        push_encoded(out, value, value_safe);
        if out.len() > max_bytes {
            out.truncate(mark);
            break;
        }
        items += 1;
    }
    if items > 0 {
        carrier.set_str(BAGGAGE, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_keeps_invalid_escapes() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz+%41"), "%zz+A");
        assert_eq!(percent_decode("%C3"), "\u{fffd}");
    }

    #[test]
    fn encoding_escapes_percent_and_space() {
        let mut out = String::new();
        push_encoded(&mut out, "50% off", value_safe);
        assert_eq!(out, "50%25%20off");
    }
}
