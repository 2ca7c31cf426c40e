//! The [`Statsd`] client and its [`MetricHandle`]s: the public API over the send pipeline.

use std::sync::Arc;
use std::time::Duration;

use crate::aggregation::Slot;
use crate::cadence_sink::StatsdSink;
use crate::capture::{Capture, CapturedLines};
use crate::config::{Profile, StatsdBuilder};
use crate::event::Event;
use crate::message::{Error, Metric, MetricType, MetricValue};
use crate::pipeline::{Destination, Pipeline, push_value};
use crate::service_check::ServiceCheck;
use crate::telemetry::Stats;
use crate::transport::Transport;

/// A DogStatsD client. Cheap to clone (an `Arc` inside); every clone shares one buffer, one
/// aggregator and one socket. Calls never block on I/O and never fail: problems are counted
/// ([`Statsd::stats`]) and logged once per kind.
///
/// Buffered data is sent when a datagram fills, every flush interval (background thread), on
/// [`Statsd::flush`], and when the last clone is dropped.
///
/// ```
/// use datadog_statsd::{Metric, Statsd};
///
/// let statsd = Statsd::builder().url("udp://127.0.0.1:8125").build();
/// statsd.distribution("our-sample-app.sample-metric", 1.0);
/// statsd.count_with_tags("page.views", 1, &["route:/users"]);
/// statsd.send(&Metric::gauge("queue.depth", 12.0).timestamp(1_700_000_000));
/// statsd.flush();
/// ```
#[derive(Clone)]
pub struct Statsd {
    pipeline: Arc<Pipeline>,
}

impl std::fmt::Debug for Statsd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Statsd")
            .field(
                "endpoint",
                &format_args!("{}", self.pipeline.link.destination()),
            )
            .field("max_payload", &self.pipeline.max_payload)
            .finish_non_exhaustive()
    }
}

impl Statsd {
    /// A client configured from the environment (`DD_DOGSTATSD_URL`, `DD_AGENT_HOST`,
    /// `DD_DOGSTATSD_PORT`, `DD_ENV`, `DD_SERVICE`, `DD_VERSION`, `DD_TAGS`, `DD_ENTITY_ID`,
    /// `DD_EXTERNAL_ENV`, `DD_CARDINALITY`, `DD_ORIGIN_DETECTION_ENABLED`, `K_SERVICE`). Never
    /// fails: an invalid value is logged once and its default used.
    pub fn from_env() -> Statsd {
        StatsdBuilder::from_env().build()
    }

    /// A builder starting from the environment; its methods override it.
    pub fn builder() -> StatsdBuilder {
        StatsdBuilder::from_env()
    }

    /// A client that keeps what it sends instead of sending it, for tests: the returned
    /// [`Capture`] reads the exact lines. It starts from [`StatsdBuilder::new`] (the environment
    /// is not read, so tests do not depend on it); [`StatsdBuilder::build_capturing`] takes any
    /// other configuration.
    ///
    /// ```
    /// use datadog_statsd::{Event, Statsd};
    ///
    /// let (statsd, capture) = Statsd::capturing();
    /// statsd.distribution_with_tags("request.latency", 12.5, &["route:/users/{id}"]);
    /// statsd.event(&Event::new("Deployed", "version 42")).unwrap();
    /// assert_eq!(
    ///     capture.lines(),
    ///     ["_e{8,10}:Deployed|version 42", "request.latency:12.5|d|#route:/users/_id_"]
    /// );
    /// ```
    pub fn capturing() -> (Statsd, Capture) {
        StatsdBuilder::new().build_capturing()
    }

    pub(crate) fn from_builder(builder: &StatsdBuilder) -> Statsd {
        let transport = Transport::new(builder.endpoint.clone(), builder.reconnect_interval);
        Statsd {
            pipeline: Pipeline::new(builder, Destination::Socket(transport)),
        }
    }

    /// A client whose datagrams go to a [`Capture`]; no background thread, so what is captured
    /// depends only on the calls made.
    pub(crate) fn capturing_from_builder(builder: &StatsdBuilder) -> (Statsd, Capture) {
        let lines = Arc::new(CapturedLines::default());
        let builder = builder.clone().background_thread(false);
        let pipeline = Pipeline::new(&builder, Destination::Capture(Arc::clone(&lines)));
        let capture = Capture::new(lines, &pipeline);
        (Statsd { pipeline }, capture)
    }

