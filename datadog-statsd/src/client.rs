//! The [`Statsd`] client: hot path, flushing, background timer, cadence interop.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::aggregation::{Aggregator, Limits, Slot};
use crate::buffer::{Batch, Pushed};
use crate::config::{Profile, StatsdBuilder};
use crate::context_cache;
use crate::event::Event;
use crate::format::{
    join_tags, push_f64, push_i64, push_name, push_rate, push_set_member, push_tags, push_u64,
    sanitise_external_env,
};
use crate::message::{Cardinality, Error, Metric, MetricType, MetricValue};
use crate::service_check::ServiceCheck;
use crate::telemetry::{Counters, Stats};
use crate::transport::{Dropped, Transport};

/// Source of [`Inner::id`].
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

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
/// statsd.send(&Metric::gauge("queue.depth", 12.0).with_timestamp(1_700_000_000));
/// statsd.flush();
/// ```
#[derive(Clone)]
pub struct Statsd {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Statsd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Statsd")
            .field("endpoint", self.inner.link.transport.endpoint())
            .field("max_payload", &self.inner.max_payload)
            .finish_non_exhaustive()
    }
}

struct Inner {
    /// Unique per client, for the per-thread context cache.
    id: u64,
    namespace: Box<str>,
    /// The client's tags, sanitised and comma-joined.
    constant_tags: Box<str>,
    /// `|c:…|e:…` appended to every message.
    suffix: Box<[u8]>,
    cardinality: Option<Cardinality>,
    aggregator: Option<Aggregator>,
    extended_aggregation: bool,
    profile: Profile,
    max_payload: usize,
    batch: Mutex<Batch>,
    link: Link,
    /// The background thread, woken to stop.
    worker: Mutex<Option<std::thread::Thread>>,
    /// One bit per [`Error`] kind already logged.
    warned: AtomicU32,
    telemetry_tags: Option<String>,
    stopped: AtomicBool,
}

/// The socket and the counters.
struct Link {
    transport: Transport,
    counters: Counters,
    /// The destination could not be reached and that was logged; cleared by the next datagram
    /// that goes out, so a later outage is logged again.
    unreachable_warned: AtomicBool,
}

impl Link {
    fn transmit(&self, datagram: &[u8]) {
        match self.transport.send(datagram) {
            Ok(()) => {
                self.counters.sent(datagram.len());
                if self.unreachable_warned.load(Ordering::Relaxed) {
                    self.unreachable_warned.store(false, Ordering::Relaxed);
                }
            }
            Err(failure) => {
                match failure.kind {
                    Dropped::Unreachable => self.counters.dropped_unreachable(datagram.len()),
                    Dropped::Full | Dropped::Failed => {
                        self.counters.dropped_writer(datagram.len());
                    }
                }
                // A full queue is the receiver being busy (counted); anything else means it
                // cannot be reached: say so once, with the error.
                if failure.kind != Dropped::Full
                    && !self.unreachable_warned.swap(true, Ordering::Relaxed)
                {
                    datadog_env::warn(&format!(
                        "cannot send DogStatsD datagrams to {} ({}); they are dropped and counted until it can be reached",
                        self.transport.endpoint(),
                        failure.error
                    ));
                }
            }
        }
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

    pub(crate) fn from_builder(builder: &StatsdBuilder) -> Statsd {
        let max_payload = builder.payload_limit();
        let mut suffix = Vec::new();
        if let Some(origin) = builder.origin() {
            suffix.extend_from_slice(b"|c:");
            push_set_member(&mut suffix, &origin);
        }
        if let Some(external) = builder.external_env.as_deref().map(sanitise_external_env)
            && !external.is_empty()
        {
            suffix.extend_from_slice(b"|e:");
            suffix.extend_from_slice(external.as_bytes());
        }
        let all_tags: Vec<&str> = builder
            .env_tags
            .iter()
            .chain(&builder.tags)
            .map(String::as_str)
            .collect();
        let constant_tags = join_tags(&all_tags);
        let transport = Transport::new(builder.endpoint.clone(), builder.reconnect_interval);
        let telemetry_tags = builder.telemetry.then(|| {
            let mut tags = format!(
                "client:rust,client_version:{},client_transport:{}",
                env!("CARGO_PKG_VERSION"),
                builder.endpoint.telemetry_name()
            );
            if !constant_tags.is_empty() {
                tags.push(',');
                tags.push_str(&constant_tags);
            }
            tags
        });
        let compat = builder.profile == Profile::ServerlessCompat;
        let inner = Arc::new(Inner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            namespace: builder.namespace.clone().into(),
            constant_tags: constant_tags.into(),
            suffix: suffix.into(),
            cardinality: builder.cardinality,
            aggregator: builder.aggregation.then(|| {
                Aggregator::new(Limits {
                    max_contexts: builder.max_contexts,
                    max_samples: builder.max_samples_per_context,
                })
            }),
            // The compat receiver keeps only the first packed value.
            extended_aggregation: builder.extended_aggregation && !compat,
            profile: builder.profile,
            max_payload,
            batch: Mutex::new(Batch::new(max_payload)),
            link: Link {
                transport,
                counters: Counters::default(),
                unreachable_warned: AtomicBool::new(false),
            },
            worker: Mutex::new(None),
            warned: AtomicU32::new(0),
            telemetry_tags,
            stopped: AtomicBool::new(false),
        });
        if builder.background_thread {
            spawn_worker(&inner, builder);
        }
        Statsd { inner }
    }

