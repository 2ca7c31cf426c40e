//! The metric messages a caller builds: type, value, tags, sample rate, timestamp, cardinality.

use std::fmt;
use std::time::Duration;

/// The six DogStatsD metric types.
///
/// ```
/// use datadog_statsd::{MetricType, Statsd};
///
/// let (statsd, capture) = Statsd::capturing();
/// statsd.handle(MetricType::Gauge, "queue.depth", &[]).record(4.0);
/// assert_eq!(MetricType::Gauge.as_str(), "g");
/// assert_eq!(capture.lines(), ["queue.depth:4|g"]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetricType {
    /// `c`: summed by the Agent per flush.
    Count,
    /// `g`: the last value wins.
    Gauge,
    /// `h`: statistics computed by the Agent per host.
    Histogram,
    /// `d`: a global distribution (DDSketch); what serverless apps should use.
    Distribution,
    /// `s`: unique values per flush.
    Set,
    /// `ms`: a histogram in milliseconds.
    Timing,
}

impl MetricType {
    /// Every type, in the order of [`crate::Stats::metrics_by_type`].
    pub const ALL: [MetricType; 6] = [
        MetricType::Count,
        MetricType::Gauge,
        MetricType::Histogram,
        MetricType::Distribution,
        MetricType::Set,
        MetricType::Timing,
    ];

    /// The type field of the datagram (`c`, `g`, `h`, `d`, `s`, `ms`).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Count => "c",
            MetricType::Gauge => "g",
            MetricType::Histogram => "h",
            MetricType::Distribution => "d",
            MetricType::Set => "s",
            MetricType::Timing => "ms",
        }
    }

    /// The name used in client telemetry's `metrics_type:` tag.
    pub(crate) fn telemetry_name(self) -> &'static str {
        match self {
            MetricType::Count => "count",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Distribution => "distribution",
            MetricType::Set => "set",
            MetricType::Timing => "timing",
        }
    }

    /// A dense index (0..6) for per-type counters.
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Whether client-side aggregation packs its values rather than combining them.
    pub(crate) fn is_sampled(self) -> bool {
        matches!(
            self,
            MetricType::Histogram | MetricType::Distribution | MetricType::Timing
        )
    }
}

/// Tag-enrichment cardinality the Agent applies (`card:` field, protocol v1.6).
///
/// ```
/// use datadog_statsd::{Cardinality, Metric, Statsd};
///
/// let (statsd, capture) = Statsd::capturing();
/// statsd.send(&Metric::count("hits", 1).cardinality(Cardinality::High));
/// assert_eq!(Cardinality::parse("LOW"), Some(Cardinality::Low));
/// assert_eq!(capture.lines(), ["hits:1|c|card:high"]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cardinality {
    /// `none`
    None,
    /// `low`
    Low,
    /// `orchestrator`
    Orchestrator,
    /// `high`
    High,
}

impl Cardinality {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Cardinality::None => "none",
            Cardinality::Low => "low",
            Cardinality::Orchestrator => "orchestrator",
            Cardinality::High => "high",
        }
    }

    /// Parses a wire value (case-insensitive); `None` for anything else.
    pub fn parse(value: &str) -> Option<Cardinality> {
        match value.trim().to_ascii_lowercase().as_str() {
            "none" => Some(Cardinality::None),
            "low" => Some(Cardinality::Low),
            "orchestrator" => Some(Cardinality::Orchestrator),
            "high" => Some(Cardinality::High),
            _ => None,
        }
    }
}

/// The value of a metric.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum MetricValue<'a> {
    /// A count increment.
    Int(i64),
    /// A gauge, histogram, distribution or timing value.
    Float(f64),
    /// A set member.
    Member(&'a str),
}

/// One metric with everything the protocol can carry, for [`crate::Statsd::send`].
///
/// ```
/// use datadog_statsd::Metric;
///
/// let (statsd, capture) = datadog_statsd::StatsdBuilder::new()
///     .aggregation(false)
///     .build_capturing();
/// statsd.send(&Metric::count("page.views", 1).tags(&["route:/users"]).timestamp(1_700_000_000));
/// assert_eq!(capture.lines(), ["page.views:1|c|#route:/users|T1700000000"]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Metric<'a> {
    pub(crate) kind: MetricType,
    pub(crate) name: &'a str,
    pub(crate) value: MetricValue<'a>,
    pub(crate) tags: &'a [&'a str],
    pub(crate) sample_rate: f64,
    pub(crate) timestamp: Option<u64>,
    pub(crate) cardinality: Option<Cardinality>,
}

