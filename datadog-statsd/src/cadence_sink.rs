//! [`StatsdSink`]: cadence's `MetricSink` over a client's batch and socket.

use std::fmt;
use std::sync::Arc;

use crate::pipeline::Pipeline;

/// cadence's view of a [`crate::Statsd`] client; see [`crate::Statsd::cadence_sink`].
///
/// ```
/// use cadence::{Counted, StatsdClient};
/// use datadog_statsd::Statsd;
///
/// let (statsd, capture) = Statsd::capturing();
/// let cadence = StatsdClient::from_sink("our-sample-app", statsd.cadence_sink());
/// cadence.count("requests", 1).unwrap();
/// assert_eq!(capture.lines(), ["our-sample-app.requests:1|c"]);
/// ```
#[derive(Clone)]
pub struct StatsdSink {
    pipeline: Arc<Pipeline>,
}

impl fmt::Debug for StatsdSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatsdSink").finish_non_exhaustive()
    }
}

impl StatsdSink {
    pub(crate) fn new(pipeline: Arc<Pipeline>) -> StatsdSink {
        StatsdSink { pipeline }
    }
}

impl cadence::MetricSink for StatsdSink {
    fn emit(&self, metric: &str) -> std::io::Result<usize> {
        let line = metric.trim_end_matches('\n');
        match self.pipeline.push(|buf| {
            buf.extend_from_slice(line.as_bytes());
            buf.extend_from_slice(&self.pipeline.suffix);
            buf.push(b'\n');
        }) {
            Ok(()) => Ok(metric.len()),
            Err(error) => {
                self.pipeline.reject(&error);
                Err(std::io::Error::other(error))
            }
        }
    }

    fn flush(&self) -> std::io::Result<()> {
        self.pipeline.flush_batch();
        Ok(())
    }

    fn stats(&self) -> cadence::SinkStats {
        let stats = self.pipeline.link.counters.snapshot();
        cadence::SinkStats {
            bytes_sent: stats.bytes_sent,
            packets_sent: stats.packets_sent,
            bytes_dropped: stats.bytes_dropped,
            packets_dropped: stats.packets_dropped,
        }
    }
}