    /// Sends a metric with every option ([`Metric`] builds it).
    #[inline]
    pub fn send(&self, metric: &Metric<'_>) {
        // The one-byte fields go as arguments, read where the metric was just built: read back
        // from memory, the compiler widens them into a load that overlaps other stores, which
        // the CPU cannot serve until those stores complete.
        if let Err(error) = self
            .pipeline
            .metric(metric, metric.kind, metric.cardinality)
        {
            self.pipeline.reject(&error);
        }
    }

    /// Adds `value` to a count.
    pub fn count(&self, name: &str, value: i64) {
        self.send(&Metric::count(name, value));
    }

    /// Adds `value` to a count, with tags.
    pub fn count_with_tags(&self, name: &str, value: i64, tags: &[&str]) {
        self.send(&Metric::count(name, value).tags(tags));
    }

    /// Adds 1 to a count.
    pub fn increment(&self, name: &str) {
        self.count(name, 1);
    }

    /// Subtracts 1 from a count.
    pub fn decrement(&self, name: &str) {
        self.count(name, -1);
    }

    /// Sets a gauge.
    pub fn gauge(&self, name: &str, value: f64) {
        self.send(&Metric::gauge(name, value));
    }

    /// Sets a gauge, with tags.
    pub fn gauge_with_tags(&self, name: &str, value: f64, tags: &[&str]) {
        self.send(&Metric::gauge(name, value).tags(tags));
    }

    /// Records a histogram value.
    pub fn histogram(&self, name: &str, value: f64) {
        self.send(&Metric::histogram(name, value));
    }

    /// Records a histogram value, with tags.
    pub fn histogram_with_tags(&self, name: &str, value: f64, tags: &[&str]) {
        self.send(&Metric::histogram(name, value).tags(tags));
    }

    /// Records a distribution value (the type serverless apps should use).
    pub fn distribution(&self, name: &str, value: f64) {
        self.send(&Metric::distribution(name, value));
    }

    /// Records a distribution value, with tags.
    pub fn distribution_with_tags(&self, name: &str, value: f64, tags: &[&str]) {
        self.send(&Metric::distribution(name, value).tags(tags));
    }

    /// Adds a member to a set.
    pub fn set(&self, name: &str, member: &str) {
        self.send(&Metric::set(name, member));
    }

    /// Adds a member to a set, with tags.
    pub fn set_with_tags(&self, name: &str, member: &str, tags: &[&str]) {
        self.send(&Metric::set(name, member).tags(tags));
    }

    /// Records a duration, in milliseconds.
    pub fn timing(&self, name: &str, duration: Duration) {
        self.send(&Metric::timing(name, duration));
    }

    /// Records a duration, in milliseconds, with tags.
    pub fn timing_with_tags(&self, name: &str, duration: Duration, tags: &[&str]) {
        self.send(&Metric::timing(name, duration).tags(tags));
    }

    /// Sends an event. Refused (and counted) when the title is empty, the receiver profile has
    /// no events, or it does not fit one datagram.
    pub fn event(&self, event: &Event<'_>) -> Result<(), Error> {
        let pipeline = &*self.pipeline;
        let result = if pipeline.profile == Profile::ServerlessCompat {
            Err(Error::Unsupported("an event"))
        } else {
            let mut line = Vec::new();
            event
                .write(&mut line, &pipeline.constant_tags, &pipeline.suffix)
                .and_then(|()| pipeline.push_whole(&line))
        };
        match &result {
            Ok(()) => pipeline.link.counters.event(),
            Err(error) => pipeline.reject(error),
        }
        result
    }

    /// Sends a service check (refused like [`Statsd::event`]).
    pub fn service_check(&self, check: &ServiceCheck<'_>) -> Result<(), Error> {
        let pipeline = &*self.pipeline;
        let result = if pipeline.profile == Profile::ServerlessCompat {
            Err(Error::Unsupported("a service check"))
        } else {
            let mut line = Vec::new();
            check
                .write(&mut line, &pipeline.constant_tags, &pipeline.suffix)
                .and_then(|()| pipeline.push_whole(&line))
        };
        match &result {
            Ok(()) => pipeline.link.counters.service_check(),
            Err(error) => pipeline.reject(error),
        }
        result
    }

