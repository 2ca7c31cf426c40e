//! Client counters, readable as [`Stats`] and reported as `datadog.dogstatsd.client.*` metrics.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::message::MetricType;

/// A snapshot of what a client did since it was created ([`crate::Statsd::stats`]).
///
/// ```
/// let (statsd, capture) = datadog_statsd::Statsd::capturing();
/// statsd.increment("hits");
/// statsd.flush();
/// let stats = statsd.stats();
/// assert_eq!((stats.metrics, stats.packets_sent, stats.packets_dropped), (1, 1, 0));
/// # drop(capture);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Metric calls accepted (after client-side sampling).
    pub metrics: u64,
    /// Accepted metric calls per type, indexed like [`MetricType::ALL`].
    pub metrics_by_type: [u64; 6],
    /// Events accepted.
    pub events: u64,
    /// Service checks accepted.
    pub service_checks: u64,
    /// Messages refused: invalid input, oversized, unsupported by the receiver profile.
    pub invalid: u64,
    /// Datagrams handed to the kernel.
    pub packets_sent: u64,
    /// Bytes handed to the kernel.
    pub bytes_sent: u64,
    /// Datagrams dropped for any reason.
    pub packets_dropped: u64,
    /// Bytes dropped for any reason.
    pub bytes_dropped: u64,
    /// Datagrams dropped because the socket buffer was full.
    pub packets_dropped_writer: u64,
    /// Datagrams dropped because nobody was listening (refused port, missing Unix socket).
    pub packets_dropped_unreachable: u64,
    /// Contexts flushed by the client-side aggregator.
    pub aggregated_contexts: u64,
}

impl Stats {
    /// Adds metric calls counted outside [`Counters`] (per type, indexed like
    /// [`MetricType::ALL`]).
    pub(crate) fn add_metrics(&mut self, by_type: [u64; 6]) {
        for (total, calls) in self.metrics_by_type.iter_mut().zip(by_type) {
            *total += calls;
        }
        self.metrics = self.metrics_by_type.iter().sum();
    }
}

/// The live counters (atomics, updated without locks). Metric calls are counted where a lock is
/// held anyway (the batch, the aggregation slot) and arrive here in bulk.
#[derive(Default)]
pub(crate) struct Counters {
    metrics_by_type: [AtomicU64; 6],
    events: AtomicU64,
    service_checks: AtomicU64,
    invalid: AtomicU64,
    packets_sent: AtomicU64,
    bytes_sent: AtomicU64,
    packets_dropped_writer: AtomicU64,
    bytes_dropped_writer: AtomicU64,
    packets_dropped_unreachable: AtomicU64,
    bytes_dropped_unreachable: AtomicU64,
    aggregated_contexts: AtomicU64,
    /// The snapshot of the last telemetry report, to send deltas.
    reported: Mutex<Stats>,
}

impl Counters {
    /// Adds `calls` accepted metric calls of one type (aggregated ones when their window is
    /// flushed; the batch counts the others until then, see [`Stats::add_metrics`]).
    pub(crate) fn metrics(&self, kind: MetricType, calls: u64) {
        self.metrics_by_type[kind.index()].fetch_add(calls, Relaxed);
    }

    pub(crate) fn event(&self) {
        self.events.fetch_add(1, Relaxed);
    }

    pub(crate) fn service_check(&self) {
        self.service_checks.fetch_add(1, Relaxed);
    }

    pub(crate) fn invalid(&self) {
        self.invalid.fetch_add(1, Relaxed);
    }

    pub(crate) fn sent(&self, bytes: usize) {
        self.packets_sent.fetch_add(1, Relaxed);
        self.bytes_sent.fetch_add(bytes as u64, Relaxed);
    }

    pub(crate) fn dropped_writer(&self, bytes: usize) {
        self.packets_dropped_writer.fetch_add(1, Relaxed);
        self.bytes_dropped_writer.fetch_add(bytes as u64, Relaxed);
    }

    pub(crate) fn dropped_unreachable(&self, bytes: usize) {
        self.packets_dropped_unreachable.fetch_add(1, Relaxed);
        self.bytes_dropped_unreachable
            .fetch_add(bytes as u64, Relaxed);
    }