    /// Sends a metric with every option ([`Metric`] builds it).
    #[inline]
    pub fn send(&self, metric: &Metric<'_>) {
        // The one-byte fields go as arguments, read where the metric was just built: read back
        // from memory, the compiler widens them into a load that overlaps other stores, which
        // the CPU cannot serve until those stores complete.
        if let Err(error) = self.inner.metric(metric, metric.kind, metric.cardinality) {
            self.inner.reject(&error);
        }
    }

    /// Adds `value` to a count.
    pub fn count(&self, name: &str, value: i64) {
        self.send(&Metric::count(name, value));
    }

    /// Adds `value` to a count, with tags.
    pub fn count_with_tags(&self, name: &str, value: i64, tags: &[&str]) {
        self.send(&Metric::count(name, value).with_tags(tags));
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
        self.send(&Metric::gauge(name, value).with_tags(tags));
    }

    /// Records a histogram value.
    pub fn histogram(&self, name: &str, value: f64) {
        self.send(&Metric::histogram(name, value));
    }

    /// Records a histogram value, with tags.
    pub fn histogram_with_tags(&self, name: &str, value: f64, tags: &[&str]) {
        self.send(&Metric::histogram(name, value).with_tags(tags));
    }

    /// Records a distribution value (the type serverless apps should use).
    pub fn distribution(&self, name: &str, value: f64) {
        self.send(&Metric::distribution(name, value));
    }

    /// Records a distribution value, with tags.
    pub fn distribution_with_tags(&self, name: &str, value: f64, tags: &[&str]) {
        self.send(&Metric::distribution(name, value).with_tags(tags));
    }

    /// Adds a member to a set.
    pub fn set(&self, name: &str, member: &str) {
        self.send(&Metric::set(name, member));
    }

    /// Adds a member to a set, with tags.
    pub fn set_with_tags(&self, name: &str, member: &str, tags: &[&str]) {
        self.send(&Metric::set(name, member).with_tags(tags));
    }

    /// Records a duration, in milliseconds.
    pub fn timing(&self, name: &str, duration: Duration) {
        self.send(&Metric::timing(name, duration));
    }

    /// Records a duration, in milliseconds, with tags.
    pub fn timing_with_tags(&self, name: &str, duration: Duration, tags: &[&str]) {
        self.send(&Metric::timing(name, duration).with_tags(tags));
    }

    /// Sends an event. Refused (and counted) when the title is empty, the receiver profile has
    /// no events, or it does not fit one datagram.
    pub fn event(&self, event: &Event<'_>) -> Result<(), Error> {
        let inner = &*self.inner;
        let result = if inner.profile == Profile::ServerlessCompat {
            Err(Error::Unsupported("an event"))
        } else {
            let mut line = Vec::new();
            event
                .write(&mut line, &inner.constant_tags, &inner.suffix)
                .and_then(|()| inner.push_whole(&line))
        };
        match &result {
            Ok(()) => inner.link.counters.event(),
            Err(error) => inner.reject(error),
        }
        result
    }

