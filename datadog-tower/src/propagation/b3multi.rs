//! The `b3multi` style: `x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled`, `x-b3-flags`.

use datadog_subscriber::context::{SamplingPriority, SpanContext, SpanId, TraceId};

use super::carrier::Extractor;
use super::injected::InjectedHeaders;
use super::names::Header;
use super::names::{B3_FLAGS, B3_SAMPLED, B3_SPAN_ID, B3_TRACE_ID};
use super::number::{parse_hex_any_case, push_hex16, push_hex32};
use super::text::trim_ows;

/// Reads a B3 context; both ids must be hex and non-zero.
pub(crate) fn extract<E: Extractor + ?Sized>(carrier: &E) -> Option<SpanContext> {
    let (trace_id, span_id) = parse_ids(carrier.get(B3_TRACE_ID)?, carrier.get(B3_SPAN_ID)?)?;
    let mut context = SpanContext::new(trace_id, span_id);
    context.sampling_priority = match carrier.get(B3_SAMPLED).map(trim_ows) {
        Some("1") => Some(SamplingPriority::AUTO_KEEP),
        Some("0") => Some(SamplingPriority::AUTO_REJECT),
        _ => None,
    };
    if carrier.get(B3_FLAGS).map(trim_ows) == Some("1") {
        context.sampling_priority = Some(SamplingPriority::USER_KEEP);
    }
    Some(context)
}

/// Parses a B3 trace id (1–32 hex digits) and span id (1–16), either case, both non-zero.
pub(crate) fn parse_ids(trace_id: &str, span_id: &str) -> Option<(TraceId, SpanId)> {
    let trace_id = parse_hex_any_case(trim_ows(trace_id), 32)?;
    let span_id = parse_hex_any_case(trim_ows(span_id), 16)? as u64;
    (trace_id != 0 && span_id != 0).then(|| (TraceId::from_u128(trace_id), SpanId::new(span_id)))
}

/// Appends the trace id as 16 hex digits when its upper half is zero, else 32.
pub(crate) fn push_trace_id(out: &mut Vec<u8>, trace_id: TraceId) {
    if trace_id.high() == 0 {
        push_hex16(out, trace_id.low());
    } else {
        push_hex32(out, trace_id.as_u128());
    }
}

/// Formats the B3 headers (`x-b3-flags: 1` and no `x-b3-sampled` for a user keep).
pub(crate) fn inject(context: &SpanContext, out: &mut InjectedHeaders) {
    push_trace_id(out.value_mut(), context.trace_id);
    out.finish(Header::B3TraceId);
    push_hex16(out.value_mut(), context.span_id.as_u64());
    out.finish(Header::B3SpanId);
    match context.sampling_priority.map(SamplingPriority::value) {
        Some(priority) if priority > 1 => out.push(Header::B3Flags, b"1"),
        Some(1) => out.push(Header::B3Sampled, b"1"),
        Some(_) => out.push(Header::B3Sampled, b"0"),
        None => {}
    }
}
