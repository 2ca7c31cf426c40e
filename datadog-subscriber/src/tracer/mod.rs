//! The Datadog tracer as a [`tracing_subscriber::Layer`].
//!
//! [`TracerLayer`] gives every `tracing` span a Datadog identity (128-bit trace id in Datadog's
//! layout, random 64-bit span id), keeps each trace's sampling decision and propagated tags, turns
//! span fields into Datadog `meta`/`metrics`, and hands each finished trace chunk to a background
//! worker that sends it to the Agent (`/v0.4/traces`, msgpack). Nothing on the caller's path waits
//! for the network: chunks go into a bounded queue, drops are counted ([`TracerHandle::stats`]).
//!
//! Span fields with a meaning: `service` (per-span service), `resource`, `span.type`, `error`
//! (`true`, an error value or a message), `error.message`, `error.type`, `error.stack`; every other
//! string, bool or debug field becomes a `meta` tag and every number a `metric`. An `ERROR` event
//! inside a span marks the span as an error.
//!
//! ```
//! use std::time::Duration;
//! use datadog_subscriber::tracer::TracerConfig;
//! use datadog_subscriber::DatadogSpanExt;
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let (layer, handle) = TracerConfig::new().service("checkout").enabled(false).build();
//! let subscriber = tracing_subscriber::registry().with(layer);
//! tracing::subscriber::with_default(subscriber, || {
//!     let span = tracing::info_span!("http.request", resource = "GET /cart", http.status_code = "200");
//!     let context = span.datadog_context().expect("the span is tracked");
//!     assert!(context.trace_id.is_valid());
//!     assert_eq!(context.trace_id.high() & 0xffff_ffff, 0);
//! });
//! assert!(handle.flush(Duration::from_secs(1)));
//! ```

mod config;
mod export;
mod ext;
mod handle;
mod layer;
mod remote_parent;
mod sampling;
mod settings;
mod span_data;
#[cfg(test)]
mod tests;
mod trace;
mod warn;

pub use config::{AgentAddress, DEFAULT_QUEUE_BYTES, TracerConfig};
#[cfg(feature = "unstable-bench")]
#[doc(hidden)]
pub use export::SamplePayload;
pub use export::{CapturedSpans, ExportStats, FinishedSpan};
pub use ext::DatadogSpanExt;
pub use handle::TracerHandle;
pub(crate) use layer::SpanRecord;
pub use layer::TracerLayer;
pub(crate) use remote_parent::remote_parent;
pub use remote_parent::with_remote_parent;
pub use sampling::{SamplingRule, SpanSamplingRule};

use std::sync::Arc;

use crate::context::SpanContext;

impl TracerConfig {
    /// Builds the layer and the handle that flushes and shuts down its export worker.
    pub fn build(self) -> (TracerLayer, TracerHandle) {
        let tracer = Arc::new(trace::Tracer::new(&self));
        (TracerLayer::new(tracer.clone()), TracerHandle::new(tracer))
    }
}

/// The Datadog context of [`tracing::Span::current()`], falling back to the remote parent
/// ([`with_remote_parent`]) when no tracked span is current (for example when `RUST_LOG`
/// filtered out the request span). What a client layer injects into outgoing requests.
///
/// ```
/// assert!(datadog_subscriber::current_context().is_none());
/// ```
pub fn current_context() -> Option<SpanContext> {
    // The current span's id is enough: no `Span` handle is made (and closed) for it.
    tracing::dispatcher::get_default(|dispatch| {
        let (trace, span_id) = ext::trace_of_id(dispatch, dispatch.current_span().id()?)?;
        Some(trace.context(span_id))
    })
    .or_else(|| remote_parent::remote_parent().map(|context| (*context).clone()))
}
