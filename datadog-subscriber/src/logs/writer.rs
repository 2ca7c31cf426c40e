//! A non-blocking line writer: callers append to bounded in-memory buffers, one background
//! thread per destination writes them out.
//!
//! Logging from a request handler must not wait on a slow pipe, a full disk or a stalled log
//! collector. [`NonBlocking`] hands each line to one bounded buffer per destination under a
//! short lock (a copy, no I/O); each destination has its own background thread, so a stalled
//! stdout never holds up the log file, nor the file stdout. When a destination's buffer is full
//! the line is dropped for it and counted ([`LogGuard::dropped_lines`]). Write errors (closed
//! stdout, full disk, a deleted log directory) are counted and reported once on stderr until the
//! destination works again; they never panic.
//!
//! ```
//! use std::io::Write;
//! use std::time::Duration;
//! use datadog_subscriber::logs::NonBlocking;
//! use tracing_subscriber::fmt::MakeWriter;
//!
//! let (writer, guard) = NonBlocking::new(vec![Box::new(std::io::sink())], 1 << 20);
//! writer.make_writer().write_all(b"{\"message\":\"hello\"}\n").unwrap();
//! assert!(guard.flush(Duration::from_secs(5)));
//! assert_eq!(guard.dropped_lines(), 0);
//! ```

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// How long dropping a [`LogGuard`] waits for buffered lines to be written.
pub const DROP_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a background thread collects lines before writing while lines keep coming.
const BATCH_DELAY: Duration = Duration::from_millis(5);

/// One destination of a background thread, with the name used in its warning.
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) writer: Box<dyn Write + Send>,
    pub(crate) failed: bool,
}

struct State {
    buffer: Vec<u8>,
    /// Lines accepted into the buffer so far.
    accepted: u64,
    /// Lines handed to the destination so far (written or failed).
    written: u64,
    shutdown: bool,
    /// The background thread sleeps until woken (nothing arrived during its last batch delay).
    idle: bool,
}

/// The buffer of one destination and its thread's signals.
struct Lane {
    state: Mutex<State>,
    /// Wakes the background thread: data, a flush request or shutdown.
    work: Condvar,
    /// Wakes flushers: `written` moved.
    progress: Condvar,
}

