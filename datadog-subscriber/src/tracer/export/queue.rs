//! The bounded hand-off between the layer and the export worker, with the export counters.
//!
//! The queue is bounded twice: in spans (`queue_capacity`) and in bytes of memory held by the
//! queued spans (`DD_TRACE_WRITER_BUFFER_SIZE_BYTES`), so an Agent that hangs costs a fixed
//! amount of memory whatever the spans carry. Past either bound, new traces are dropped and
//! counted.
//!
//! Encoded chunks come back to the queue and are freed by the threads that push, one per push.
//! glibc's allocator makes a thread that frees memory another thread allocated take that thread's
//! arena lock. When the worker freed the thousands of spans of a payload at once, request threads
//! blocked on their own arenas at every export: with a healthy Agent, the request thread of the
//! tower bench spent 11% of its time waking the worker (`futex_wake`). Freed by request threads,
//! one per trace they finish, the frees no longer come in bursts from another thread (1.4% left).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

use super::TraceChunk;
use std::borrow::Cow;

use compact_str::CompactString;

use crate::tracer::span_data::{SpanFields, TagKey, TagValue};

/// Counters of the trace exporter, since the tracer was built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportStats {
    /// Traces (chunks) the Agent accepted.
    pub traces_sent: u64,
    /// Traces dropped: queue full, Agent unreachable after retries, payload rejected or perhaps
    /// lost by a failed exchange, sent after shutdown, or still waiting when a shutdown's
    /// deadline passed.
    pub traces_dropped: u64,
    /// Payloads the Agent accepted.
    pub payloads_sent: u64,
    /// Requests that failed (each retry counts).
    pub requests_failed: u64,
}

/// A flush or shutdown waiting for the worker.
pub(crate) struct FlushRequest {
    pub(crate) deadline: Instant,
    pub(crate) done: mpsc::Sender<()>,
}

pub(crate) struct QueueState {
    pub(crate) chunks: Vec<TraceChunk>,
    /// Encoded chunks waiting to be freed by a pushing thread, with their size.
    spent: Vec<(TraceChunk, usize)>,
    spent_bytes: usize,
    queued_spans: usize,
    queued_bytes: usize,
    /// Traces the worker has taken and not yet settled (sent or dropped).
    in_flight: usize,
    pub(crate) requests: Vec<FlushRequest>,
    /// Bumped on every flush request, so a backoff wakes up for new requests only.
    pub(crate) request_generation: u64,
    pub(crate) shutdown: bool,
    /// The queued chunks are wanted now (the process is about to idle).
    send_now: bool,
    worker_gone: bool,
    /// A shutdown's deadline passed: everything not yet settled was counted as dropped, and
    /// what the worker still reports is ignored.
    abandoned: bool,
}

pub(crate) struct ExportQueue {
    state: Mutex<QueueState>,
    wake: Condvar,
    capacity_spans: usize,
    capacity_bytes: usize,
    traces_sent: AtomicU64,
    traces_dropped: AtomicU64,
    payloads_sent: AtomicU64,
    requests_failed: AtomicU64,
}

/// Roughly the memory a queued chunk holds: the boxed spans and what their fields allocate.
pub(crate) fn chunk_bytes(chunk: &TraceChunk) -> usize {
    let tag_entry = size_of::<(TagKey, TagValue)>();
    let mut bytes = size_of::<TraceChunk>() + chunk.origin.as_ref().map_or(0, String::len);
    for span in &chunk.spans {
        bytes += span_bytes(span, tag_entry);
    }
    bytes
}

fn span_bytes(span: &SpanFields, tag_entry: usize) -> usize {
    let text = |text: &Option<CompactString>| {
        text.as_ref()
            .filter(|text| text.is_heap_allocated())
            .map_or(0, CompactString::capacity)
    };
    let mut bytes = size_of::<SpanFields>() + text(&span.resource) + text(&span.span_type);
    if span.tags.spilled() {
        bytes += span.tags.capacity() * tag_entry;
    }
    for (key, value) in &span.tags {
        if let Cow::Owned(owned) = key {
            bytes += owned.capacity();
        }
        if let TagValue::Str(text) = value
            && text.is_heap_allocated()
        {
            bytes += text.capacity();
        }
    }
    for link in &span.links {
        bytes += size_of_val(link) + link.tracestate.as_ref().map_or(0, String::len);
        bytes += link
            .attributes
            .iter()
            .map(|(key, value)| 2 * size_of::<String>() + key.len() + value.len())
            .sum::<usize>();
    }
    bytes
}

