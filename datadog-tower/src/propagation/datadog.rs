//! The `datadog` style: `x-datadog-*` headers.

use datadog_subscriber::context::{SamplingPriority, SpanContext, SpanId, TraceId};

use super::carrier::{Extractor, HeaderWriter};
use super::names::{
    DATADOG_ORIGIN, DATADOG_PARENT_ID, DATADOG_SAMPLING_PRIORITY, DATADOG_TAGS, DATADOG_TRACE_ID,
    Header,
};
use super::number::{parse_decimal_u64, parse_lower_hex, push_hex};
use super::text::{split_at_byte, split_once_at_byte, trim_ows, trim_spaces};

/// The tag carrying the upper 64 bits of the trace id.
pub(crate) const TID_TAG: &str = "_dd.p.tid";
/// The decision-maker tag.
pub(crate) const DM_TAG: &str = "_dd.p.dm";
const PROPAGATED_PREFIX: &str = "_dd.p.";
const LEGACY_UPSTREAM_SERVICES: &str = "_dd.p.upstream_services";

/// The first field line of `name`: `Ok(None)` when absent, `Err` when present but not text.
fn first_value<'a, E: Extractor + ?Sized>(
    carrier: &'a E,
    name: &str,
) -> Result<Option<&'a str>, ()> {
    let mut first: Option<Option<&'a str>> = None;
    carrier.get_all(name, &mut |value| {
        first.get_or_insert(value);
    });
    match first {
        None => Ok(None),
        Some(Some(value)) => Ok(Some(value)),
        Some(None) => Err(()),
    }
}

/// Reads a Datadog context; `None` when the trace id is missing or any id/priority is invalid.
pub(crate) fn extract<E: Extractor + ?Sized>(
    carrier: &E,
    tags_max_length: usize,
) -> Option<SpanContext> {
    let trace_id = parse_decimal_u64(trim_ows(first_value(carrier, DATADOG_TRACE_ID).ok()??))?;
    if trace_id == 0 {
        return None;
    }
    let parent_id = match first_value(carrier, DATADOG_PARENT_ID).ok()? {
        Some(value) => parse_decimal_u64(trim_ows(value))?,
        None => 0,
    };
    let sampling_priority = match first_value(carrier, DATADOG_SAMPLING_PRIORITY).ok()? {
        Some(value) => Some(SamplingPriority::new(trim_ows(value).parse().ok()?)),
        None => None,
    };
    let mut context = SpanContext::new(TraceId::from_parts(0, trace_id), SpanId::new(parent_id));
    context.sampling_priority = sampling_priority;
    context.origin = carrier
        .get(DATADOG_ORIGIN)
        .filter(|origin| !origin.is_empty() && origin.bytes().all(|b| (0x20..=0x7e).contains(&b)))
        .map(str::to_owned);
    match first_value(carrier, DATADOG_TAGS) {
        Ok(Some(tags)) => decode_tags(tags, tags_max_length, &mut context),
        Ok(None) => {}
        Err(()) => context.propagation_error = Some("decoding_error".to_owned()),
    }
    Some(context)
}

/// A tagset key: printable ASCII but space, `,` and `=`.
fn tag_key_ok(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| matches!(b, 0x21..=0x7e) && b != b',' && b != b'=')
}

/// A tagset value: printable ASCII and space but `,`.
fn tag_value_ok(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| matches!(b, 0x20..=0x7e) && b != b',')
}

/// Splits one `key=value` member; `None` when it breaks the tagset grammar.
fn split_tag(member: &str) -> Option<(&str, &str)> {
    let (key, value) = split_once_at_byte(member, b'=')?;
    let value = trim_spaces(value);
    (tag_key_ok(key) && tag_value_ok(value)).then_some((key, value))
}

