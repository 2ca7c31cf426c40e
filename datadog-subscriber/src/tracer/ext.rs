//! Reading and setting the Datadog context of a `tracing::Span`.

use std::sync::Arc;

use tracing_subscriber::Registry;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use super::layer::decide_in_scope;
use super::span_data::SpanRecord;
use super::trace::Trace;
use super::warn::WarnOnce;
use crate::context::{SamplingPriority, SpanContext, SpanId};

/// Datadog operations on a [`tracing::Span`] tracked by the [`TracerLayer`](super::TracerLayer)
/// (installed over a `tracing_subscriber::Registry`). On a disabled or untracked span they do
/// nothing (and [`datadog_context`](Self::datadog_context) returns `None`).
///
/// ```
/// use datadog_subscriber::context::{SamplingPriority, SpanContext, SpanId, TraceId};
/// use datadog_subscriber::tracer::TracerConfig;
/// use datadog_subscriber::DatadogSpanExt;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let (layer, _handle) = TracerConfig::new().enabled(false).build();
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
///     let mut remote = SpanContext::new(TraceId::from_u128(7), SpanId::new(8));
///     remote.sampling_priority = Some(SamplingPriority::USER_KEEP);
///     let span = tracing::info_span!("http.request");
///     span.set_remote_parent(remote);
///     let context = span.datadog_context().unwrap();
///     assert_eq!(context.trace_id, TraceId::from_u128(7));
///     assert_ne!(context.span_id, SpanId::new(8));
///     assert_eq!(context.sampling_priority, Some(SamplingPriority::USER_KEEP));
/// });
/// ```
pub trait DatadogSpanExt {
    /// Makes `context` (an extracted remote context) the parent of this span. Call it right
    /// after creating the span, before entering it or creating children. A context without a
    /// trace id starts a new trace that keeps its span links and baggage; one with a trace id but
    /// a zero span id (Datadog's "no parent" case) continues the trace as a root. The context's
    /// `_dd.parent_id`, `_dd.propagation_error` and span links go on this span.
    fn set_remote_parent(&self, context: SpanContext);

    /// The span's Datadog context for injection: trace id, this span's id, the trace's sampling
    /// priority (decided now if it was not yet), origin, `_dd.p.*` tags, tracestate vendors and
    /// baggage.
    fn datadog_context(&self) -> Option<SpanContext>;

    /// Keeps the whole trace (`USER_KEEP`, decision maker `-4`), overriding any decision.
    fn keep_trace(&self);

    /// Drops the whole trace (`USER_REJECT`), overriding any decision.
    fn reject_trace(&self);
}

static NOT_A_ROOT: WarnOnce = WarnOnce::new();

fn with_span<R>(
    span: &tracing::Span,
    work: impl FnOnce(&SpanRef<'_, Registry>) -> Option<R>,
) -> Option<R> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let span = registry.span(id)?;
        work(&span)
    })
    .flatten()
}

fn trace_of(span: &SpanRef<'_, Registry>) -> Option<(Arc<Trace>, SpanId)> {
    let extensions = span.extensions();
    let record = extensions.get::<SpanRecord>()?;
    Some((record.trace.clone(), record.fields.span_id))
}

fn set_manual(span: &tracing::Span, priority: SamplingPriority) {
    with_span(span, |span| {
        let (trace, _) = trace_of(span)?;
        trace.set_manual_priority(priority);
        Some(())
    });
}

impl DatadogSpanExt for tracing::Span {
    fn set_remote_parent(&self, context: SpanContext) {
        with_span(self, |span| {
            let mut extensions = span.extensions_mut();
            let record = extensions.get_mut::<SpanRecord>()?;
            if !record.fields.is_local_root {
                NOT_A_ROOT.warn(|| {
                    format!(
                        "set_remote_parent was called on span {:?}, which has a local parent; the call is ignored",
                        record.fields.name
                    )
                });
                return None;
            }
            let trace = Trace::continue_from(&record.trace.tracer, &context);
            let fields = &mut record.fields;
            fields.parent_id = if context.trace_id.is_valid() {
                context.span_id
            } else {
                SpanId::INVALID
            };
            if let Some(parent) = context.last_parent_id {
                fields.set_meta("_dd.parent_id", parent);
            }
            if let Some(error) = context.propagation_error {
                fields.set_meta("_dd.propagation_error", error);
            }
            fields.links.extend(context.span_links);
            record.trace = trace;
            Some(())
        });
    }

    fn datadog_context(&self) -> Option<SpanContext> {
        with_span(self, |span| {
            let (trace, span_id) = trace_of(span)?;
            if trace.priority().is_none() {
                decide_in_scope(&trace, span);
            }
            Some(trace.context(span_id))
        })
    }

    fn keep_trace(&self) {
        set_manual(self, SamplingPriority::USER_KEEP);
    }

    fn reject_trace(&self) {
        set_manual(self, SamplingPriority::USER_REJECT);
    }
}