    /// Sends a service check (refused like [`Statsd::event`]).
    pub fn service_check(&self, check: &ServiceCheck<'_>) -> Result<(), Error> {
        let inner = &*self.inner;
        let result = if inner.profile == Profile::ServerlessCompat {
            Err(Error::Unsupported("a service check"))
        } else {
            let mut line = Vec::new();
            check
                .write(&mut line, &inner.constant_tags, &inner.suffix)
                .and_then(|()| inner.push_whole(&line))
        };
        match &result {
            Ok(()) => inner.link.counters.service_check(),
            Err(error) => inner.reject(error),
        }
        result
    }

    /// Sends everything buffered or aggregated now, without waiting (non-blocking sends).
    /// Call it at the end of a request where background threads get no CPU (Cloud Run
    /// request-based billing) and before shutting down.
    pub fn flush(&self) {
        self.inner.flush_all();
    }

    /// Flushes and stops the background thread. The client keeps working: it then sends when a
    /// datagram fills, on [`Statsd::flush`] and on drop.
    pub fn shutdown(&self) {
        self.inner.stop_worker();
        self.inner.flush_all();
    }

    /// What the client did so far: messages, datagrams and bytes sent, drops by cause.
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// The largest datagram this client sends.
    pub fn max_payload(&self) -> usize {
        self.inner.max_payload
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
        let inner = &self.inner;
        let resolved = if name.is_empty() {
            Err(Error::EmptyName)
        } else {
            inner.resolve_kind(kind)
        };
        let kind = resolved.clone().unwrap_or(kind);
        let mut head = Vec::new();
        let (name_len, key_len) =
            inner.write_context(&mut head, name, tags, kind, inner.cardinality);
        let slot = match (&inner.aggregator, &resolved) {
            (Some(aggregator), Ok(kind))
                if *kind != MetricType::Set
                    && (!kind.is_sampled() || inner.extended_aggregation) =>
            {
                aggregator.slot(&head[..key_len], name_len, *kind)
            }
            _ => None,
        };
        let tail = head.split_off(name_len);
        MetricHandle {
            inner: Arc::clone(inner),
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
        StatsdSink {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// A registered metric context; see [`Statsd::handle`]. Cheap to clone.
#[derive(Clone)]
pub struct MetricHandle {
    inner: Arc<Inner>,
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
        let inner = &*self.inner;
        if let Some(error) = &self.error {
            inner.reject(error);
            return;
        }
        if !value.is_finite() {
            inner.reject(&Error::NonFiniteValue);
            return;
        }
        let value = if self.kind == MetricType::Count {
            MetricValue::Int(value.round() as i64)
        } else {
            MetricValue::Float(value)
        };
        if let (Some(slot), Some(aggregator)) = (&self.slot, &inner.aggregator) {
            aggregator.record(slot, &value, 1.0);
            return;
        }
        let pushed = inner.push_metric(self.kind, |buf| {
            buf.extend_from_slice(&self.head);
            buf.push(b':');
            push_value(buf, value);
            buf.extend_from_slice(&self.tail);
        });
        if let Err(error) = pushed {
            inner.reject(&error);
        }
    }
}

/// cadence's view of a [`Statsd`] client; see [`Statsd::cadence_sink`].
#[derive(Clone)]
pub struct StatsdSink {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for StatsdSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsdSink").finish_non_exhaustive()
    }
}

impl cadence::MetricSink for StatsdSink {
    fn emit(&self, metric: &str) -> std::io::Result<usize> {
        let line = metric.trim_end_matches('\n');
        match self.inner.push(|buf| {
            buf.extend_from_slice(line.as_bytes());
            buf.extend_from_slice(&self.inner.suffix);
            buf.push(b'\n');
        }) {
            Ok(()) => Ok(metric.len()),
            Err(error) => {
                self.inner.reject(&error);
                Err(std::io::Error::other(error))
            }
        }
    }

    fn flush(&self) -> std::io::Result<()> {
        self.inner.flush_batch();
        Ok(())
    }

    fn stats(&self) -> cadence::SinkStats {
        let stats = self.inner.link.counters.snapshot();
        cadence::SinkStats {
            bytes_sent: stats.bytes_sent,
            packets_sent: stats.packets_sent,
            bytes_dropped: stats.bytes_dropped,
            packets_dropped: stats.packets_dropped,
        }
    }
}

impl Inner {
    /// Sends `metric`, whose `kind` and `cardinality` are passed separately (see
    /// [`Statsd::send`]).
    fn metric(
        &self,
        metric: &Metric<'_>,
        kind: MetricType,
        cardinality: Option<Cardinality>,
    ) -> Result<(), Error> {
        if metric.name.is_empty() {
            return Err(Error::EmptyName);
        }
        let compat = self.profile == Profile::ServerlessCompat;
        let kind = self.resolve_kind(kind)?;
        if let MetricValue::Float(value) = metric.value
            && !value.is_finite()
        {
            return Err(Error::NonFiniteValue);
        }
        let timestamp = match metric.timestamp {
            Some(0) => return Err(Error::InvalidTimestamp),
            Some(_) if !matches!(kind, MetricType::Count | MetricType::Gauge) => {
                return Err(Error::InvalidTimestamp);
            }
            other => other,
        };
        // The compat receiver ignores `@rate`: sampling there would lose data.
        let rate = if compat { 1.0 } else { metric.sample_rate };
        let aggregator = self
            .aggregator
            .as_ref()
            .filter(|_| timestamp.is_none() && (!kind.is_sampled() || self.extended_aggregation));
        // Aggregated counts, gauges and sets are exact without sampling (datadog-go does the same).
        let sampled = aggregator.is_none() || kind.is_sampled();
        if sampled && rate < 1.0 && fastrand::f64() >= rate {
            return Ok(());
        }
        let cardinality = cardinality.or(self.cardinality);
        // Not aggregated: counts, gauges and sets keep their (full) rate, as they were not sampled.
        let line_rate = if sampled { rate } else { 1.0 };
        context_cache::with(move |cache| {
            let Some(cache) = cache else {
                // A re-entrant call (from a log hook, say): no cache, the line is built here.
                let mut line = Vec::new();
                let (name_len, key_len) =
                    self.write_context(&mut line, metric.name, metric.tags, kind, cardinality);
                if let Some(aggregator) = aggregator
                    && aggregator.add(&line[..key_len], name_len, kind, metric.value, rate)
                {
                    return;
                }
                return self.push_line(
                    &line,
                    (name_len, key_len),
                    kind,
                    metric.value,
                    line_rate,
                    timestamp,
                );
            };
            let entry = cache.find_or_insert(
                self.id,
                kind,
                cardinality,
                metric.name,
                metric.tags,
                |line| self.write_context(line, metric.name, metric.tags, kind, cardinality),
            );
            if let Some(aggregator) = aggregator {
                if entry.slot.is_none() {
                    entry.slot =
                        aggregator.slot(&entry.line[..entry.key_len], entry.name_len, kind);
                }
                if let Some(slot) = &entry.slot {
                    aggregator.record(slot, &metric.value, rate);
                    return;
                }
            }
            self.push_line(
                &entry.line,
                (entry.name_len, entry.key_len),
                kind,
                metric.value,
                line_rate,
                timestamp,
            );
        });
        Ok(())
    }

    /// The type actually sent: the compat receiver has distributions but no histograms,
    /// timings or sets.
    fn resolve_kind(&self, kind: MetricType) -> Result<MetricType, Error> {
        if self.profile != Profile::ServerlessCompat {
            return Ok(kind);
        }
        match kind {
            MetricType::Histogram | MetricType::Timing => Ok(MetricType::Distribution),
            MetricType::Set => Err(Error::Unsupported("a set")),
            kind => Ok(kind),
        }
    }

    /// Appends a metric message, `name:value|type|#tags|card:…|@rate|T…` and the origin fields
    /// (the Agent reads the fields after the type in any order), from a context's `line` (see
    /// [`Inner::write_context`], with where its name and key end). A message too long for a
    /// datagram is counted and logged here: returning the error would pass it through memory
    /// on every call.
    fn push_line(
        &self,
        line: &[u8],
        (name_len, key_len): (usize, usize),
        kind: MetricType,
        value: MetricValue<'_>,
        rate: f64,
        timestamp: Option<u64>,
    ) {
        let (name, rest) = line.split_at(name_len);
        let pushed = self.push_metric(kind, |buf| {
            buf.extend_from_slice(name);
            buf.push(b':');
            push_value(buf, value);
            if rate >= 1.0 && timestamp.is_none() {
                buf.extend_from_slice(rest);
                return;
            }
            let (fields, origin) = rest.split_at(key_len - name_len);
            buf.extend_from_slice(fields);
            push_rate(buf, rate);
            if let Some(timestamp) = timestamp {
                buf.extend_from_slice(b"|T");
                push_u64(buf, timestamp);
            }
            buf.extend_from_slice(origin);
        });
        if let Err(error) = pushed {
            self.reject(&error);
        }
    }

    /// Writes a context's line into `line`: the name (namespace included, sanitised), the
    /// context key's fields `|type|#tags|card:…`, the origin fields and `\n`. Returns where the
    /// name and the context key (`name|type|#tags|card:…`) end.
    fn write_context(
        &self,
        line: &mut Vec<u8>,
        name: &str,
        tags: &[&str],
        kind: MetricType,
        cardinality: Option<Cardinality>,
    ) -> (usize, usize) {
        line.extend_from_slice(self.namespace.as_bytes());
        push_name(line, name);
        let name_len = line.len();
        line.push(b'|');
        line.extend_from_slice(kind.as_str().as_bytes());
        push_tags(line, tags, &self.constant_tags);
        if let Some(cardinality) = cardinality {
            line.extend_from_slice(b"|card:");
            line.extend_from_slice(cardinality.as_str().as_bytes());
        }
        let key_len = line.len();
        line.extend_from_slice(&self.suffix);
        line.push(b'\n');
        (name_len, key_len)
    }

    /// Appends a metric message of type `kind` (counted as such) to the batch.
    fn push_metric(&self, kind: MetricType, write: impl FnOnce(&mut Vec<u8>)) -> Result<(), Error> {
        self.push_counted(Some(kind), write)
    }

    /// Appends one message to the batch, sending the datagram it completes.
    fn push(&self, write: impl FnOnce(&mut Vec<u8>)) -> Result<(), Error> {
        self.push_counted(None, write)
    }

    /// Appends one message to the batch (a metric of type `kind`, if any), sending the datagram
    /// it completes.
    fn push_counted(
        &self,
        kind: Option<MetricType>,
        write: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), Error> {
        let pushed = {
            let mut batch = lock(&self.batch);
            if let Some(kind) = kind {
                batch.metrics_by_type[kind.index()] += 1;
            }
            batch.push(write)
        };
        match pushed {
            Pushed::Buffered => Ok(()),
            Pushed::Full(datagram) => {
                // Sent from the calling thread: one non-blocking syscall per datagram (hundreds
                // of metrics) costs less CPU than waking another thread to do it, and works where
                // background threads get no CPU (Cloud Run after the response).
                self.transmit(datagram);
                Ok(())
            }
            Pushed::TooLong(len) => Err(Error::TooLong {
                len,
                max: self.max_payload,
            }),
        }
    }

    /// Appends a formatted message (no trailing newline yet).
    fn push_whole(&self, line: &[u8]) -> Result<(), Error> {
        self.push(|buf| {
            buf.extend_from_slice(line);
            buf.push(b'\n');
        })
    }

    #[cold]
    fn reject(&self, error: &Error) {
        self.link.counters.invalid();
        let bit = 1 << error.index();
        if self.warned.fetch_or(bit, Ordering::Relaxed) & bit == 0 {
            datadog_env::warn(&format!(
                "DogStatsD message dropped: {error} (further ones are only counted)"
            ));
        }
    }

    /// Sends a datagram, then hands its buffer back to the batch.
    fn transmit(&self, datagram: Vec<u8>) {
        self.link.transmit(&datagram);
        lock(&self.batch).recycle(datagram);
    }

    /// The counters, with the metric calls still counted by the batch and the aggregator.
    fn stats(&self) -> Stats {
        let read = |pending: [u64; 6]| {
            let batch = lock(&self.batch);
            let mut stats = self.link.counters.snapshot();
            stats.add_metrics(batch.metrics_by_type);
            stats.add_metrics(pending);
            stats
        };
        match &self.aggregator {
            Some(aggregator) => aggregator.with_pending(read),
            None => read([0; 6]),
        }
    }

    fn flush_aggregator(&self) {
        if let Some(aggregator) = &self.aggregator {
            let counters = &self.link.counters;
            let contexts =
                aggregator.flush(&self.suffix, self.max_payload, counters, &mut |line| {
                    if let Err(error) = self.push(|buf| buf.extend_from_slice(line)) {
                        self.reject(&error);
                    }
                });
            self.link.counters.aggregated(contexts);
        }
    }

    fn flush_batch(&self) {
        let datagram = lock(&self.batch).take();
        if let Some(datagram) = datagram {
            self.transmit(datagram);
        }
    }

    fn flush_all(&self) {
        self.flush_aggregator();
        self.flush_batch();
    }

    fn report_telemetry(&self) {
        if let Some(tags) = &self.telemetry_tags {
            for line in self.link.counters.report(self.stats(), tags) {
                // Telemetry lines are short; they always fit.
                let _ = self.push(|buf| buf.extend_from_slice(line.as_bytes()));
            }
        }
    }

    fn stop_worker(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        let worker = self
            .worker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(worker) = worker {
            worker.unpark();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Appends a metric value.
#[inline]
fn push_value(buf: &mut Vec<u8>, value: MetricValue<'_>) {
    match value {
        MetricValue::Int(value) => push_i64(buf, value),
        MetricValue::Float(value) => push_f64(buf, value),
        MetricValue::Member(member) => push_set_member(buf, member),
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_worker();
        self.flush_all();
    }
}

/// Starts the thread that flushes on a timer, re-opens a UDP socket whose host did not resolve
/// and reports telemetry. It holds only a weak reference: dropping the last client ends it.
fn spawn_worker(inner: &Arc<Inner>, builder: &StatsdBuilder) {
    let weak: Weak<Inner> = Arc::downgrade(inner);
    let tick = builder.flush_interval;
    let aggregation_every = builder.aggregation_interval;
    let telemetry_every = builder.telemetry_interval;
    let spawned = std::thread::Builder::new()
        .name("datadog-statsd".into())
        .spawn(move || {
            let mut next_aggregation = Instant::now() + aggregation_every;
            let mut next_telemetry = Instant::now() + telemetry_every;
            loop {
                std::thread::park_timeout(tick);
                let Some(inner) = weak.upgrade() else { break };
                if inner.stopped.load(Ordering::Relaxed) {
                    break;
                }
                let now = Instant::now();
                if now >= next_aggregation {
                    inner.flush_aggregator();
                    next_aggregation = now + aggregation_every;
                }
                if now >= next_telemetry {
                    inner.report_telemetry();
                    next_telemetry = now + telemetry_every;
                }
                inner.flush_batch();
                inner.link.transport.maintain();
            }
        });
    match spawned {
        Ok(handle) => {
            *inner
                .worker
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(handle.thread().clone());
        }
        Err(error) => {
            datadog_env::warn(&format!(
                "no DogStatsD background thread ({error}); sending when datagrams fill, on flush() and on drop"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        statsd.send(&Metric::count("hits", 2).with_timestamp(1_700_000_000));
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
            statsd.send(
                &Metric::count("hits", 3)
                    .with_tags(&["route:/a b"])
                    .with_timestamp(7),
            );
            statsd.send(&Metric::gauge("temp", -1.5).with_timestamp(9));
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