/// Decodes `x-datadog-tags` into `context` (fresh: no tags, no upper trace-id half) in one pass
/// over its members; a member that breaks the grammar voids every tag, even those kept before
/// it, as Datadog's SDKs do.
fn decode_tags(tags: &str, max_length: usize, context: &mut SpanContext) {
    if max_length == 0 || tags.is_empty() {
        return;
    }
    if tags.len() > max_length {
        context.propagation_error = Some("extract_max_size".to_owned());
        return;
    }
    let mut high = None;
    let mut error = None;
    // One trailing comma is tolerated (as dd-trace-py does).
    let members = tags.strip_suffix(',').unwrap_or(tags);
    for member in split_at_byte(members, b',') {
        let Some((key, value)) = split_tag(member) else {
            context.propagation_tags.clear();
            context.propagation_error = Some("decoding_error".to_owned());
            return;
        };
        if !key.starts_with(PROPAGATED_PREFIX) || key == LEGACY_UPSTREAM_SERVICES {
            continue;
        }
        if key == TID_TAG {
            match valid_tid(value) {
                Some(tid) => high = Some(tid),
                None => error = Some(format!("malformed_tid {value}")),
            }
        } else if key == DM_TAG && !valid_decision_maker(value) {
            error = Some("decoding_error".to_owned());
        } else {
            context.propagation_tags.insert(key, value);
        }
    }
    if let Some(high) = high {
        context.trace_id = TraceId::from_parts(high, context.trace_id.low());
    }
    context.propagation_error = error;
}

/// The upper trace-id half from a `_dd.p.tid` value: 16 lowercase hex digits, not all zero.
pub(crate) fn valid_tid(value: &str) -> Option<u64> {
    if value.len() != 16 {
        return None;
    }
    parse_lower_hex(value)
        .map(|high| high as u64)
        .filter(|&high| high != 0)
}

/// `-<n>` with `n` in `0..=255`.
pub(crate) fn valid_decision_maker(value: &str) -> bool {
    value
        .strip_prefix('-')
        .and_then(parse_decimal_u64)
        .is_some_and(|mechanism| mechanism <= 255)
}

/// Sets the `x-datadog-*` headers; `x-datadog-tags` is left out when a tag cannot be encoded,
/// when it is longer than `tags_max_length`, or when that is `0`.
pub(crate) fn inject(context: &SpanContext, out: &mut HeaderWriter, tags_max_length: usize) {
    out.set(
        Header::DatadogTraceId,
        itoa::Buffer::new().format(context.trace_id.low()),
    );
    out.set(
        Header::DatadogParentId,
        itoa::Buffer::new().format(context.span_id.as_u64()),
    );
    if let Some(priority) = context.sampling_priority {
        out.set(
            Header::DatadogSamplingPriority,
            itoa::Buffer::new().format(priority.value()),
        );
    }
    if let Some(origin) = &context.origin {
        out.set(Header::DatadogOrigin, origin);
    }
    if encode_tags(context, tags_max_length, out.next_value()) {
        out.send(Header::DatadogTags);
    }
}

