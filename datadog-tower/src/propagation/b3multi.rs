//! The `b3multi` style: `x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled`, `x-b3-flags`.

use datadog_subscriber::context::{SamplingPriority, SpanContext, SpanId, TraceId};

use super::carrier::{Extractor, Injector};
use super::names::{B3_FLAGS, B3_SAMPLED, B3_SPAN_ID, B3_TRACE_ID};
use super::number::{parse_hex_any_case, push_hex};

/// Reads a B3 context; both ids must be hex and non-zero.
pub(crate) fn extract<E: Extractor + ?Sized>(carrier: &E) -> Option<SpanContext> {
    let (trace_id, span_id) = parse_ids(carrier.get(B3_TRACE_ID)?, carrier.get(B3_SPAN_ID)?)?;
    let mut context = SpanContext::new(trace_id, span_id);
    context.sampling_priority = match carrier.get(B3_SAMPLED).map(str::trim) {
        Some("1") => Some(SamplingPriority::AUTO_KEEP),
        Some("0") => Some(SamplingPriority::AUTO_REJECT),
        _ => None,
    };
    if carrier.get(B3_FLAGS).map(str::trim) == Some("1") {
        context.sampling_priority = Some(SamplingPriority::USER_KEEP);
    }
    Some(context)
}

/// Parses a B3 trace id (1–32 hex digits) and span id (1–16), either case, both non-zero.
pub(crate) fn parse_ids(trace_id: &str, span_id: &str) -> Option<(TraceId, SpanId)> {
    let trace_id = parse_hex_any_case(trace_id.trim(), 32)?;
    let span_id = parse_hex_any_case(span_id.trim(), 16)? as u64;
    (trace_id != 0 && span_id != 0).then(|| (TraceId::from_u128(trace_id), SpanId::new(span_id)))
}

/// Appends the trace id as 16 hex digits when its upper half is zero, else 32.
pub(crate) fn push_trace_id(out: &mut String, trace_id: TraceId) {
    let digits = if trace_id.high() == 0 { 16 } else { 32 };
    push_hex(out, trace_id.as_u128(), digits);
}

/// Writes the B3 headers (`x-b3-flags: 1` and no `x-b3-sampled` for a user keep).
pub(crate) fn inject<I: Injector + ?Sized>(context: &SpanContext, carrier: &mut I) {
    let mut trace_id = String::with_capacity(32);
    push_trace_id(&mut trace_id, context.trace_id);
    carrier.set(B3_TRACE_ID, trace_id);
    let mut span_id = String::with_capacity(16);
    push_hex(&mut span_id, u128::from(context.span_id.as_u64()), 16);
    carrier.set(B3_SPAN_ID, span_id);
    match context.sampling_priority.map(SamplingPriority::value) {
        Some(priority) if priority > 1 => carrier.set(B3_FLAGS, "1".to_owned()),
        Some(1) => carrier.set(B3_SAMPLED, "1".to_owned()),
        Some(_) => carrier.set(B3_SAMPLED, "0".to_owned()),
        None => {}
    }
}
