//! The `b3` style: the B3 single header `b3: {TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]]`.

use datadog_subscriber::context::{SamplingPriority, SpanContext};

use super::b3multi::{parse_ids, push_trace_id};
use super::carrier::Extractor;
use super::injected::InjectedHeaders;
use super::names::B3;
use super::names::Header;
use super::number::push_hex16;
use super::text::{split, trim_ows};

/// Reads the single header; a sampling-only value (`b3: 0`) carries no ids and yields nothing.
pub(crate) fn extract<E: Extractor + ?Sized>(carrier: &E) -> Option<SpanContext> {
    let mut fields = split(trim_ows(carrier.get(B3)?), b'-');
    let (trace_id, span_id) = parse_ids(fields.next()?, fields.next()?)?;
    let mut context = SpanContext::new(trace_id, span_id);
    context.sampling_priority = match fields.next() {
        Some("1") => Some(SamplingPriority::AUTO_KEEP),
        Some("0") => Some(SamplingPriority::AUTO_REJECT),
        Some("d") => Some(SamplingPriority::USER_KEEP),
        _ => None,
    };
    Some(context)
}

/// Formats `b3`.
pub(crate) fn inject(context: &SpanContext, out: &mut InjectedHeaders) {
    let value = out.value_mut();
    push_trace_id(value, context.trace_id);
    value.push(b'-');
    push_hex16(value, context.span_id.as_u64());
    match context.sampling_priority.map(SamplingPriority::value) {
        Some(priority) if priority > 1 => value.extend_from_slice(b"-d"),
        Some(1) => value.extend_from_slice(b"-1"),
        Some(_) => value.extend_from_slice(b"-0"),
        None => {}
    }
    out.finish(Header::B3);
}
