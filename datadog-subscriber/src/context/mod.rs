//! The Datadog trace model: what extraction produces, what the tracer carries per trace and what
//! injection writes.
//!
//! Nothing here does I/O. Propagation codecs (`datadog-tower::propagation`) parse headers into a
//! [`SpanContext`] and write one back into headers; the tracer continues a remote [`SpanContext`]
//! and hands out the context of its own spans.

mod baggage;
mod cloud_trace;
mod ids;
mod link;
mod priority;
mod span_context;
mod tags;

pub use baggage::{Baggage, BaggageTagKeys};
pub use cloud_trace::CloudTrace;
pub use ids::{SpanId, TraceId};
pub use link::SpanLink;
pub use priority::SamplingPriority;
pub use span_context::SpanContext;
pub use tags::PropagationTags;