/// Writes the `x-datadog-tags` value to the empty `out`; `false` when there is nothing to send
/// (no tags, a tag that breaks the grammar, over `max_length`, or propagation disabled).
fn encode_tags(context: &SpanContext, max_length: usize, out: &mut String) -> bool {
    let high = context.trace_id.high();
    let tags = context
        .propagation_tags
        .iter()
        .filter(|(key, _)| *key != TID_TAG);
    for (key, value) in tags {
        // A bad tag voids the header, whatever its length.
        if !tag_key_ok(key) || !tag_value_ok(value) {
            return false;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
    if high != 0 {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(TID_TAG);
        out.push('=');
        push_hex(out, high.into(), 16);
    }
    !out.is_empty() && out.len() <= max_length
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn headers(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn tid_is_folded_into_the_trace_id() {
        let carrier = headers(&[
            ("x-datadog-trace-id", "1"),
            ("x-datadog-parent-id", "2"),
            ("x-datadog-tags", "_dd.p.dm=-4,_dd.p.tid=640cfd8d00000000,"),
        ]);
        let context = extract(&carrier, 512).unwrap();
        assert_eq!(context.trace_id.high(), 0x640c_fd8d_0000_0000);
        assert_eq!(context.propagation_tags.get(TID_TAG), None);
        assert_eq!(context.propagation_tags.get(DM_TAG), Some("-4"));
        assert_eq!(context.propagation_error, None);
    }

    #[test]
    fn a_non_text_parent_id_voids_the_context() {
        use http::{HeaderMap, HeaderValue};
        let mut carrier = HeaderMap::new();
        carrier.insert("x-datadog-trace-id", HeaderValue::from_static("1"));
        carrier.insert(
            "x-datadog-parent-id",
            HeaderValue::from_bytes(b"\xff").unwrap(),
        );
        assert!(extract(&carrier, 512).is_none());
        carrier.remove("x-datadog-parent-id");
        assert_eq!(extract(&carrier, 512).unwrap().span_id, SpanId::INVALID);
    }

    fn decoded(tags: &[u8]) -> SpanContext {
        use http::{HeaderMap, HeaderValue};
        let mut carrier = HeaderMap::new();
        carrier.insert("x-datadog-trace-id", HeaderValue::from_static("1"));
        carrier.insert("x-datadog-tags", HeaderValue::from_bytes(tags).unwrap());
        extract(&carrier, 512).unwrap()
    }

    #[test]
    fn one_bad_member_voids_every_tag() {
        for tags in [
            "_dd.p.a=1,_dd.p.tid=640cfd8d00000000,_dd.p.b",
            "_dd.p.a=1,,_dd.p.b=2",
            "_dd.p.a=1,_dd.p.b=2,,",
            "_dd.p.a=1, _dd.p.b=2",
            "_dd.p.a=1,=2",
            "_dd.p.a=1,_dd.p.b=",
            "_dd.p.a=1,_dd.p.b=   ",
            ",_dd.p.a=1",
        ] {
            let context = decoded(tags.as_bytes());
            assert!(context.propagation_tags.is_empty(), "{tags}");
            assert_eq!(context.trace_id.high(), 0, "{tags}");
            assert_eq!(
                context.propagation_error.as_deref(),
                Some("decoding_error"),
                "{tags}"
            );
        }
        // Not text: the header is not read at all.
        let context = decoded(b"_dd.p.a=1,_dd.p.b=\xe9");
        assert!(context.propagation_tags.is_empty());
        assert_eq!(context.propagation_error.as_deref(), Some("decoding_error"));
    }

    #[test]
    fn values_are_trimmed_of_spaces_and_may_hold_equals_signs() {
        let context = decoded(b"_dd.p.a=  x y ,_dd.p.b==c=,other=z,_dd.p.upstream_services=q,");
        let tags: Vec<_> = context.propagation_tags.iter().collect();
        assert_eq!(tags, [("_dd.p.a", "x y"), ("_dd.p.b", "=c=")]);
        assert_eq!(context.propagation_error, None);
    }

    #[test]
    fn a_bad_tid_or_decision_maker_is_an_error_but_keeps_the_others() {
        let context = decoded(b"_dd.p.tid=XYZ,_dd.p.dm=-4,_dd.p.a=1");
        assert_eq!(context.trace_id.high(), 0);
        assert_eq!(
            context.propagation_error.as_deref(),
            Some("malformed_tid XYZ")
        );
        assert_eq!(context.propagation_tags.get(DM_TAG), Some("-4"));
        let context = decoded(b"_dd.p.tid=00000000000000ab,_dd.p.dm=4,_dd.p.a=1");
        assert_eq!(context.trace_id.high(), 0xab);
        assert_eq!(context.propagation_error.as_deref(), Some("decoding_error"));
        assert_eq!(context.propagation_tags.get(DM_TAG), None);
        assert_eq!(context.propagation_tags.get("_dd.p.a"), Some("1"));
    }

    #[test]
    fn tags_over_the_limit_are_dropped() {
        let carrier = headers(&[("x-datadog-trace-id", "1"), ("x-datadog-tags", "_dd.p.a=1")]);
        let context = extract(&carrier, 8).unwrap();
        assert!(context.propagation_tags.is_empty());
        assert_eq!(
            context.propagation_error.as_deref(),
            Some("extract_max_size")
        );
        assert!(extract(&carrier, 9).unwrap().propagation_error.is_none());
    }

    #[test]
    fn tags_are_encoded_with_the_tid_last() {
        let mut context = SpanContext::new(TraceId::from_parts(0xab, 1), SpanId::new(2));
        context.propagation_tags.insert(TID_TAG, "stale");
        context.propagation_tags.insert(DM_TAG, "-0");
        let mut out = String::new();
        assert!(encode_tags(&context, 512, &mut out));
        assert_eq!(out, "_dd.p.dm=-0,_dd.p.tid=00000000000000ab");
        for too_short in [0, 10] {
            out.clear();
            assert!(!encode_tags(&context, too_short, &mut out));
        }
        context.propagation_tags.insert("_dd.p.bad", "a,b");
        out.clear();
        assert!(!encode_tags(&context, 512, &mut out));
    }
}
