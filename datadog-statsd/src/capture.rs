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
/// partly filled datagram are included. Aggregated lines come after the lines sent as they were
/// made, in the aggregator's order rather than the calls' order: sort before comparing several.
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

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::time::Duration;

    use crate::{Cardinality, Event, Metric, ServiceCheck, Statsd, StatsdBuilder, Status};

    /// The same calls on any client.
    fn calls(statsd: &Statsd) {
        for i in 0..3 {
            statsd.count_with_tags("hits", 1, &["route:/a b"]);
            statsd.distribution("latency", f64::from(i) + 0.5);
            statsd.set("users", "ann");
        }
        statsd.gauge("temp", -1.5);
        statsd.send(&Metric::gauge("at", 2.0).timestamp(9));
        statsd.send(&Metric::count("card", 1).cardinality(Cardinality::High));
        statsd.count("", 1);
        statsd.event(&Event::new("title", "text")).unwrap();
        statsd
            .service_check(&ServiceCheck::new("up", Status::Warning))
            .unwrap();
    }

    fn configured() -> StatsdBuilder {
        StatsdBuilder::new()
            .namespace("app")
            .tag("env:test")
            .container_id("abc")
            .telemetry(false)
            .background_thread(false)
    }

    #[test]
    fn captures_exactly_what_a_socket_receives() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let sending = configured()
            .url(&format!("udp://{}", socket.local_addr().unwrap()))
            .build();
        calls(&sending);
        sending.flush();
        let mut buf = vec![0; 65_536];
        let len = socket.recv(&mut buf).unwrap();
        let received: Vec<String> = String::from_utf8_lossy(&buf[..len])
            .lines()
            .map(str::to_owned)
            .collect();

        let (capturing, capture) = configured().build_capturing();
        calls(&capturing);
        assert_eq!(capture.lines(), received);
        assert!(received.contains(&"app.hits:3|c|#route:/a_b,env:test|c:ci-abc".to_owned()));
        assert_eq!(capturing.stats().invalid, 1, "the empty name is refused");
        assert_eq!(capturing.stats().packets_sent, 1);
    }

    #[test]
    fn take_forgets_and_a_dropped_client_leaves_its_last_lines() {
        let (statsd, capture) = Statsd::capturing();
        statsd.increment("a");
        assert_eq!(capture.take(), ["a:1|c"]);
        assert!(capture.take().is_empty());
        statsd.increment("b");
        drop(statsd);
        assert_eq!(capture.lines(), ["b:1|c"], "dropping the client flushed it");
    }

    #[test]
    fn full_datagrams_are_captured_as_they_fill() {
        let (statsd, capture) = StatsdBuilder::new()
            .aggregation(false)
            .max_payload(64)
            .build_capturing();
        for i in 0..12 {
            statsd.count(&format!("metric.{}", i % 10), 1);
        }
        assert_eq!(
            statsd.stats().packets_sent,
            2,
            "two full datagrams went out"
        );
        assert_eq!(capture.lines().len(), 12);
        statsd.count(&"x".repeat(100), 1);
        assert_eq!(statsd.stats().invalid, 1, "too long for a datagram");
    }
}
