use super::{Baggage, CloudTrace, PropagationTags, SamplingPriority, SpanId, SpanLink, TraceId};

/// The context of one span as it crosses a process boundary.
///
/// Extraction yields the remote parent (`span_id` is the upstream span); the tracer yields the
/// context of a local span for injection (`span_id` is that span). The upper half of
/// [`trace_id`](Self::trace_id) is the source of truth for `_dd.p.tid`: codecs derive the tag from
/// the id on injection and fold it into the id on extraction, so [`propagation_tags`](Self::propagation_tags)
/// never needs to hold it.
///
/// ```
/// use datadog_subscriber::context::{SpanContext, SpanId, TraceId};
///
/// let context = SpanContext::new(TraceId::from_u128(1), SpanId::new(2));
/// assert!(context.is_valid());
/// assert!(context.sampling_priority.is_none());
/// assert!(!SpanContext::new(TraceId::INVALID, SpanId::new(2)).is_valid());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpanContext {
    /// The 128-bit trace id.
    pub trace_id: TraceId,
    /// The span id: the upstream span after extraction, the local span for injection.
    pub span_id: SpanId,
    /// The trace's sampling decision, when one was made.
    pub sampling_priority: Option<SamplingPriority>,
    /// `_dd.origin` (for example `rum`, `synthetics`).
    pub origin: Option<String>,
    /// Propagated `_dd.p.*` trace tags, in order.
    pub propagation_tags: PropagationTags,
    /// Non-`dd` W3C `tracestate` list members, in order, forwarded on injection.
    pub tracestate_vendors: Vec<String>,
    /// Value for the local root's `_dd.parent_id` tag: the last Datadog span seen upstream.
    pub last_parent_id: Option<String>,
    /// Value for the local root's `_dd.propagation_error` tag.
    pub propagation_error: Option<String>,
    /// Links to contexts that extraction did not continue.
    pub span_links: Vec<SpanLink>,
    /// W3C baggage.
    pub baggage: Baggage,
    /// The platform's trace of the request (Google's frontend), for log grouping only.
    pub cloud_trace: Option<CloudTrace>,
}

impl SpanContext {
    /// A context with the given ids and nothing else.
    pub fn new(trace_id: TraceId, span_id: SpanId) -> Self {
        SpanContext {
            trace_id,
            span_id,
            ..SpanContext::default()
        }
    }

    /// Whether both ids are non-zero (a context that can be continued or injected).
    pub fn is_valid(&self) -> bool {
        self.trace_id.is_valid() && self.span_id.is_valid()
    }

    /// Whether the sampling decision is "keep" (`None` when no decision was made).
    pub fn is_sampled(&self) -> Option<bool> {
        self.sampling_priority.map(SamplingPriority::is_keep)
    }
}