impl Lane {
    fn new(capacity: usize) -> Lane {
        Lane {
            state: Mutex::new(State {
                buffer: Vec::with_capacity(capacity.min(64 * 1024)),
                accepted: 0,
                written: 0,
                shutdown: false,
                idle: false,
            }),
            work: Condvar::new(),
            progress: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent across a panic (plain counters and a byte buffer).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Buffers `line`; `false` when it is dropped (full or shut down).
    fn push(&self, line: &[u8], capacity: usize) -> bool {
        let mut state = self.lock();
        if state.shutdown || state.buffer.len() + line.len() > capacity {
            return false;
        }
        let half = capacity / 2;
        let crossed_half = state.buffer.len() < half && state.buffer.len() + line.len() >= half;
        state.buffer.extend_from_slice(line);
        state.accepted += 1;
        // Wake the thread only when it sleeps for good or the buffer fills up: under load it
        // collects lines for `BATCH_DELAY` on its own, which spares a wake-up per line.
        let wake = state.idle || crossed_half;
        state.idle = false;
        drop(state);
        if wake {
            self.work.notify_one();
        }
        true
    }

    /// Waits until every line accepted before the call is handed to the destination, or
    /// `deadline`; returns the lines still unwritten (0 on success).
    fn flush(&self, deadline: Instant) -> u64 {
        let mut state = self.lock();
        let target = state.accepted;
        state.idle = false;
        self.work.notify_one();
        while state.written < target {
            let now = Instant::now();
            if now >= deadline {
                return state.accepted - state.written;
            }
            state = self
                .progress
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        0
    }
}

struct Shared {
    lanes: Vec<Lane>,
    capacity: usize,
    dropped: AtomicU64,
    failed_writes: AtomicU64,
}

impl Shared {
    fn push(&self, line: &[u8]) {
        let mut dropped = self.lanes.is_empty();
        for lane in &self.lanes {
            dropped |= !lane.push(line, self.capacity);
        }
        if dropped {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Flushes every destination (each in parallel with its own thread) until `deadline`;
    /// returns the most lines one destination still had unwritten.
    fn flush(&self, deadline: Instant) -> u64 {
        self.lanes
            .iter()
            .map(|lane| lane.flush(deadline))
            .max()
            .unwrap_or(0)
    }
}

/// The caller side of the non-blocking writer: a [`MakeWriter`] for the log layer (cheap to clone).
#[derive(Clone)]
pub struct NonBlocking {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for NonBlocking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonBlocking")
            .field("capacity", &self.shared.capacity)
            .field("destinations", &self.shared.lanes.len())
            .finish_non_exhaustive()
    }
}

impl NonBlocking {
    /// Starts one background thread per destination in `destinations` (each line goes to all of
    /// them), each with a buffer of at most `capacity` bytes. The guard flushes on drop.
    pub fn new(
        destinations: Vec<Box<dyn Write + Send>>,
        capacity: usize,
    ) -> (NonBlocking, LogGuard) {
        let targets = destinations
            .into_iter()
            .enumerate()
            .map(|(index, writer)| Target {
                name: format!("log destination #{index}"),
                writer,
                failed: false,
            })
            .collect();
        Self::start(targets, capacity)
    }

    pub(crate) fn start(targets: Vec<Target>, capacity: usize) -> (NonBlocking, LogGuard) {
        let capacity = capacity.max(1);
        let shared = Arc::new(Shared {
            lanes: targets.iter().map(|_| Lane::new(capacity)).collect(),
            capacity,
            dropped: AtomicU64::new(0),
            failed_writes: AtomicU64::new(0),
        });
        let mut threads = Vec::new();
        for (index, target) in targets.into_iter().enumerate() {
            let background = Arc::clone(&shared);
            let thread = std::thread::Builder::new()
                .name(format!("datadog-logs-{index}"))
                .spawn(move || run(&background, index, target));
            match thread {
                Ok(handle) => threads.push(handle),
                Err(error) => {
                    warn(&format!(
                        "cannot start a log writer thread ({error}); its log lines will be dropped"
                    ));
                    shared.lanes[index].lock().shutdown = true;
                }
            }
        }
        (
            NonBlocking {
                shared: Arc::clone(&shared),
            },
            LogGuard {
                shared,
                threads: Mutex::new(threads),
                shut_down: Mutex::new(None),
            },
        )
    }
}

/// The writer [`NonBlocking`] hands out for one line. Each `write` call is taken as a whole unit:
/// it is buffered entirely or dropped entirely, never split.
#[derive(Debug)]
pub struct LineWriter<'a> {
    writer: &'a NonBlocking,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        self.writer.shared.push(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for NonBlocking {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter { writer: self }
    }
}

/// Flushes buffered log lines when dropped (waiting at most [`DROP_FLUSH_TIMEOUT`]), and reports
/// what was lost.
pub struct LogGuard {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// The outcome of the first shutdown: later ones return it at once.
    shut_down: Mutex<Option<bool>>,
}

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogGuard")
            .field("dropped_lines", &self.dropped_lines())
            .field("failed_writes", &self.failed_writes())
            .finish_non_exhaustive()
    }
}

