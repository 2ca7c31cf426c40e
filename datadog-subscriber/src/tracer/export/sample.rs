//! A representative payload to measure the v0.4 encoder on its own (benchmark support).

use std::sync::Arc;

use super::TraceChunk;
use super::msgpack;
use crate::context::{PropagationTags, SamplingPriority, SpanId, TraceId};
use crate::tracer::sampling::Decision;
use crate::tracer::settings::Settings;
use crate::tracer::span_data::SpanFields;

/// Finished traces shaped like web requests (a root with HTTP tags, children with a few fields),
/// ready to be encoded as a `/v0.4/traces` payload. Benchmark support, not part of the API.
///
/// ```
/// use datadog_subscriber::tracer::SamplePayload;
///
/// let sample = SamplePayload::new(2, 3);
/// let mut buffer = Vec::new();
/// assert!(sample.encode(&mut buffer) > 0);
/// assert_eq!(sample.span_count(), 6);
/// ```
pub struct SamplePayload {
    chunks: Vec<TraceChunk>,
    settings: Settings,
}

impl SamplePayload {
    /// `traces` traces of `spans_per_trace` spans each (at least one).
    pub fn new(traces: usize, spans_per_trace: usize) -> Self {
        let chunks = (0..traces)
            .map(|_| {
                let trace_id = TraceId::generate_128();
                let root_id = SpanId::generate();
                let mut root = SpanFields::new("http.request", root_id, 1_700_000_000_000_000_000);
                root.is_local_root = true;
                root.duration_ns = 1_500_000;
                root.resource = Some("GET /users/{id}".into());
                root.span_type = Some("web".into());
                root.set_meta("http.method", "GET");
                root.set_meta("http.route", "/users/{id}");
                root.set_meta("http.status_code", "200");
                let mut spans = super::ClosedSpans::new();
                spans.push(Box::new(root));
                for index in 1..spans_per_trace.max(1) {
                    let mut child = SpanFields::new(
                        "db.query",
                        SpanId::generate(),
                        1_700_000_000_000_100_000 + index as i64,
                    );
                    child.parent_id = root_id;
                    child.local_parent = true;
                    child.duration_ns = 200_000;
                    child.set_meta("db.system", "postgresql");
                    child.set_metric("rows", 3.0);
                    spans.push(Box::new(child));
                }
                TraceChunk {
                    trace_id,
                    decision: Some(Decision::fixed(SamplingPriority::AUTO_KEEP, Some(0))),
                    origin: None,
                    tags: PropagationTags::default(),
                    spans,
                }
            })
            .collect();
        let settings = Settings {
            service: Arc::from("bench-service"),
            env: Some("prod".into()),
            version: Some("1.0.0".into()),
            tags: vec![("team".into(), "web".into())],
            runtime_id: "0b5bd3e8-8c0c-4e44-9c55-6d7c0f0d1a2b".into(),
            process_id: 1.0,
            trace_id_128_bit: true,
            partial_flush_min_spans: 300,
            baggage_tag_keys: crate::context::BaggageTagKeys::default(),
            clock: crate::tracer::settings::Clock::now(),
        };
        SamplePayload { chunks, settings }
    }

    /// Spans in the payload.
    pub fn span_count(&self) -> usize {
        self.chunks.iter().map(|chunk| chunk.spans.len()).sum()
    }

    /// Encodes the payload into `buffer` (cleared first) and returns its size in bytes.
    pub fn encode(&self, buffer: &mut Vec<u8>) -> usize {
        msgpack::begin_payload(buffer);
        for chunk in &self.chunks {
            msgpack::encode_chunk(buffer, chunk, &self.settings);
        }
        msgpack::finish_payload(buffer, self.chunks.len() as u32);
        buffer.len()
    }
}