impl<'a> Metric<'a> {
    fn new(kind: MetricType, name: &'a str, value: MetricValue<'a>) -> Self {
        Metric {
            kind,
            name,
            value,
            tags: &[],
            sample_rate: 1.0,
            timestamp: None,
            cardinality: None,
        }
    }

    /// A count (`c`).
    pub fn count(name: &'a str, value: i64) -> Self {
        Metric::new(MetricType::Count, name, MetricValue::Int(value))
    }

    /// A gauge (`g`).
    pub fn gauge(name: &'a str, value: f64) -> Self {
        Metric::new(MetricType::Gauge, name, MetricValue::Float(value))
    }

    /// A histogram value (`h`).
    pub fn histogram(name: &'a str, value: f64) -> Self {
        Metric::new(MetricType::Histogram, name, MetricValue::Float(value))
    }

    /// A distribution value (`d`).
    pub fn distribution(name: &'a str, value: f64) -> Self {
        Metric::new(MetricType::Distribution, name, MetricValue::Float(value))
    }

    /// A set member (`s`).
    pub fn set(name: &'a str, member: &'a str) -> Self {
        Metric::new(MetricType::Set, name, MetricValue::Member(member))
    }

    /// A timing (`ms`), sent in milliseconds.
    pub fn timing(name: &'a str, duration: Duration) -> Self {
        Metric::new(
            MetricType::Timing,
            name,
            MetricValue::Float(duration.as_secs_f64() * 1000.0),
        )
    }

    /// A timing (`ms`) already in milliseconds.
    pub fn timing_ms(name: &'a str, milliseconds: f64) -> Self {
        Metric::new(MetricType::Timing, name, MetricValue::Float(milliseconds))
    }

    /// Tags (`key:value` or bare values) for this metric, in addition to the client's own.
    pub fn tags(mut self, tags: &'a [&'a str]) -> Self {
        self.tags = tags;
        self
    }

    /// Sample rate in (0, 1]: the client keeps the metric with this probability and tells the
    /// Agent the rate, so counts are scaled back. Values outside (0, 1] mean 1.
    pub fn sample_rate(mut self, rate: f64) -> Self {
        self.sample_rate = if rate > 0.0 && rate < 1.0 { rate } else { 1.0 };
        self
    }

    /// A Unix timestamp in seconds (`|T`, counts and gauges only): the point skips the Agent's
    /// aggregation and the client's.
    pub fn timestamp(mut self, unix_seconds: u64) -> Self {
        self.timestamp = Some(unix_seconds);
        self
    }

    /// The tag-enrichment cardinality for this metric, overriding the client's default.
    pub fn cardinality(mut self, cardinality: Cardinality) -> Self {
        self.cardinality = Some(cardinality);
        self
    }
}

/// Why a message was not sent. Metric calls report these to the log (one warning per kind) and
/// count them; events and service checks also return them.
///
/// ```
/// use datadog_statsd::{Error, Event, Statsd};
///
/// let (statsd, _capture) = Statsd::capturing();
/// assert_eq!(statsd.event(&Event::new("", "no title")), Err(Error::EmptyTitle));
/// assert_eq!(statsd.stats().invalid, 1);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// The metric or service-check name is empty.
    EmptyName,
    /// The value is NaN or infinite.
    NonFiniteValue,
    /// A timestamp of 0, or one on a type other than count and gauge.
    InvalidTimestamp,
    /// The event title is empty (the Agent drops such events).
    EmptyTitle,
    /// The message is larger than the largest datagram the client sends.
    TooLong {
        /// Bytes of the formatted message.
        len: usize,
        /// The datagram limit.
        max: usize,
    },
    /// The receiver profile does not support this kind of message.
    Unsupported(&'static str),
}

impl Error {
    /// A dense index for "warn once per kind".
    pub(crate) fn index(&self) -> u32 {
        match self {
            Error::EmptyName => 0,
            Error::NonFiniteValue => 1,
            Error::InvalidTimestamp => 2,
            Error::EmptyTitle => 3,
            Error::TooLong { .. } => 4,
            Error::Unsupported(_) => 5,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::EmptyName => f.write_str("empty metric or service-check name"),
            Error::NonFiniteValue => f.write_str("metric value is NaN or infinite"),
            Error::InvalidTimestamp => {
                f.write_str("timestamps must be at least 1 and only go on counts and gauges")
            }
            Error::EmptyTitle => f.write_str("empty event title"),
            Error::TooLong { len, max } => {
                write!(
                    f,
                    "message of {len} bytes exceeds the {max}-byte datagram limit"
                )
            }
            Error::Unsupported(what) => {
                write!(
                    f,
                    "{what} is not supported by the configured receiver profile"
                )
            }
        }
    }
}

impl std::error::Error for Error {}
