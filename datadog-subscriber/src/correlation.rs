//! The hand-off between the tracer layer, the log layer and the tower layers.
//!
//! Two pieces of data cross those boundaries:
//!
//! - [`CorrelationIds`]: what a log line needs of the span it was written in. The log layer reads
//!   them from the innermost span in scope (`span_ids`): from the tracer layer's own record of
//!   the span (computed when the line is written, so `sampled` is always current), or from a
//!   `CorrelationIds` that another tracer put in the span's extensions.
//! - the remote parent ([`crate::tracer::with_remote_parent`]): when a filter (`RUST_LOG`)
//!   disables a span that carries a trace (the tower server span, a queue consumer span), there is
//!   no span to hold the trace; the log layer stamps events outside any tracked span with the
//!   remote context the work runs in.
//!
//! ```
//! use datadog_subscriber::context::{SamplingPriority, SpanContext, SpanId, TraceId};
//! use datadog_subscriber::correlation::CorrelationIds;
//!
//! let mut remote = SpanContext::new(TraceId::from_u128(5), SpanId::new(6));
//! remote.sampling_priority = Some(SamplingPriority::AUTO_KEEP);
//! let ids = CorrelationIds::of(&remote);
//! assert_eq!((ids.trace_id, ids.span_id, ids.sampled), (remote.trace_id, remote.span_id, true));
//! ```

use tracing_subscriber::registry::Extensions;

use crate::context::{CloudTrace, SpanContext, SpanId, TraceId};
use crate::tracer::SpanRecord;

/// The ids a log line is stamped with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CorrelationIds {
    /// The span's trace.
    pub trace_id: TraceId,
    /// The span itself.
    pub span_id: SpanId,
    /// Whether the trace is sampled (kept), as far as known when the line is written.
    pub sampled: bool,
    /// The platform's trace of the request (Google's frontend), when the request carried one.
    pub cloud_trace: Option<CloudTrace>,
}

impl CorrelationIds {
    /// The ids of a span another tracer tracks, to put in the span's extensions so that the log
    /// layer stamps its lines with them.
    ///
    /// ```
    /// use datadog_subscriber::context::{SpanId, TraceId};
    /// use datadog_subscriber::correlation::CorrelationIds;
    ///
    /// let ids = CorrelationIds::new(TraceId::from_u128(1), SpanId::new(2), true);
    /// assert!(ids.sampled && ids.cloud_trace.is_none());
    /// ```
    pub fn new(trace_id: TraceId, span_id: SpanId, sampled: bool) -> Self {
        CorrelationIds {
            trace_id,
            span_id,
            sampled,
            cloud_trace: None,
        }
    }

    /// The ids of a context (a remote parent, or one the tracer hands out).
    pub fn of(context: &SpanContext) -> Self {
        CorrelationIds {
            trace_id: context.trace_id,
            span_id: context.span_id,
            sampled: context.is_sampled().unwrap_or(false),
            cloud_trace: context.cloud_trace,
        }
    }
}

/// The ids of a span from its extensions: the tracer layer's record of it, else a
/// [`CorrelationIds`] placed there by another tracer.
pub(crate) fn span_ids(extensions: &Extensions<'_>) -> Option<CorrelationIds> {
    match extensions.get::<SpanRecord>() {
        Some(record) => Some(CorrelationIds {
            trace_id: record.trace.trace_id,
            span_id: record.fields.span_id,
            sampled: record.trace.sampled(),
            cloud_trace: record.trace.cloud_trace,
        }),
        None => extensions.get::<CorrelationIds>().copied(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_ids_follow_the_sampling_decision() {
        let mut context = SpanContext::new(TraceId::from_u128(9), SpanId::new(10));
        assert!(!CorrelationIds::of(&context).sampled);
        context.sampling_priority = Some(crate::context::SamplingPriority::AUTO_KEEP);
        assert!(CorrelationIds::of(&context).sampled);
    }
}
