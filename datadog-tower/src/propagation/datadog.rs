//! The `datadog` style: `x-datadog-*` headers.

use datadog_subscriber::context::{SamplingPriority, SpanContext, SpanId, TraceId};

use super::carrier::Extractor;
use super::injected::InjectedHeaders;
use super::names::Header;
use super::names::{
    DATADOG_ORIGIN, DATADOG_PARENT_ID, DATADOG_SAMPLING_PRIORITY, DATADOG_TAGS, DATADOG_TRACE_ID,
};
use super::number::{
    parse_decimal_i32, parse_decimal_u64, parse_lower_hex, push_decimal, push_hex16,
    push_signed_decimal,
};
use super::text::{split, split_once, trim_ows, trim_spaces};

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
        Some(value) => Some(SamplingPriority::new(parse_decimal_i32(trim_ows(value))?)),
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

/// Bytes allowed in a tagset key (printable ASCII but space, `,` and `=`) and value (printable
/// ASCII and space but `,`).
static TAG_KEY_BYTES: [bool; 256] = tag_bytes(0x21, b'=');
static TAG_VALUE_BYTES: [bool; 256] = tag_bytes(0x20, b',');

const fn tag_bytes(first: u8, excluded: u8) -> [bool; 256] {
    let mut table = [false; 256];
    let mut byte = first;
    while byte <= 0x7e {
        table[byte as usize] = byte != b',' && byte != excluded;
        byte += 1;
    }
    table
}

fn tag_key_ok(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| TAG_KEY_BYTES[usize::from(b)])
}

fn tag_value_ok(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| TAG_VALUE_BYTES[usize::from(b)])
}

/// Splits one `key=value` member; `None` when it breaks the tagset grammar.
fn split_tag(member: &str) -> Option<(&str, &str)> {
    let (key, value) = split_once(member, b'=')?;
    let value = trim_spaces(value);
    (tag_key_ok(key) && tag_value_ok(value)).then_some((key, value))
}

/// The members of a tagset; one trailing comma is tolerated (as dd-trace-py does).
fn members(tags: &str) -> impl Iterator<Item = &str> {
    split(tags.strip_suffix(',').unwrap_or(tags), b',')
}

fn decode_tags(tags: &str, max_length: usize, context: &mut SpanContext) {
    if max_length == 0 || tags.is_empty() {
        return;
    }
    if tags.len() > max_length {
        context.propagation_error = Some("extract_max_size".to_owned());
        return;
    }
    // Validate the whole header before keeping anything: one bad member voids all tags.
    if !members(tags).all(|member| split_tag(member).is_some()) {
        context.propagation_error = Some("decoding_error".to_owned());
        return;
    }
    for (key, value) in members(tags).filter_map(split_tag) {
        if !key.starts_with(PROPAGATED_PREFIX) || key == LEGACY_UPSTREAM_SERVICES {
            continue;
        }
        if key == TID_TAG {
            match valid_tid(value) {
                Some(high) => {
                    context.trace_id = TraceId::from_parts(high, context.trace_id.low());
                }
                None => context.propagation_error = Some(format!("malformed_tid {value}")),
            }
            continue;
        }
        if key == DM_TAG && !valid_decision_maker(value) {
            context.propagation_error = Some("decoding_error".to_owned());
            continue;
        }
        context.propagation_tags.insert(key, value);
    }
}

/// The upper trace-id half from a `_dd.p.tid` value: 16 lowercase hex digits, not all zero.
pub(crate) fn valid_tid(value: &str) -> Option<u64> {
    if value.len() != 16 {
        return None;
    }
    parse_lower_hex(value.as_bytes())
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

/// Formats the `x-datadog-*` headers; returns why `x-datadog-tags` was not sent, if it was not.
pub(crate) fn inject(
    context: &SpanContext,
    out: &mut InjectedHeaders,
    tags_max_length: usize,
) -> Option<&'static str> {
    push_decimal(out.value_mut(), context.trace_id.low());
    out.finish(Header::DatadogTraceId);
    push_decimal(out.value_mut(), context.span_id.as_u64());
    out.finish(Header::DatadogParentId);
    if let Some(priority) = context.sampling_priority {
        push_signed_decimal(out.value_mut(), priority.value());
        out.finish(Header::DatadogSamplingPriority);
    }
    if let Some(origin) = &context.origin {
        out.push(Header::DatadogOrigin, origin.as_bytes());
    }
    match encode_tags(context, tags_max_length, out.value_mut()) {
        Ok(true) => {
            out.finish(Header::DatadogTags);
            None
        }
        Ok(false) => None,
        Err(error) => {
            out.discard();
            Some(error)
        }
    }
}

/// Appends the `x-datadog-tags` value to `out`; `Ok(false)` (nothing appended) when there are
/// no tags; on `Err` nothing is appended either.
fn encode_tags(
    context: &SpanContext,
    max_length: usize,
    out: &mut Vec<u8>,
) -> Result<bool, &'static str> {
    let high = context.trace_id.high();
    let mut tags = context
        .propagation_tags
        .iter()
        .filter(|(key, _)| *key != TID_TAG)
        .peekable();
    if high == 0 && tags.peek().is_none() {
        return Ok(false);
    }
    if max_length == 0 {
        return Err("disabled");
    }
    // Written while checked; a bad tag voids the header, whatever its length.
    let start = out.len();
    for (key, value) in tags {
        if !tag_key_ok(key) || !tag_value_ok(value) {
            out.truncate(start);
            return Err("encoding_error");
        }
        if out.len() > start {
            out.push(b',');
        }
        out.extend_from_slice(key.as_bytes());
        out.push(b'=');
        out.extend_from_slice(value.as_bytes());
    }
    if high != 0 {
        if out.len() > start {
            out.push(b',');
        }
        out.extend_from_slice(TID_TAG.as_bytes());
        out.push(b'=');
        push_hex16(out, high);
    }
    if out.len() - start > max_length {
        out.truncate(start);
        return Err("inject_max_size");
    }
    Ok(true)
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
        let mut out = Vec::new();
        assert_eq!(encode_tags(&context, 512, &mut out), Ok(true));
        assert_eq!(out, b"_dd.p.dm=-0,_dd.p.tid=00000000000000ab");
        out.clear();
        assert_eq!(encode_tags(&context, 10, &mut out), Err("inject_max_size"));
        assert_eq!(encode_tags(&context, 0, &mut out), Err("disabled"));
        assert!(out.is_empty());
    }
}