    /// Sends everything buffered or aggregated now, without waiting (non-blocking sends).
    /// Call it at the end of a request where background threads get no CPU (Cloud Run
    /// request-based billing) and before shutting down.
    pub fn flush(&self) {
        self.pipeline.flush_all();
    }

    /// Flushes and stops the background thread. The client keeps working: it then sends when a
    /// datagram fills, on [`Statsd::flush`] and on drop.
    pub fn shutdown(&self) {
        self.pipeline.stop_worker();
        self.pipeline.flush_all();
    }

    /// What the client did so far: messages, datagrams and bytes sent, drops by cause.
    pub fn stats(&self) -> Stats {
        self.pipeline.stats()
    }

    /// The largest datagram this client sends.
    pub fn max_payload(&self) -> usize {
        self.pipeline.max_payload
    }

    /// A handle on one metric context (type, name, tags), registered once: every
    /// [`MetricHandle::record`] then skips name and tag processing and the context lookup, the
    /// cheapest way to report the same metric from every request.
    ///
    /// ```
    /// use datadog_statsd::{MetricType, StatsdBuilder};
    ///
    /// let statsd = StatsdBuilder::new().build();
    /// let requests = statsd.handle(MetricType::Distribution, "request.duration", &["route:/users"]);
    /// requests.record(12.5);
    /// ```
    pub fn handle(&self, kind: MetricType, name: &str, tags: &[&str]) -> MetricHandle {
        let pipeline = &self.pipeline;
        let resolved = if name.is_empty() {
            Err(Error::EmptyName)
        } else {
            pipeline.resolve_kind(kind)
        };
        let kind = resolved.clone().unwrap_or(kind);
        let mut head = Vec::new();
        let (name_len, key_len) =
            pipeline.write_context(&mut head, name, tags, kind, pipeline.cardinality);
        let slot = match (&pipeline.aggregator, &resolved) {
            (Some(aggregator), Ok(kind))
                if *kind != MetricType::Set
                    && (!kind.is_sampled() || pipeline.extended_aggregation) =>
            {
                aggregator.slot(&head[..key_len], name_len, *kind)
            }
            _ => None,
        };
        let tail = head.split_off(name_len);
        MetricHandle {
            pipeline: Arc::clone(pipeline),
            kind,
            error: resolved.err(),
            slot,
            head: head.into(),
            tail: tail.into(),
        }
    }

    /// A [`cadence::MetricSink`] writing into this client's buffer and socket, so code written
    /// against cadence shares the non-blocking, buffered transport (without aggregation: cadence
    /// hands over finished lines).
    ///
    /// ```
    /// use cadence::{Counted, StatsdClient};
    /// use datadog_statsd::StatsdBuilder;
    ///
    /// let statsd = StatsdBuilder::new().build();
    /// let cadence = StatsdClient::from_sink("our-sample-app", statsd.cadence_sink());
    /// cadence.count("requests", 1).unwrap();
    /// ```
    pub fn cadence_sink(&self) -> StatsdSink {
        StatsdSink::new(Arc::clone(&self.pipeline))
    }
}

/// A registered metric context; see [`Statsd::handle`]. Cheap to clone.
#[derive(Clone)]
pub struct MetricHandle {
    pipeline: Arc<Pipeline>,
    kind: MetricType,
    /// Why every record is refused (empty name, type the receiver profile lacks).
    error: Option<Error>,
    /// The aggregator's slot; `None` when this context is not aggregated.
    slot: Option<Arc<Slot>>,
    /// `namespace` + name, and `|type|#tags|card:…` + origin fields + `\n`: the line around the
    /// value when it is sent without aggregation.
    head: Box<[u8]>,
    tail: Box<[u8]>,
}

impl std::fmt::Debug for MetricHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricHandle")
            .field("kind", &self.kind)
            .field("name", &String::from_utf8_lossy(&self.head))
            .field("aggregated", &self.slot.is_some())
            .finish_non_exhaustive()
    }
}