impl LogGuard {
    /// Waits until every line logged before this call is written; `false` if `timeout` passed first.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.shared.flush(Instant::now() + timeout) == 0
    }

    /// Flushes, then stops the background threads (later lines are dropped and counted). Lines
    /// still unwritten when `timeout` passes are counted as dropped. Only the first call waits:
    /// later calls (and the drop) return its result at once.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        let mut shut_down = self
            .shut_down
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(flushed) = *shut_down {
            return flushed;
        }
        let unwritten = self.shared.flush(Instant::now() + timeout);
        for lane in &self.shared.lanes {
            lane.lock().shutdown = true;
            lane.work.notify_one();
        }
        self.shared.dropped.fetch_add(unwritten, Ordering::Relaxed);
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        // Join only threads that are done, so shutdown keeps its deadline when one is stuck in
        // a write; a stuck one ends with the process.
        if unwritten == 0 {
            for thread in threads {
                let _ = thread.join();
            }
        }
        *shut_down = Some(unwritten == 0);
        unwritten == 0
    }

    /// Lines that did not reach every destination: its buffer was full, the writer was shut
    /// down, or a shutdown's deadline passed before they were written.
    pub fn dropped_lines(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Writes to a destination that failed (closed stdout, full disk, ...).
    pub fn failed_writes(&self) -> u64 {
        self.shared.failed_writes.load(Ordering::Relaxed)
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shutdown(DROP_FLUSH_TIMEOUT);
    }
}

