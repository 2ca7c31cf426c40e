//! The `baggage` style: the W3C `baggage` header.

use std::borrow::Cow;

use datadog_subscriber::context::Baggage;

use super::carrier::Extractor;
use super::injected::InjectedHeaders;
use super::names::BAGGAGE;
use super::names::Header;
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

    // Members past the limits are never looked at; a malformed one voids the whole header.
    let mut baggage = Baggage::default();
    // Decoding never lengthens the text: one allocation holds every key and value.
    baggage.reserve(
        max_items.min(header.bytes().filter(|&byte| byte == b',').count() + 1),
        header.len().min(max_bytes),
    );
    let mut bytes = 0usize;
    for (index, member) in split(header, b',').enumerate() {
        let cost = member.len() + usize::from(index > 0);
        if index >= max_items || bytes + cost > max_bytes {
            break;
        }
        bytes += cost;
        let (key, value) = split_member(member)?;
        baggage.insert(percent_decode(key), percent_decode(value));
    }
    if baggage.is_empty() {
        return None;
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
fn percent_decode(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(|byte| byte == b'%') {
        return Cow::Borrowed(text);
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
    Cow::Owned(
        String::from_utf8(out)
            .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()),
    )
}

/// Bytes written as they are, per position: keys keep RFC 7230 token characters, values keep
/// W3C baggage-octets minus `%`, `,`, `;`, `\\` and `"`.
const fn safe_table(extra: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = (byte as u8).is_ascii_alphanumeric();
        byte += 1;
    }
    let mut index = 0;
    while index < extra.len() {
        table[extra[index] as usize] = true;
        index += 1;
    }
    table
}

static KEY_SAFE: [bool; 256] = safe_table(b"!#$&'*+-.^_`|~");
static VALUE_SAFE: [bool; 256] = safe_table(b"!#$&'()*+-./:<>?@[]^_`{|}~");

/// Appends `text` percent-encoded (uppercase hex), copying runs of safe bytes at once.
#[inline]
fn push_encoded(out: &mut Vec<u8>, text: &str, safe: &[bool; 256]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut rest = text.as_bytes();
    while let Some(index) = rest.iter().position(|&byte| !safe[usize::from(byte)]) {
        let byte = rest[index];
        out.extend_from_slice(&rest[..index]);
        out.extend_from_slice(&[
            b'%',
            HEX[usize::from(byte >> 4)],
            HEX[usize::from(byte & 0xf)],
        ]);
        rest = &rest[index + 1..];
    }
    out.extend_from_slice(rest);
}

/// Formats `baggage` when at least one item fits the limits.
pub(crate) fn inject(
    baggage: &Baggage,
    headers: &mut InjectedHeaders,
    (max_items, max_bytes): (usize, usize),
) {
    let start = headers.value_start();
    let out = headers.value_mut();
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
            out.push(b',');
        }
        push_encoded(out, key, &KEY_SAFE);
        out.push(b'=');
        push_encoded(out, value, &VALUE_SAFE);
        if out.len() - start > max_bytes {
            out.truncate(mark);
            break;
        }
        items += 1;
    }
    if items > 0 {
        headers.finish(Header::Baggage);
    } else {
        headers.discard();
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
        let mut out = Vec::new();
        push_encoded(&mut out, "50% off", &VALUE_SAFE);
        assert_eq!(out, b"50%25%20off");
        out.clear();
        push_encoded(&mut out, "\u{e9}\u{e9}a\u{e9}", &KEY_SAFE);
        assert_eq!(out, b"%C3%A9%C3%A9a%C3%A9");
    }
}
