//! The export worker thread: every flush interval (or on `flush()`/shutdown, or when the queue is
//! half full) it encodes what is queued and posts it, retrying with backoff what the Agent cannot
//! have received.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::TraceChunk;
use super::agent::{AgentClient, Outcome};
use super::msgpack;
use super::queue::ExportQueue;
use crate::tracer::sampling::Sampler;
use crate::tracer::settings::Settings;
use crate::tracer::warn::WarnOnce;

/// Payloads are cut at this size (the Agent accepts up to 25 MB by default).
const MAX_PAYLOAD_BYTES: usize = 8 * 1024 * 1024;
/// Retries of one payload when no flush deadline is pending.
const MAX_RETRIES: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

pub(crate) struct Worker {
    queue: Arc<ExportQueue>,
    client: AgentClient,
    settings: Arc<Settings>,
    sampler: Arc<Sampler>,
    interval: Duration,
    buffer: Vec<u8>,
    /// Chunks encoded into the payload being built, handed back to the queue to be freed.
    spent: Vec<TraceChunk>,
    unreachable: WarnOnce,
    lost: WarnOnce,
}

impl Worker {
    pub(crate) fn new(
        queue: Arc<ExportQueue>,
        client: AgentClient,
        settings: Arc<Settings>,
        sampler: Arc<Sampler>,
        interval: Duration,
    ) -> Self {
        Worker {
            queue,
            client,
            settings,
            sampler,
            interval,
            buffer: Vec::with_capacity(64 * 1024),
            spent: Vec::new(),
            unreachable: WarnOnce::default(),
            lost: WarnOnce::default(),
        }
    }

    pub(crate) fn run(mut self) {
        // Anything the HTTP stack logs through `tracing` must not come back as traces.
        let _no_tracing =
            tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
        let mut next_tick = Instant::now() + self.interval;
        loop {
            let (chunks, requests, shutdown) = self.queue.take_batch(next_tick);
            if Instant::now() >= next_tick {
                next_tick = Instant::now() + self.interval;
            }
            let deadline = requests.iter().map(|request| request.deadline).min();
            self.send(chunks, deadline);
            for request in requests {
                let _ = request.done.send(());
            }
            // Only this thread holds the queue: the layer and every handle are gone.
            if shutdown || Arc::strong_count(&self.queue) == 1 {
                self.queue.close();
                return;
            }
        }
    }

    fn send(&mut self, chunks: Vec<TraceChunk>, deadline: Option<Instant>) {
        let mut chunks = chunks.into_iter().peekable();
        while chunks.peek().is_some() {
            if self.queue.abandoned() {
                // A shutdown gave up on us and counted these already.
                return;
            }
            msgpack::begin_payload(&mut self.buffer);
            let mut count = 0;
            for chunk in chunks.by_ref() {
                msgpack::encode_chunk(&mut self.buffer, &chunk, &self.settings);
                self.spent.push(chunk);
                count += 1;
                if self.buffer.len() >= MAX_PAYLOAD_BYTES {
                    break;
                }
            }
            // Before the (possibly slow) request: the encoded chunks go back to the queue, to be
            // freed by the request threads (see `ExportQueue`'s docs).
            self.queue.return_spent(&mut self.spent);
            msgpack::finish_payload(&mut self.buffer, count as u32);
            // The payload takes the buffer (no copy); a small one replaces it.
            let payload = Bytes::from(std::mem::replace(
                &mut self.buffer,
                Vec::with_capacity(64 * 1024),
            ));
            self.post_with_retries(&payload, count, deadline);
        }
    }

    /// Posts one payload. Only what the Agent cannot have received (no connection, or an
    /// answer saying it did not take the payload) is sent again: a slow Agent that times out
    /// may still process the payload, and sending it twice would duplicate every span in it.
    fn post_with_retries(&mut self, payload: &Bytes, count: usize, deadline: Option<Instant>) {
        let mut backoff = FIRST_BACKOFF;
        let mut retries = 0;
        loop {
            // A pending flush or shutdown deadline bounds the request too.
            let stop = self.queue.earliest_deadline(deadline);
            match self.client.post_traces(payload.clone(), count, stop) {
                Outcome::Delivered(body) => {
                    self.sampler.agent_rates.update_from_response(&body);
                    self.queue.record_sent(count);
                    self.unreachable.reset();
                    self.lost.reset();
                    return;
                }
                Outcome::Lost(reason) => {
                    self.queue.record_failed_request();
                    self.queue.record_dropped(count);
                    self.lost.warn(|| {
                        format!(
                            "traces sent to the Agent at {} are dropped and counted: {reason}",
                            self.client.describe()
                        )
                    });
                    return;
                }
                Outcome::NotTaken(reason) => {
                    self.queue.record_failed_request();
                    self.unreachable.warn(|| {
                        format!(
                            "cannot send traces to the Agent at {} ({reason}); retrying, then dropping and counting them",
                            self.client.describe()
                        )
                    });
                }
            }
            let stop = self.queue.earliest_deadline(deadline);
            let give_up = retries >= MAX_RETRIES
                || self.queue.abandoned()
                || stop.is_some_and(|stop| Instant::now() + backoff >= stop);
            if give_up {
                self.queue.record_dropped(count);
                return;
            }
            self.queue.backoff(backoff);
            retries += 1;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
}
