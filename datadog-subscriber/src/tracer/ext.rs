//! Reading the Datadog context of a `tracing::Span` and overriding its trace's sampling decision.

use super::layer::{SpanTrace, TraceOfSpan};
use crate::context::{SamplingPriority, SpanContext};

/// Datadog operations on a [`tracing::Span`] tracked by the [`TracerLayer`](super::TracerLayer),
/// in whatever subscriber stack the layer sits. On a disabled or untracked span they do nothing
/// (and [`datadog_context`](Self::datadog_context) returns `None`).
///
/// To continue a remote trace, open the span inside
/// [`with_remote_parent`](super::with_remote_parent).
///
/// ```
/// use datadog_subscriber::context::{SamplingPriority, TraceId};
/// use datadog_subscriber::tracer::TracerConfig;
/// use datadog_subscriber::DatadogSpanExt;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let (layer, _handle) = TracerConfig::new().enabled(false).build();
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
///     let span = tracing::info_span!("checkout");
///     span.keep_trace();
///     let context = span.datadog_context().unwrap();
///     assert!(context.trace_id.is_valid());
///     assert_eq!(context.sampling_priority, Some(SamplingPriority::USER_KEEP));
/// });
/// ```
pub trait DatadogSpanExt {
    /// The span's Datadog context for injection: trace id, this span's id, the trace's sampling
    /// priority (decided now if it was not yet), origin, `_dd.p.*` tags, tracestate vendors and
    /// baggage.
    fn datadog_context(&self) -> Option<SpanContext>;

    /// Keeps the whole trace (`USER_KEEP`, decision maker `-4`), overriding any decision.
    fn keep_trace(&self);

    /// Drops the whole trace (`USER_REJECT`), overriding any decision.
    fn reject_trace(&self);
}

/// The trace of span `id` and the span's id, through the hook the tracer layer offers.
pub(crate) fn trace_of_id(dispatch: &tracing::Dispatch, id: &tracing::Id) -> Option<SpanTrace> {
    dispatch.downcast_ref::<TraceOfSpan>()?.get(dispatch, id)
}

fn trace_of(span: &tracing::Span) -> Option<SpanTrace> {
    span.with_subscriber(|(id, dispatch)| trace_of_id(dispatch, id))
        .flatten()
}

impl DatadogSpanExt for tracing::Span {
    fn datadog_context(&self) -> Option<SpanContext> {
        trace_of(self).map(|(trace, span_id)| trace.context(span_id))
    }

    fn keep_trace(&self) {
        if let Some((trace, _)) = trace_of(self) {
            trace.set_manual_priority(SamplingPriority::USER_KEEP);
        }
    }

    fn reject_trace(&self) {
        if let Some((trace, _)) = trace_of(self) {
            trace.set_manual_priority(SamplingPriority::USER_REJECT);
        }
    }
}
