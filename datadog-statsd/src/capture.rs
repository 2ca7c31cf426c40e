//! A client that keeps what it sends, for tests: see [`crate::Statsd::capturing`].

use std::fmt;
use std::sync::{Arc, Mutex, Weak};

use crate::pipeline::{Pipeline, lock};

/// The lines a capturing client has sent so far (filled by its [`crate::pipeline::Link`]).
#[derive(Default)]
pub(crate) struct CapturedLines {
    lines: Mutex<Vec<String>>,
}

impl CapturedLines {
    /// Keeps the lines of one datagram.
    pub(crate) fn receive(&self, datagram: &[u8]) {
        let text = String::from_utf8_lossy(datagram);
        lock(&self.lines).extend(text.lines().map(str::to_owned));
    }
}

/// What a capturing client sent: the exact DogStatsD lines (without their `\n`) that it would
/// have written to its socket, after validation, sanitising, namespace, tags, origin fields,
/// sampling and aggregation. Made by [`crate::Statsd::capturing`] or
/// [`crate::StatsdBuilder::build_capturing`]; cheap to clone.
///
/// Reading flushes the client first (like [`crate::Statsd::flush`]), so aggregated values and a
/// partly filled datagram are included.
///
/// ```
/// use datadog_statsd::Statsd;
///
/// let (statsd, capture) = Statsd::capturing();
/// statsd.count_with_tags("page.views", 1, &["route:/users"]);
/// statsd.count_with_tags("page.views", 2, &["route:/users"]);
/// assert_eq!(capture.take(), ["page.views:3|c|#route:/users"]);
/// assert!(capture.lines().is_empty());
/// ```
#[derive(Clone)]
pub struct Capture {
    lines: Arc<CapturedLines>,
    pipeline: Weak<Pipeline>,
}

impl fmt::Debug for Capture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capture")
            .field("lines", &*lock(&self.lines.lines))
            .finish_non_exhaustive()
    }
}

impl Capture {
    pub(crate) fn new(lines: Arc<CapturedLines>, pipeline: &Arc<Pipeline>) -> Capture {
        Capture {
            lines,
            pipeline: Arc::downgrade(pipeline),
        }
    }

    /// Every line sent so far, in order.
    pub fn lines(&self) -> Vec<String> {
        self.flush_client();
        lock(&self.lines.lines).clone()
    }

    /// Every line sent so far, in order, forgetting them: the next read starts empty.
    pub fn take(&self) -> Vec<String> {
        self.flush_client();
        std::mem::take(&mut *lock(&self.lines.lines))
    }

    /// Flushes the client, if it still exists (dropping it flushed it already).
    fn flush_client(&self) {
        if let Some(pipeline) = self.pipeline.upgrade() {
            pipeline.flush_all();
        }
    }
}
