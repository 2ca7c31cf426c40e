//! What the `log` bridge tests share. Each test is its own binary: the `log` crate's logger is
//! set once per process.

use std::sync::atomic::{AtomicUsize, Ordering};

/// A `log` logger that counts the records it is given.
pub struct CountingLogger(AtomicUsize);

impl CountingLogger {
    pub const fn new() -> Self {
        CountingLogger(AtomicUsize::new(0))
    }

    /// Records given so far.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl log::Log for CountingLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, _: &log::Record<'_>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn flush(&self) {}
}