fn run(shared: &Shared, index: usize, mut target: Target) {
    let lane = &shared.lanes[index];
    let mut batch = Vec::new();
    let mut busy = false;
    loop {
        let mut state = lane.lock();
        while state.buffer.is_empty() && !state.shutdown {
            if busy {
                // Lines are flowing: collect for a moment instead of waiting to be woken.
                busy = false;
                state = lane
                    .work
                    .wait_timeout(state, BATCH_DELAY)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            } else {
                state.idle = true;
                state = lane
                    .work
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
        state.idle = false;
        if state.buffer.is_empty() {
            return; // shut down and drained
        }
        busy = true;
        std::mem::swap(&mut batch, &mut state.buffer);
        let upto = state.accepted;
        drop(state);

        let result = target
            .writer
            .write_all(&batch)
            .and_then(|()| target.writer.flush());
        match result {
            Ok(()) if target.failed => {
                target.failed = false;
                warn(&format!("writing logs to {} again", target.name));
            }
            Ok(()) => {}
            Err(error) => {
                shared.failed_writes.fetch_add(1, Ordering::Relaxed);
                if !target.failed {
                    target.failed = true;
                    warn(&format!(
                        "cannot write logs to {} ({error}); lines for it are lost while this lasts",
                        target.name
                    ));
                }
            }
        }
        batch.clear();
        // Give back memory after a burst, keep it for steady traffic.
        if batch.capacity() > 1 << 20 {
            batch = Vec::new();
        }

        lane.lock().written = upto;
        lane.progress.notify_all();
    }
}

/// One line on stderr, never panicking (stderr may be closed too), with the user info and query
/// string of any URL in it redacted.
pub(crate) fn warn(message: &str) {
    datadog_env::warn(message);
}

/// A warning from a helper thread, waiting for it at most `timeout`: a stderr nobody reads
/// cannot hold up the caller (the line is then lost with the process).
pub(crate) fn warn_within(message: &str, timeout: Duration) {
    let message = message.to_owned();
    let (done, written) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("datadog-stderr".into())
        .spawn(move || {
            warn(&message);
            let _ = done.send(());
        });
    if spawned.is_ok() {
        let _ = written.recv_timeout(timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A destination that records what it receives.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<u8>>>);

    impl Write for Recorder {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A destination that always fails, like a closed pipe or a full disk.
    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A destination that blocks until released, like a stalled pipe reader.
    struct Stalled(Arc<(Mutex<bool>, Condvar)>);

    impl Write for Stalled {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let (released, signal) = &*self.0;
            let mut released = released.lock().unwrap();
            while !*released {
                released = signal.wait(released).unwrap();
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_reach_every_destination_after_flush() {
        let (first, second) = (Recorder::default(), Recorder::default());
        let (writer, guard) = NonBlocking::new(
            vec![Box::new(first.clone()), Box::new(second.clone())],
            1024,
        );
        for index in 0..10 {
            writeln!(writer.make_writer(), "line {index}").unwrap();
        }
        assert!(guard.flush(Duration::from_secs(10)));
        let mut expected = Vec::new();
        for index in 0..10 {
            writeln!(expected, "line {index}").unwrap();
        }
        let expected = String::from_utf8(expected).unwrap();
        assert_eq!(
            String::from_utf8(first.0.lock().unwrap().clone()).unwrap(),
            expected
        );
        assert_eq!(
            String::from_utf8(second.0.lock().unwrap().clone()).unwrap(),
            expected
        );
        assert_eq!(guard.dropped_lines(), 0);
    }

    #[test]
    fn a_full_buffer_drops_and_counts_without_blocking() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let (writer, guard) = NonBlocking::new(vec![Box::new(Stalled(Arc::clone(&gate)))], 64);
        // The first line is taken by the stalled thread (or sits in the buffer); the buffer holds
        // at most 64 bytes, so of 100 lines of 10 bytes most must be dropped, and none blocks.
        for _ in 0..100 {
            writer.make_writer().write_all(b"012345678\n").unwrap();
        }
        assert!(
            guard.dropped_lines() >= 100 - 7 - 1,
            "{}",
            guard.dropped_lines()
        );
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        assert!(guard.flush(Duration::from_secs(10)));
    }

    #[test]
    fn a_broken_destination_is_counted_and_the_others_still_get_lines() {
        let healthy = Recorder::default();
        let (writer, guard) =
            NonBlocking::new(vec![Box::new(Broken), Box::new(healthy.clone())], 1024);
        writer.make_writer().write_all(b"one\n").unwrap();
        assert!(guard.flush(Duration::from_secs(10)));
        writer.make_writer().write_all(b"two\n").unwrap();
        assert!(guard.flush(Duration::from_secs(10)));
        assert_eq!(guard.failed_writes(), 2);
        assert_eq!(&*healthy.0.lock().unwrap(), b"one\ntwo\n");
    }

    #[test]
    fn dropping_the_guard_flushes_and_later_lines_are_counted() {
        let recorder = Recorder::default();
        let (writer, guard) = NonBlocking::new(vec![Box::new(recorder.clone())], 1024);
        writer.make_writer().write_all(b"last words\n").unwrap();
        let shared = Arc::clone(&guard.shared);
        drop(guard);
        assert_eq!(&*recorder.0.lock().unwrap(), b"last words\n");
        writer.make_writer().write_all(b"too late\n").unwrap();
        assert_eq!(shared.dropped.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_stalled_destination_does_not_hold_up_the_others() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let healthy = Recorder::default();
        let (writer, guard) = NonBlocking::new(
            vec![
                Box::new(Stalled(Arc::clone(&gate))),
                Box::new(healthy.clone()),
            ],
            256,
        );
        for _ in 0..100 {
            writer.make_writer().write_all(b"012345678\n").unwrap();
            // Let the healthy thread keep its buffer empty, as a real reader would.
            std::thread::sleep(Duration::from_micros(200));
        }
        // The healthy destination got every line, though the stalled one holds at most a few.
        let deadline = Instant::now() + Duration::from_secs(10);
        while healthy.0.lock().unwrap().len() < 1000 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(healthy.0.lock().unwrap().len(), 1000);
        assert!(guard.dropped_lines() >= 70, "{}", guard.dropped_lines());
        // A shutdown with the stalled destination keeps its deadline, counts what is left,
        // and a second shutdown (or the drop) does not wait again.
        let started = Instant::now();
        assert!(!guard.shutdown(Duration::from_millis(100)));
        assert!(!guard.shutdown(Duration::from_secs(30)));
        drop(guard);
        assert!(started.elapsed() < Duration::from_secs(5));
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
    }

    #[test]
    fn flush_gives_up_at_its_deadline_when_the_destination_stalls() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let (writer, guard) = NonBlocking::new(vec![Box::new(Stalled(Arc::clone(&gate)))], 1024);
        writer.make_writer().write_all(b"stuck\n").unwrap();
        assert!(!guard.flush(Duration::from_millis(50)));
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        assert!(guard.flush(Duration::from_secs(10)));
    }
}