impl ExportQueue {
    pub(crate) fn new(capacity_spans: usize, capacity_bytes: usize) -> Self {
        ExportQueue {
            state: Mutex::new(QueueState {
                chunks: Vec::new(),
                spent: Vec::new(),
                spent_bytes: 0,
                queued_spans: 0,
                queued_bytes: 0,
                in_flight: 0,
                requests: Vec::new(),
                request_generation: 0,
                shutdown: false,
                send_now: false,
                worker_gone: false,
                abandoned: false,
            }),
            wake: Condvar::new(),
            capacity_spans,
            capacity_bytes,
            traces_sent: AtomicU64::new(0),
            traces_dropped: AtomicU64::new(0),
            payloads_sent: AtomicU64::new(0),
            requests_failed: AtomicU64::new(0),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, QueueState> {
        match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub(crate) fn push(&self, chunk: TraceChunk) {
        let spans = chunk.spans.len();
        let bytes = chunk_bytes(&chunk);
        let mut state = self.lock();
        // Every push frees one encoded chunk, also one whose trace is dropped: while the Agent
        // is away the queue stays full, and the worker's next payload returns chunks again.
        let spent = state.spent.pop().map(|(spent, spent_bytes)| {
            state.spent_bytes -= spent_bytes;
            spent
        });
        if state.shutdown
            || state.worker_gone
            || state.queued_spans + spans > self.capacity_spans
            || state.queued_bytes + bytes > self.capacity_bytes
        {
            drop(state);
            self.traces_dropped.fetch_add(1, Ordering::Relaxed);
            // Both freed outside the lock.
            drop(chunk);
            drop(spent);
            return;
        }
        // Wake the worker early when the queue becomes half full, so bursts are sent before they
        // are dropped; only on crossing: while the Agent is away the queue stays past half, and
        // a wake-up per trace would cost every request a system call.
        let crossed_half = !self.past_half(&state);
        state.queued_spans += spans;
        state.queued_bytes += bytes;
        state.chunks.push(chunk);
        let crossed_half = crossed_half && self.past_half(&state);
        drop(state);
        // Outside the lock.
        drop(spent);
        if crossed_half {
            self.wake.notify_one();
        }
    }

    /// Hands encoded chunks back, to be freed by the threads that push (see the module docs).
    /// What would hold more than a quarter of the queue's memory bound is freed here.
    pub(crate) fn return_spent(&self, spent: &mut Vec<TraceChunk>) {
        let mut overflow = Vec::new();
        let mut state = self.lock();
        for chunk in spent.drain(..) {
            let bytes = chunk_bytes(&chunk);
            if state.spent_bytes + bytes <= self.capacity_bytes / 4 {
                state.spent_bytes += bytes;
                state.spent.push((chunk, bytes));
            } else {
                overflow.push(chunk);
            }
        }
        drop(state);
        drop(overflow);
    }

    fn past_half(&self, state: &QueueState) -> bool {
        state.queued_spans > self.capacity_spans / 2 || state.queued_bytes > self.capacity_bytes / 2
    }

    /// Queues a flush (or shutdown) request; `false` when the worker has already exited.
    pub(crate) fn request_flush(
        &self,
        deadline: Instant,
        done: mpsc::Sender<()>,
        shutdown: bool,
    ) -> bool {
        let mut state = self.lock();
        if state.worker_gone {
            return false;
        }
        state.requests.push(FlushRequest { deadline, done });
        state.request_generation += 1;
        state.shutdown |= shutdown;
        drop(state);
        self.wake.notify_one();
        true
    }

    /// Wakes the worker to send what is queued, without a flush request to wait on.
    pub(crate) fn send_now(&self) {
        self.lock().send_now = true;
        self.wake.notify_one();
    }

    /// Waits until `deadline`, a flush or shutdown request, a [`send_now`](Self::send_now) or a
    /// half-full queue; then takes
    /// the queued chunks and requests.
    pub(crate) fn take_batch(
        &self,
        deadline: Instant,
    ) -> (Vec<TraceChunk>, Vec<FlushRequest>, bool) {
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            if now >= deadline
                || !state.requests.is_empty()
                || state.shutdown
                || state.send_now
                || self.past_half(&state)
            {
                break;
            }
            state = match self.wake.wait_timeout(state, deadline - now) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        state.queued_spans = 0;
        state.send_now = false;
        state.queued_bytes = 0;
        let chunks = std::mem::take(&mut state.chunks);
        state.in_flight += chunks.len();
        let requests = std::mem::take(&mut state.requests);
        if state.shutdown {
            state.worker_gone = true;
        }
        // No trace came for a whole interval: nobody is pushing to free the spent chunks.
        let idle_spent = if chunks.is_empty() {
            state.spent_bytes = 0;
            std::mem::take(&mut state.spent)
        } else {
            Vec::new()
        };
        let shutdown = state.shutdown;
        drop(state);
        drop(idle_spent);
        (chunks, requests, shutdown)
    }

    /// The earliest deadline of a pending flush or shutdown, besides `current`.
    pub(crate) fn earliest_deadline(&self, current: Option<Instant>) -> Option<Instant> {
        let state = self.lock();
        state
            .requests
            .iter()
            .map(|request| request.deadline)
            .chain(current)
            .min()
    }

    /// Sleeps for `duration` unless a new flush or shutdown request arrives.
    pub(crate) fn backoff(&self, duration: Duration) {
        let state = self.lock();
        let generation = state.request_generation;
        let _ = self.wake.wait_timeout_while(state, duration, |state| {
            state.request_generation == generation && !state.shutdown
        });
    }

    /// Marks the worker as exited: later pushes are dropped and counted.
    pub(crate) fn close(&self) {
        self.lock().worker_gone = true;
    }

    /// A shutdown ran out of time: counts every trace not yet settled (queued or in the
    /// worker's hands) as dropped, now, and stops accepting traces. What the worker reports
    /// later about those traces is ignored, so nothing is counted twice.
    pub(crate) fn abandon(&self) {
        let mut state = self.lock();
        if state.abandoned {
            return;
        }
        state.abandoned = true;
        state.shutdown = true;
        let unsettled = state.chunks.len() + state.in_flight;
        let chunks = std::mem::take(&mut state.chunks);
        state.queued_spans = 0;
        state.queued_bytes = 0;
        state.in_flight = 0;
        drop(state);
        drop(chunks);
        self.traces_dropped
            .fetch_add(unsettled as u64, Ordering::Relaxed);
        self.wake.notify_all();
    }

    /// Whether a shutdown gave up on the worker (it should stop as soon as it can).
    pub(crate) fn abandoned(&self) -> bool {
        self.lock().abandoned
    }

    /// `traces` taken by the worker reached the Agent in one payload.
    pub(crate) fn record_sent(&self, traces: usize) {
        if self.settle(traces) {
            self.traces_sent.fetch_add(traces as u64, Ordering::Relaxed);
            self.payloads_sent.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `traces` taken by the worker are given up.
    pub(crate) fn record_dropped(&self, traces: usize) {
        if self.settle(traces) {
            self.traces_dropped
                .fetch_add(traces as u64, Ordering::Relaxed);
        }
    }

    /// Removes settled traces from the in-flight count; `false` when a shutdown already counted
    /// them.
    fn settle(&self, traces: usize) -> bool {
        let mut state = self.lock();
        if state.abandoned {
            return false;
        }
        state.in_flight = state.in_flight.saturating_sub(traces);
        true
    }

    pub(crate) fn record_failed_request(&self) {
        self.requests_failed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> ExportStats {
        ExportStats {
            traces_sent: self.traces_sent.load(Ordering::Relaxed),
            traces_dropped: self.traces_dropped.load(Ordering::Relaxed),
            payloads_sent: self.payloads_sent.load(Ordering::Relaxed),
            requests_failed: self.requests_failed.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{PropagationTags, SpanId, TraceId};
    use crate::tracer::span_data::SpanFields;

    fn chunk(spans: u64) -> TraceChunk {
        TraceChunk {
            trace_id: TraceId::from_u128(1),
            decision: None,
            origin: None,
            tags: PropagationTags::default(),
            spans: (1..=spans)
                .map(|id| Box::new(SpanFields::new("span", SpanId::new(id), 0)))
                .collect(),
        }
    }

    #[test]
    fn a_waiting_worker_takes_the_batch_once_the_queue_is_half_full() {
        let queue = std::sync::Arc::new(ExportQueue::new(8, usize::MAX));
        let waiting = queue.clone();
        let worker = std::thread::spawn(move || {
            let started = Instant::now();
            let (chunks, _, _) = waiting.take_batch(started + Duration::from_mins(1));
            (chunks.len(), started.elapsed())
        });
        // Two chunks of two spans: half of the capacity, not past it.
        queue.push(chunk(2));
        queue.push(chunk(2));
        // This one crosses half: the worker wakes long before its deadline.
        queue.push(chunk(1));
        let (taken, waited) = worker.join().unwrap();
        assert!(waited < Duration::from_secs(30), "waited {waited:?}");
        assert_eq!(taken, 3);

        // Past capacity, chunks are dropped and counted.
        queue.push(chunk(8));
        queue.push(chunk(1));
        assert_eq!(queue.stats().traces_dropped, 1);
    }

    #[test]
    fn send_now_wakes_a_waiting_worker_once() {
        let queue = std::sync::Arc::new(ExportQueue::new(1000, usize::MAX));
        queue.push(chunk(1));
        let waiting = queue.clone();
        let worker = std::thread::spawn(move || {
            let started = Instant::now();
            let (chunks, requests, _) = waiting.take_batch(started + Duration::from_mins(1));
            (chunks.len(), requests.len(), started.elapsed())
        });
        queue.send_now();
        let (taken, requests, waited) = worker.join().unwrap();
        assert!(waited < Duration::from_secs(30), "waited {waited:?}");
        assert_eq!((taken, requests), (1, 0));
        // The wish is spent: the next wait lasts until its deadline.
        let started = Instant::now();
        let (chunks, _, _) = queue.take_batch(started + Duration::from_millis(50));
        assert!(chunks.is_empty());
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn encoded_chunks_are_freed_by_pushes_up_to_a_quarter_of_the_byte_bound() {
        let one = chunk_bytes(&chunk(1));
        let queue = ExportQueue::new(usize::MAX, one * 12);
        let mut spent: Vec<TraceChunk> = (0..5).map(|_| chunk(1)).collect();
        queue.return_spent(&mut spent);
        assert!(spent.is_empty());
        // A quarter of 12 chunks' worth: 3 wait, the other 2 were freed at once.
        assert_eq!(queue.lock().spent.len(), 3);
        assert_eq!(queue.lock().spent_bytes, one * 3);
        // Each push frees one.
        queue.push(chunk(1));
        queue.push(chunk(1));
        assert_eq!(queue.lock().spent.len(), 1);
        assert_eq!(queue.lock().spent_bytes, one);
        // A batch with traces leaves the rest to later pushes.
        let (taken, _, _) = queue.take_batch(Instant::now());
        assert_eq!(taken.len(), 2);
        assert_eq!(queue.lock().spent.len(), 1);
        // An interval without traces: the worker frees what is left.
        let (taken, _, _) = queue.take_batch(Instant::now());
        assert!(taken.is_empty());
        assert!(queue.lock().spent.is_empty());
        assert_eq!(queue.lock().spent_bytes, 0);
    }

    #[test]
    fn a_push_dropped_at_a_full_queue_still_frees_an_encoded_chunk() {
        let one = chunk_bytes(&chunk(1));
        let queue = ExportQueue::new(1, one * 8);
        queue.push(chunk(1));
        queue.return_spent(&mut vec![chunk(1), chunk(1)]);
        queue.push(chunk(1));
        assert_eq!(queue.stats().traces_dropped, 1);
        assert_eq!(queue.lock().spent.len(), 1);
        assert_eq!(queue.lock().spent_bytes, one);
    }

    #[test]
    fn the_byte_bound_drops_and_counts_traces_past_it() {
        let one = chunk_bytes(&chunk(1));
        let queue = ExportQueue::new(usize::MAX, one * 3);
        for _ in 0..5 {
            queue.push(chunk(1));
        }
        assert_eq!(queue.stats().traces_dropped, 2);
        assert_eq!(queue.lock().chunks.len(), 3);
    }

    #[test]
    fn an_abandoned_queue_counts_what_is_unsettled_once() {
        let queue = ExportQueue::new(100, usize::MAX);
        queue.push(chunk(1));
        queue.push(chunk(1));
        let (taken, _, _) = queue.take_batch(Instant::now());
        assert_eq!(taken.len(), 2);
        queue.push(chunk(1));
        queue.abandon();
        assert_eq!(queue.stats().traces_dropped, 3, "two in flight, one queued");
        // The worker finishing late changes nothing.
        queue.record_sent(2);
        queue.abandon();
        assert_eq!(queue.stats().traces_dropped, 3);
        assert_eq!(queue.stats().traces_sent, 0);
        queue.push(chunk(1));
        assert_eq!(queue.stats().traces_dropped, 4);
    }
}
