//! Finished spans kept in the process, as the Agent would receive them: for tests, yours and
//! ours, without a fake Agent.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::TraceChunk;
use super::agent_view::{for_each_meta, for_each_metric, for_each_span};
use crate::context::{SamplingPriority, SpanId, SpanLink, TraceId};
use crate::tracer::settings::Settings;

/// Spans a capture keeps at most; later ones are dropped and counted
/// ([`CapturedSpans::dropped`]).
const DEFAULT_CAPACITY: usize = 100_000;

/// Where a tracer built with [`TracerConfig::capture`](crate::tracer::TracerConfig::capture)
/// puts each finished span instead of sending it to the Agent: a test exporter. Cheap to clone;
/// clones share the spans.
///
/// ```
/// use datadog_subscriber::tracer::{CapturedSpans, TracerConfig};
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let spans = CapturedSpans::new();
/// let (layer, _handle) = TracerConfig::new().service("checkout").capture(spans.clone()).build();
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
///     let root = tracing::info_span!("http.request", resource = "GET /cart");
///     root.in_scope(|| tracing::info_span!("db.query", db.system = "postgresql").in_scope(|| {}));
/// });
/// let spans = spans.take();
/// assert_eq!(spans.len(), 2);
/// let root = spans.iter().find(|span| span.name == "http.request").unwrap();
/// let query = spans.iter().find(|span| span.name == "db.query").unwrap();
/// assert_eq!(root.resource, "GET /cart");
/// assert_eq!(root.service, "checkout");
/// assert_eq!(query.parent_id, root.span_id);
/// assert_eq!(query.meta.get("db.system").map(String::as_str), Some("postgresql"));
/// assert_eq!(root.metrics.get("_sampling_priority_v1"), Some(&1.0));
/// ```
#[derive(Clone, Debug)]
pub struct CapturedSpans {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    spans: Mutex<Vec<FinishedSpan>>,
    capacity: usize,
    dropped: AtomicU64,
}

impl Default for CapturedSpans {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl CapturedSpans {
    /// An empty capture that keeps up to 100 000 spans.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty capture that keeps up to `capacity` spans.
    pub fn with_capacity(capacity: usize) -> Self {
        CapturedSpans {
            shared: Arc::new(Shared {
                spans: Mutex::new(Vec::new()),
                capacity,
                dropped: AtomicU64::new(0),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<FinishedSpan>> {
        self.shared
            .spans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes the spans finished so far, in the order their traces were sent (a trace's local
    /// root first).
    pub fn take(&self) -> Vec<FinishedSpan> {
        std::mem::take(&mut *self.lock())
    }

    /// A copy of the spans finished so far, leaving them in place.
    pub fn spans(&self) -> Vec<FinishedSpan> {
        self.lock().clone()
    }

    /// Spans dropped because the capture was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Keeps the spans of `chunk` as the Agent would receive them.
    pub(crate) fn record(&self, chunk: &TraceChunk, settings: &Settings) {
        let mut spans = self.lock();
        for_each_span(chunk, |span, trace, first| {
            if spans.len() >= self.shared.capacity {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let mut meta = BTreeMap::new();
            for_each_meta(span, settings, trace, first, |key, value| {
                meta.insert(key.to_owned(), value.to_owned());
            });
            let mut metrics = BTreeMap::new();
            for_each_metric(span, settings, first, |key, value| {
                metrics.insert(key.to_owned(), value);
            });
            let (start_ns, duration_ns) = span.times(&settings.clock);
            spans.push(FinishedSpan {
                trace_id: chunk.trace_id,
                span_id: span.span_id,
                parent_id: span.parent_id,
                name: span.name.to_owned(),
                service: span
                    .service
                    .as_deref()
                    .unwrap_or(&settings.service)
                    .to_owned(),
                resource: span.resource.as_deref().unwrap_or(span.name).to_owned(),
                span_type: span.span_type.as_deref().map(str::to_owned),
                error: span.error,
                start_ns,
                duration_ns,
                meta,
                metrics,
                links: span.links.clone(),
            });
        });
    }
}

/// A finished span as the Agent receives it (`/v0.4/traces`), with everything the tracer adds:
/// service tags, `_dd.p.*` and the sampling decision on the first span of its chunk.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct FinishedSpan {
    /// The span's trace (all 128 bits; the Agent receives the upper half as `_dd.p.tid`).
    pub trace_id: TraceId,
    /// The span's id.
    pub span_id: SpanId,
    /// The parent span's id (`SpanId::INVALID` for a trace's root).
    pub parent_id: SpanId,
    /// The operation name (the `tracing` span name).
    pub name: String,
    /// The span's service.
    pub service: String,
    /// The resource (the name when none was set).
    pub resource: String,
    /// The span type (`web`, `sql`, ...), if set.
    pub span_type: Option<String>,
    /// Whether the span is an error.
    pub error: bool,
    /// Start, in nanoseconds since the Unix epoch.
    pub start_ns: i64,
    /// Duration in nanoseconds.
    pub duration_ns: i64,
    /// String tags.
    pub meta: BTreeMap<String, String>,
    /// Numeric tags.
    pub metrics: BTreeMap<String, f64>,
    /// Span links.
    pub links: Vec<SpanLink>,
}

impl FinishedSpan {
    /// The trace's sampling priority, on the span that carries it (the first of its chunk).
    pub fn sampling_priority(&self) -> Option<SamplingPriority> {
        self.metrics
            .get("_sampling_priority_v1")
            .map(|priority| SamplingPriority::new(*priority as i32))
    }
}