    pub(crate) fn aggregated(&self, contexts: usize) {
        self.aggregated_contexts.fetch_add(contexts as u64, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let metrics_by_type: [u64; 6] =
            std::array::from_fn(|i| self.metrics_by_type[i].load(Relaxed));
        let writer = self.packets_dropped_writer.load(Relaxed);
        let unreachable = self.packets_dropped_unreachable.load(Relaxed);
        Stats {
            metrics: metrics_by_type.iter().sum(),
            metrics_by_type,
            events: self.events.load(Relaxed),
            service_checks: self.service_checks.load(Relaxed),
            invalid: self.invalid.load(Relaxed),
            packets_sent: self.packets_sent.load(Relaxed),
            bytes_sent: self.bytes_sent.load(Relaxed),
            packets_dropped: writer + unreachable,
            bytes_dropped: self.bytes_dropped_writer.load(Relaxed)
                + self.bytes_dropped_unreachable.load(Relaxed),
            packets_dropped_writer: writer,
            packets_dropped_unreachable: unreachable,
            aggregated_contexts: self.aggregated_contexts.load(Relaxed),
        }
    }

    /// The `datadog.dogstatsd.client.*` lines for the change from the previous report to `now`
    /// (a [`Counters::snapshot`] completed with the calls counted elsewhere), each ending with
    /// `tags` (the `|#client:rust,...` field) and `\n`.
    pub(crate) fn report(&self, now: Stats, tags: &str) -> Vec<String> {
        let mut reported = self
            .reported
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = std::mem::replace(&mut *reported, now);
        drop(reported);
        let delta = |now: u64, before: u64| now.saturating_sub(before);
        let mut lines = Vec::new();
        let mut line = |name: &str, value: u64, extra: &str| {
            lines.push(format!(
                "datadog.dogstatsd.client.{name}:{value}|c|#{tags}{extra}\n"
            ));
        };
        line("metrics", delta(now.metrics, before.metrics), "");
        for kind in MetricType::ALL {
            let i = kind.index();
            line(
                "metrics_by_type",
                delta(now.metrics_by_type[i], before.metrics_by_type[i]),
                &format!(",metrics_type:{}", kind.telemetry_name()),
            );
        }
        // Every drop happens at the socket write (there is no sender queue), so the writer
        // counters equal the totals, and the queue counters stay 0.
        let totals = [
            ("events", now.events, before.events),
            ("service_checks", now.service_checks, before.service_checks),
            ("metric_dropped_on_receive", now.invalid, before.invalid),
            ("packets_sent", now.packets_sent, before.packets_sent),
            ("bytes_sent", now.bytes_sent, before.bytes_sent),
            (
                "packets_dropped",
                now.packets_dropped,
                before.packets_dropped,
            ),
            ("bytes_dropped", now.bytes_dropped, before.bytes_dropped),
            (
                "packets_dropped_writer",
                now.packets_dropped,
                before.packets_dropped,
            ),
            (
                "bytes_dropped_writer",
                now.bytes_dropped,
                before.bytes_dropped,
            ),
            ("packets_dropped_queue", 0, 0),
            ("bytes_dropped_queue", 0, 0),
            (
                "aggregated_context",
                now.aggregated_contexts,
                before.aggregated_contexts,
            ),
        ];
        for (name, now, before) in totals {
            line(name, delta(now, before), "");
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_deltas_since_the_previous_report() {
        let counters = Counters::default();
        counters.metrics(MetricType::Distribution, 1);
        counters.sent(100);
        let first = counters.report(counters.snapshot(), "client:rust");
        assert!(first.contains(&"datadog.dogstatsd.client.metrics:1|c|#client:rust\n".to_owned()));
        assert!(first.contains(
            &"datadog.dogstatsd.client.metrics_by_type:1|c|#client:rust,metrics_type:distribution\n"
                .to_owned()
        ));
        assert!(
            first.contains(&"datadog.dogstatsd.client.bytes_sent:100|c|#client:rust\n".to_owned())
        );
        counters.metrics(MetricType::Count, 1);
        counters.dropped_unreachable(10);
        let mut now = counters.snapshot();
        now.add_metrics([0, 0, 0, 0, 0, 2]);
        let second = counters.report(now, "client:rust");
        assert!(
            second.contains(&"datadog.dogstatsd.client.bytes_sent:0|c|#client:rust\n".to_owned())
        );
        assert!(
            second.contains(
                &"datadog.dogstatsd.client.packets_dropped:1|c|#client:rust\n".to_owned()
            )
        );
        assert!(
            second.contains(
                &"datadog.dogstatsd.client.metrics_by_type:2|c|#client:rust,metrics_type:timing\n"
                    .to_owned()
            )
        );
        assert!(second.contains(&"datadog.dogstatsd.client.metrics:3|c|#client:rust\n".to_owned()));
        assert_eq!(counters.snapshot().metrics, 2);
    }
}
