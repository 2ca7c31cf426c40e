//! The `baggage` style: the W3C `baggage` header.

use std::borrow::Cow;

use datadog_subscriber::context::Baggage;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use super::carrier::{Extractor, HeaderWriter};
use super::names::{BAGGAGE, Header};
use super::text::{split_at_byte, split_once_at_byte, trim_ows, trim_spaces};

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
    // Most headers have no escape at all: their items are the text itself (already valid
    // UTF-8, which the decoder would check again).
    let escaped = header.as_bytes().contains(&b'%');
    let mut bytes = 0usize;
    for (index, member) in split_at_byte(header, b',').enumerate() {
        let cost = member.len() + usize::from(index > 0);
        if index >= max_items || bytes + cost > max_bytes {
            break;
        }
        bytes += cost;
        let (key, value) = split_member(member)?;
        if escaped {
            baggage.insert(decode(key), decode(value));
        } else {
            baggage.insert(key, value);
        }
    }
    if baggage.is_empty() {
        return None;
    }
    Some(baggage)
}

/// A percent-decoded key or value: invalid escapes stay as they are, invalid UTF-8 becomes
/// U+FFFD, `+` stays `+`.
fn decode(text: &str) -> Cow<'_, str> {
    percent_decode_str(text).decode_utf8_lossy()
}

fn split_member(member: &str) -> Option<(&str, &str)> {
    let (key, value) = split_once_at_byte(member, b'=')?;
    let (key, value) = (trim_ows(key), trim_ows(value));
    (!key.is_empty() && !value.is_empty()).then_some((key, value))
}

/// Bytes escaped in keys: all but RFC 7230 token characters.
const KEY_ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'*')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// Bytes escaped in values: all but W3C baggage-octets, and `%`, `,`, `;`, `\\` and `"`.
const VALUE_ESCAPED: &AsciiSet = &KEY_ESCAPED
    .remove(b'(')
    .remove(b')')
    .remove(b'/')
    .remove(b':')
    .remove(b'<')
    .remove(b'>')
    .remove(b'?')
    .remove(b'@')
    .remove(b'[')
    .remove(b']')
    .remove(b'{')
    .remove(b'}');

/// Sets `baggage` when at least one item fits the limits.
pub(crate) fn inject(
    baggage: &Baggage,
    out: &mut HeaderWriter,
    (max_items, max_bytes): (usize, usize),
) {
    let value = out.next_value();
    let mut items = 0usize;
    for (key, item) in baggage.iter() {
        if items == max_items {
            break;
        }
        let (key, item) = (trim_spaces(key), trim_spaces(item));
        if key.is_empty() || item.is_empty() {
            continue;
        }
        let mark = value.len();
        if items > 0 {
            value.push(',');
        }
        value.extend(utf8_percent_encode(key, KEY_ESCAPED));
        value.push('=');
        value.extend(utf8_percent_encode(item, VALUE_ESCAPED));
        if value.len() > max_bytes {
            value.truncate(mark);
            break;
        }
        items += 1;
    }
    if items > 0 {
        out.send(Header::Baggage);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_keeps_invalid_escapes() {
        assert_eq!(decode("a%2"), "a%2");
        assert_eq!(decode("%zz+%41"), "%zz+A");
        assert_eq!(decode("%C3"), "\u{fffd}");
    }

    #[test]
    fn encoding_escapes_percent_space_and_non_ascii() {
        assert_eq!(
            utf8_percent_encode("50% off,a;b\\\"", VALUE_ESCAPED).to_string(),
            "50%25%20off%2Ca%3Bb%5C%22"
        );
        assert_eq!(
            utf8_percent_encode("\u{e9}\u{e9}a\u{e9}:", KEY_ESCAPED).to_string(),
            "%C3%A9%C3%A9a%C3%A9%3A"
        );
        assert_eq!(
            utf8_percent_encode("a:b/c?d", VALUE_ESCAPED).to_string(),
            "a:b/c?d"
        );
    }
}
