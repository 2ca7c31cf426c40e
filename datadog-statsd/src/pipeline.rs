//! The send pipeline behind every [`crate::Statsd`] clone: validation, the per-thread context
//! cache, aggregation, the batch that packs messages into datagrams, and its [`Link`] to the
//! destination. [`worker`] flushes it on a timer.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::aggregation::{Aggregator, Limits};
use crate::buffer::{Batch, Pushed};
use crate::config::{Profile, StatsdBuilder};
use crate::context_cache;
use crate::format::{
    join_tags, push_f64, push_i64, push_name, push_rate, push_set_member, push_tags, push_u64,
    sanitise_external_env,
};
use crate::message::{Cardinality, Error, Metric, MetricType, MetricValue};
use crate::telemetry::Stats;

mod link;
pub(crate) mod worker;

pub(crate) use link::{Destination, Link};

/// Source of [`Pipeline::id`].
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// What every clone of a client shares.
pub(crate) struct Pipeline {
    /// Unique per client, for the per-thread context cache.
    id: u64,
    namespace: Box<str>,
    /// The client's tags, sanitised and comma-joined.
    pub(crate) constant_tags: Box<str>,
    /// `|c:…|e:…` appended to every message.
    pub(crate) suffix: Box<[u8]>,
    pub(crate) cardinality: Option<Cardinality>,
    pub(crate) aggregator: Option<Aggregator>,
    pub(crate) extended_aggregation: bool,
    pub(crate) profile: Profile,
    pub(crate) max_payload: usize,
    batch: Mutex<Batch>,
    pub(crate) link: Link,
    /// The background thread, woken to stop.
    worker: Mutex<Option<std::thread::Thread>>,
    /// One bit per [`Error`] kind already logged.
    warned: AtomicU32,
    telemetry_tags: Option<String>,
    stopped: AtomicBool,
}

impl Pipeline {
    /// A pipeline configured by `builder`, sending to `destination`, with its background thread
    /// when the builder asks for one.
    pub(crate) fn new(builder: &StatsdBuilder, destination: Destination) -> Arc<Pipeline> {
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
        let pipeline = Arc::new(Pipeline {
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
            link: Link::new(destination),
            worker: Mutex::new(None),
            warned: AtomicU32::new(0),
            telemetry_tags,
            stopped: AtomicBool::new(false),
        });
        if builder.background_thread {
            worker::spawn(&pipeline, builder);
        }
        pipeline
    }

    /// Sends `metric`, whose `kind` and `cardinality` are passed separately (see
    /// [`crate::Statsd::send`]).
    pub(crate) fn metric(
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
    pub(crate) fn resolve_kind(&self, kind: MetricType) -> Result<MetricType, Error> {
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
    /// [`Pipeline::write_context`], with where its name and key end). A message too long for a
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
    pub(crate) fn write_context(
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
    pub(crate) fn push_metric(
        &self,
        kind: MetricType,
        write: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), Error> {
        self.push_counted(Some(kind), write)
    }

    /// Appends one message to the batch, sending the datagram it completes.
    pub(crate) fn push(&self, write: impl FnOnce(&mut Vec<u8>)) -> Result<(), Error> {
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
    pub(crate) fn push_whole(&self, line: &[u8]) -> Result<(), Error> {
        self.push(|buf| {
            buf.extend_from_slice(line);
            buf.push(b'\n');
        })
    }

    /// Counts a refused message and logs the first of its kind.
    #[cold]
    pub(crate) fn reject(&self, error: &Error) {
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
    pub(crate) fn stats(&self) -> Stats {
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

    /// Sends the partly filled datagram, if any.
    pub(crate) fn flush_batch(&self) {
        let datagram = lock(&self.batch).take();
        if let Some(datagram) = datagram {
            self.transmit(datagram);
        }
    }

    /// Sends everything aggregated and buffered.
    pub(crate) fn flush_all(&self) {
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

    /// Stops the background thread (if any) at its next wake-up, waking it now.
    pub(crate) fn stop_worker(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        let worker = lock(&self.worker).take();
        if let Some(worker) = worker {
            worker.unpark();
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.stop_worker();
        self.flush_all();
    }
}

/// Locks a mutex, going on with the data a panicking holder left (every update here is a
/// counter or a buffer that stays consistent).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Appends a metric value.
#[inline]
pub(crate) fn push_value(buf: &mut Vec<u8>, value: MetricValue<'_>) {
    match value {
        MetricValue::Int(value) => push_i64(buf, value),
        MetricValue::Float(value) => push_f64(buf, value),
        MetricValue::Member(member) => push_set_member(buf, member),
    }
}
