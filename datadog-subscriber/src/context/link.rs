use super::{SpanId, TraceId};

/// A link from a span to a span of another trace.
///
/// Extraction creates links for contexts it could not continue (`reason: terminated_context`), the
/// `restart` extract behaviour for the context it dropped (`reason: propagation_behavior_extract`),
/// and the tracer for `follows_from` relations.
///
/// ```
/// use datadog_subscriber::context::{SpanId, SpanLink, TraceId};
///
/// let link = SpanLink::new(TraceId::from_u128(7), SpanId::new(8))
///     .with_attribute("reason", "terminated_context")
///     .with_attribute("context_headers", "tracecontext");
/// assert_eq!(link.attributes.len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpanLink {
    /// The linked trace.
    pub trace_id: TraceId,
    /// The linked span.
    pub span_id: SpanId,
    /// W3C trace flags of the linked context (`1` sampled, `0` not), when known.
    pub flags: Option<u32>,
    /// The raw W3C `tracestate` of the linked context, for W3C contexts.
    pub tracestate: Option<String>,
    /// Link attributes, in order.
    pub attributes: Vec<(String, String)>,
}

impl SpanLink {
    /// A link with no flags, tracestate or attributes.
    pub fn new(trace_id: TraceId, span_id: SpanId) -> Self {
        SpanLink {
            trace_id,
            span_id,
            flags: None,
            tracestate: None,
            attributes: Vec::new(),
        }
    }

    /// Adds an attribute.
    pub fn with_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.push((key.into(), value.into()));
        self
    }
}