impl MetricHandle {
    /// Records a value: a count increment (rounded to an integer), a gauge, or a histogram,
    /// distribution or timing (milliseconds) value. Never blocks or fails.
    pub fn record(&self, value: f64) {
        let pipeline = &*self.pipeline;
        if let Some(error) = &self.error {
            pipeline.reject(error);
            return;
        }
        if !value.is_finite() {
            pipeline.reject(&Error::NonFiniteValue);
            return;
        }
        let value = if self.kind == MetricType::Count {
            MetricValue::Int(value.round() as i64)
        } else {
            MetricValue::Float(value)
        };
        if let (Some(slot), Some(aggregator)) = (&self.slot, &pipeline.aggregator) {
            aggregator.record(slot, &value, 1.0);
            return;
        }
        let pushed = pipeline.push_metric(self.kind, |buf| {
            buf.extend_from_slice(&self.head);
            buf.push(b':');
            push_value(buf, value);
            buf.extend_from_slice(&self.tail);
        });
        if let Err(error) = pushed {
            pipeline.reject(&error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Cardinality;
    use std::net::UdpSocket;

    /// A client sending to a loopback socket the test reads, flushing only when told.
    fn client(builder: StatsdBuilder) -> (Statsd, UdpSocket) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let statsd = builder
            .url(&format!("udp://{}", socket.local_addr().unwrap()))
            .telemetry(false)
            .background_thread(false)
            .build();
        (statsd, socket)
    }

    fn datagram(socket: &UdpSocket) -> String {
        let mut buf = vec![0; 65_536];
        let len = socket.recv(&mut buf).unwrap();
        String::from_utf8(buf[..len].to_vec()).unwrap()
    }

    #[test]
    fn stats_count_calls_still_in_the_batch_and_the_aggregator() {
        let (statsd, socket) = client(StatsdBuilder::new());
        for _ in 0..3 {
            statsd.distribution_with_tags("lat", 1.0, &["a:b"]);
        }
        // A timestamp skips aggregation: this one waits in the batch.
        statsd.send(&Metric::count("hits", 2).timestamp(1_700_000_000));
        statsd.handle(MetricType::Gauge, "depth", &[]).record(4.0);
        let before = statsd.stats();
        assert_eq!(before.metrics, 5);
        assert_eq!(before.metrics_by_type, [1, 1, 0, 3, 0, 0]);
        statsd.flush();
        assert_eq!(
            statsd.stats().metrics_by_type,
            before.metrics_by_type,
            "a flush moves the counts, it neither adds nor loses any"
        );
        let mut lines: Vec<String> = datagram(&socket).lines().map(str::to_owned).collect();
        lines.sort();
        assert_eq!(
            lines,
            ["depth:4|g", "hits:2|c|T1700000000", "lat:1:1:1|d|#a:b"]
        );
    }

    #[test]
    fn cached_lines_with_and_without_a_timestamp() {
        let (statsd, socket) = client(
            StatsdBuilder::new()
                .aggregation(false)
                .namespace("app")
                .tag("env:test")
                .container_id("abc")
                .cardinality(Cardinality::Low),
        );
        // Twice each: the second call of a context goes through the thread's cache.
        for _ in 0..2 {
            statsd.count_with_tags("hits", 1, &["route:/a b"]);
            statsd.send(&Metric::count("hits", 3).tags(&["route:/a b"]).timestamp(7));
            statsd.send(&Metric::gauge("temp", -1.5).timestamp(9));
        }
        statsd.flush();
        let expected = "app.hits:1|c|#route:/a_b,env:test|card:low|c:ci-abc\n\
                        app.hits:3|c|#route:/a_b,env:test|card:low|T7|c:ci-abc\n\
                        app.temp:-1.5|g|#env:test|card:low|T9|c:ci-abc\n";
        assert_eq!(datagram(&socket), expected.repeat(2));
        assert_eq!(statsd.stats().metrics, 6);
    }

    #[test]
    fn a_full_datagram_is_sent_by_the_call_that_fills_it() {
        let (statsd, socket) = client(StatsdBuilder::new().aggregation(false).max_payload(64));
        // 13 bytes a line: four fit one datagram.
        for i in 0..12 {
            statsd.count(&format!("metric.{}", i % 10), 1);
        }
        assert_eq!(
            datagram(&socket),
            "metric.0:1|c\nmetric.1:1|c\nmetric.2:1|c\nmetric.3:1|c\n"
        );
        assert_eq!(datagram(&socket).lines().count(), 4);
        assert_eq!(statsd.stats().packets_sent, 2);
        statsd.flush();
        assert_eq!(
            datagram(&socket),
            "metric.8:1|c\nmetric.9:1|c\nmetric.0:1|c\nmetric.1:1|c\n"
        );
        let stats = statsd.stats();
        assert_eq!((stats.metrics, stats.packets_sent), (12, 3));
    }
}
