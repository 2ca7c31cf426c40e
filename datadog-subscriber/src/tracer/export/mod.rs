//! Export of finished trace chunks: a bounded queue filled by the layer, drained by one worker
//! thread that encodes msgpack and posts it to the Agent.

mod agent;
mod agent_view;
mod capture;
pub(crate) mod msgpack;
mod queue;
#[cfg(feature = "unstable-bench")]
mod sample;
mod worker;

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use smallvec::SmallVec;

pub use capture::{CapturedSpans, FinishedSpan};
use queue::ExportQueue;
pub use queue::ExportStats;
#[cfg(feature = "unstable-bench")]
pub use sample::SamplePayload;

use super::config::TracerConfig;
use super::sampling::{Decision, Sampler};
use super::settings::Settings;
use super::span_data::SpanFields;
use super::warn::warn;
use crate::context::{PropagationTags, TraceId};

/// Spans of one trace sent together, with the trace-level data their first span carries.
pub(crate) struct TraceChunk {
    pub(crate) trace_id: TraceId,
    pub(crate) decision: Option<Decision>,
    pub(crate) origin: Option<String>,
    pub(crate) tags: PropagationTags,
    pub(crate) spans: ClosedSpans,
}

/// Closed spans, boxed as the span records hold them (handed over by pointer, never copied);
/// a small trace's fit inline, without an allocation.
pub(crate) type ClosedSpans = SmallVec<[Box<SpanFields>; 4]>;

/// The layer's side of the export worker.
pub(crate) struct Exporter {
    queue: Arc<ExportQueue>,
}

impl Exporter {
    /// Starts the worker thread; `None` (with a warning) when the OS refuses a thread or a
    /// runtime, in which case traces are not exported.
    pub(crate) fn start(
        config: &TracerConfig,
        settings: Arc<Settings>,
        sampler: Arc<Sampler>,
    ) -> Option<Exporter> {
        let client = match agent::AgentClient::new(config.agent.clone(), config.request_timeout) {
            Ok(client) => client,
            Err(error) => {
                warn(&format!(
                    "cannot start the trace exporter's runtime ({error}); traces are not exported"
                ));
                return None;
            }
        };
        let queue = Arc::new(ExportQueue::new(
            config.queue_capacity_spans,
            config.queue_capacity_bytes,
        ));
        let worker = worker::Worker::new(
            queue.clone(),
            client,
            settings,
            sampler,
            config.flush_interval,
        );
        let spawned = std::thread::Builder::new()
            .name("datadog-trace-exporter".into())
            .spawn(move || worker.run());
        match spawned {
            Ok(_) => Some(Exporter { queue }),
            Err(error) => {
                warn(&format!(
                    "cannot start the trace exporter thread ({error}); traces are not exported"
                ));
                None
            }
        }
    }

    /// Queues a chunk, or drops and counts it when the queue is full or shut down. Never blocks
    /// on I/O.
    pub(crate) fn push(&self, chunk: TraceChunk) {
        self.queue.push(chunk);
    }

    /// Asks the worker to send what is queued now, without waiting for it.
    pub(crate) fn send_now(&self) {
        self.queue.send_now();
    }

    /// Asks the worker to send everything queued now; waits at most `timeout` for it. A
    /// shutdown that runs out of time counts what is still unsent as dropped and returns.
    pub(crate) fn flush(&self, timeout: Duration, shutdown: bool) -> bool {
        if self.queue.abandoned() {
            // An earlier shutdown ran out of time and counted what was left: nothing to wait for.
            return false;
        }
        let deadline = Instant::now() + timeout;
        let (done, finished) = mpsc::channel();
        if !self.queue.request_flush(deadline, done, shutdown) {
            // The worker is already gone: nothing can be waiting in the queue.
            return true;
        }
        let finished = finished.recv_timeout(timeout).is_ok();
        if shutdown && !finished {
            self.queue.abandon();
        }
        finished
    }

    pub(crate) fn stats(&self) -> ExportStats {
        self.queue.stats()
    }
}
