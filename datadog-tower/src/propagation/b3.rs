//! The `b3` style: the B3 single header `b3: {TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]]`.

use datadog_subscriber::context::{SamplingPriority, SpanContext};

use super::b3multi::{parse_ids, write_trace_id};
use super::carrier::{Extractor, HeaderWriter};
use super::names::{B3, Header};
use super::number::push_hex;
use super::text::trim_ows;

/// Reads the single header; a sampling-only value (`b3: 0`) carries no ids and yields nothing.
pub(crate) fn extract<E: Extractor + ?Sized>(carrier: &E) -> Option<SpanContext> {
    let mut fields = trim_ows(carrier.get(B3)?).split('-');
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

/// Sets `b3`.
pub(crate) fn inject(context: &SpanContext, out: &mut HeaderWriter) {
    let value = out.next_value();
    write_trace_id(value, context.trace_id);
    value.push('-');
    push_hex(value, context.span_id.as_u64().into(), 16);
    match context.sampling_priority.map(SamplingPriority::value) {
        Some(priority) if priority > 1 => value.push_str("-d"),
        Some(1) => value.push_str("-1"),
        Some(_) => value.push_str("-0"),
        None => {}
    }
    out.send(Header::B3);
}
