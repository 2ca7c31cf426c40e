//! Warnings about bad configuration and an unreachable Agent, through the workspace's one
//! diagnostics channel ([`datadog_env::warn`]: a JSON line on stderr, never through `tracing`).

use std::sync::atomic::{AtomicBool, Ordering};

/// Prints one tracer warning, with the user info and query string of any URL in it redacted.
/// Never panics (stderr may be closed).
pub(crate) fn warn(message: &str) {
    datadog_env::warn(message);
}

/// A warning printed once until [`reset`](Self::reset): for conditions that repeat (the Agent
/// being down) and would otherwise flood stderr.
#[derive(Default)]
pub(crate) struct WarnOnce(AtomicBool);

impl WarnOnce {
    /// Prints `message()` if this warning is not already active.
    pub(crate) fn warn(&self, message: impl FnOnce() -> String) {
        if !self.0.swap(true, Ordering::Relaxed) {
            warn(&message());
        }
    }

    /// Re-arms the warning (the condition cleared).
    pub(crate) fn reset(&self) {
        self.0.store(false, Ordering::Relaxed);
    }
}
