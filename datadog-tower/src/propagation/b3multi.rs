//! The `b3multi` style: `x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled`, `x-b3-flags`.

use datadog_subscriber::context::{SamplingPriority, SpanContext, SpanId, TraceId};

use super::carrier::{Extractor, HeaderWriter};
use super::names::{B3_FLAGS, B3_SAMPLED, B3_SPAN_ID, B3_TRACE_ID, Header};
use super::number::{parse_hex_any_case, push_hex};
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

/// Writes the trace id as 16 hex digits when its upper half is zero, else 32.
pub(crate) fn write_trace_id(out: &mut String, trace_id: TraceId) {
    let digits = if trace_id.high() == 0 { 16 } else { 32 };
    push_hex(out, trace_id.as_u128(), digits);
}

/// Sets the B3 headers (`x-b3-flags: 1` and no `x-b3-sampled` for a user keep).
pub(crate) fn inject(context: &SpanContext, out: &mut HeaderWriter) {
    write_trace_id(out.next_value(), context.trace_id);
    out.send(Header::B3TraceId);
    push_hex(out.next_value(), context.span_id.as_u64().into(), 16);
    out.send(Header::B3SpanId);
    match context.sampling_priority.map(SamplingPriority::value) {
        Some(priority) if priority > 1 => out.set(Header::B3Flags, "1"),
        Some(1) => out.set(Header::B3Sampled, "1"),
        Some(_) => out.set(Header::B3Sampled, "0"),
        None => {}
    }
}
