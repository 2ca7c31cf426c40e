//! Configuration: the `DD_*` environment, with code overrides through [`StatsdBuilder`].

use std::time::Duration;

use crate::message::Cardinality;
use crate::origin;
use crate::transport::Endpoint;

/// Which DogStatsD receiver the client talks to.
///
/// ```
/// use datadog_statsd::{Profile, StatsdBuilder};
///
/// let (statsd, capture) = StatsdBuilder::new()
///     .profile(Profile::ServerlessCompat)
///     .build_capturing();
/// statsd.histogram("request.size", 512.0);
/// assert_eq!(capture.lines(), ["request.size:512|d"], "no histograms there: a distribution");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Profile {
    /// The Datadog Agent's DogStatsD, including `serverless-init` on Cloud Run: the full protocol.
    #[default]
    Agent,
    /// Receivers that keep only the first packed value, ignore `@rate` and drop events, service
    /// checks and sets (Datadog's Rust `serverless-compat`: Cloud Functions gen1, Azure
    /// Functions). Values are never packed or sampled; histograms and timings go out as
    /// distributions; sets, events and service checks are refused.
    ServerlessCompat,
}

/// Builds a [`crate::Statsd`]. [`crate::Statsd::builder`] starts from the environment; every
/// method here overrides it. [`StatsdBuilder::new`] ignores the environment.
///
/// ```
/// use std::time::Duration;
/// use datadog_statsd::Statsd;
///
/// let statsd = Statsd::builder()
///     .url("udp://127.0.0.1:8125")
///     .namespace("our-sample-app")
///     .tag("team:web")
///     .flush_interval(Duration::from_millis(200))
///     .build();
/// statsd.distribution("sample-metric", 1.0);
/// ```
#[derive(Clone, Debug)]
pub struct StatsdBuilder {
    pub(crate) endpoint: Endpoint,
    pub(crate) namespace: String,
    pub(crate) env_tags: Vec<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) max_payload: Option<usize>,
    pub(crate) flush_interval: Duration,
    pub(crate) aggregation: bool,
    pub(crate) extended_aggregation: bool,
    pub(crate) aggregation_interval: Duration,
    pub(crate) max_contexts: usize,
    pub(crate) max_samples_per_context: usize,
    pub(crate) telemetry: bool,
    pub(crate) telemetry_interval: Duration,
    pub(crate) origin_detection: bool,
    pub(crate) container_id: Option<String>,
    pub(crate) external_env: Option<String>,
    pub(crate) cardinality: Option<Cardinality>,
    pub(crate) profile: Profile,
    pub(crate) reconnect_interval: Duration,
    pub(crate) background_thread: bool,
}

impl Default for StatsdBuilder {
    fn default() -> Self {
        StatsdBuilder::new()
    }
}

impl StatsdBuilder {
    /// Defaults only, no environment: UDP to `127.0.0.1:8125`, aggregation on (packing
    /// histograms, distributions and timings too), telemetry on, origin detection off.
    pub fn new() -> Self {
        StatsdBuilder {
            endpoint: Endpoint::default_udp(),
            namespace: String::new(),
            env_tags: Vec::new(),
            tags: Vec::new(),
            max_payload: None,
            flush_interval: Duration::from_millis(100),
            aggregation: true,
            extended_aggregation: true,
            aggregation_interval: Duration::from_secs(2),
            max_contexts: 10_000,
            max_samples_per_context: 8192,
            telemetry: true,
            telemetry_interval: Duration::from_secs(10),
            origin_detection: false,
            container_id: None,
            external_env: None,
            cardinality: None,
            profile: Profile::Agent,
            reconnect_interval: Duration::from_secs(1),
            background_thread: true,
        }
    }

    /// The defaults overridden by the environment (see the crate documentation for the variables).
    pub fn from_env() -> Self {
        StatsdBuilder::from_lookup(|key| std::env::var(key).ok())
    }

    /// Like [`StatsdBuilder::from_env`], reading variables through `lookup` (for tests and for
    /// configuration that does not live in the process environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let env = datadog_env::Env::new(&lookup);
        let mut builder = StatsdBuilder::new();

        let port = env
            .parse(
                "DD_DOGSTATSD_PORT",
                |port: &u16| *port > 0,
                "a port",
                "8125",
            )
            .unwrap_or(8125);
        // DD_DOGSTATSD_HOST is the DogStatsD-specific host; DD_AGENT_HOST the Agent's.
        let host = ["DD_DOGSTATSD_HOST", "DD_AGENT_HOST"]
            .into_iter()
            .find_map(|name| env.text(name).map(|host| (name, host)));
        if let Some((name, host)) = host {
            builder.endpoint = if !host.contains("://") && !datadog_env::is_host(&host) {
                datadog_env::warn_invalid(
                    name,
                    &host,
                    "is not a host name or IP address",
                    "127.0.0.1",
                );
                Endpoint::Udp {
                    host: "127.0.0.1".into(),
                    port,
                }
            } else if host.contains("://") {
                parse_url(&host).unwrap_or_else(|problem| {
                    datadog_env::warn_invalid(name, &host, &format!("({problem})"), "127.0.0.1");
                    Endpoint::Udp {
                        host: "127.0.0.1".into(),
                        port,
                    }
                })
            } else {
                Endpoint::Udp { host, port }
            };
        } else if port != 8125 {
            builder.endpoint = Endpoint::Udp {
                host: "127.0.0.1".into(),
                port,
            };
        }
        if let Some(url) = env.text("DD_DOGSTATSD_URL") {
            match parse_url(&url) {
                Ok(endpoint) => builder.endpoint = endpoint,
                Err(problem) => datadog_env::warn_invalid(
                    "DD_DOGSTATSD_URL",
                    &url,
                    &format!("({problem})"),
                    &builder.endpoint.to_string(),
                ),
            }
        }

        // The service, env, version and tags the tracer and the log layer use too (`K_SERVICE`
        // on Cloud Run, else the executable's name), so metrics join their traces and logs.
        let identity = datadog_env::ServiceIdentity::read(env);
        for (key, value) in [
            ("env", identity.env.as_deref()),
            ("service", Some(identity.service.as_str())),
            ("version", identity.version.as_deref()),
        ] {
            if let Some(value) = value {
                builder.env_tags.push(format!("{key}:{value}"));
            }
        }
        builder
            .env_tags
            .extend(identity.tags.into_iter().map(|(key, value)| {
                if value.is_empty() {
                    key
                } else {
                    format!("{key}:{value}")
                }
            }));
        if let Some(entity) = env.text("DD_ENTITY_ID") {
            builder
                .env_tags
                .push(format!("dd.internal.entity_id:{entity}"));
        }

        // Cloud Run (K_SERVICE) tags by service and revision itself: a container id only costs bytes.
        builder.origin_detection =
            !env.on_cloud_run() && env.flag("DD_ORIGIN_DETECTION_ENABLED", true);
        builder.external_env = env.text("DD_EXTERNAL_ENV");
        if let Some(raw) = env
            .text("DD_CARDINALITY")
            .or_else(|| env.text("DATADOG_CARDINALITY"))
        {
            builder.cardinality = Cardinality::parse(&raw);
            if builder.cardinality.is_none() {
                datadog_env::warn_invalid(
                    "DD_CARDINALITY",
                    &raw,
                    "is not none, low, orchestrator or high",
                    "no cardinality",
                );
            }
        }
        builder.telemetry = !env.flag("DD_DOGSTATSD_DISABLE_TELEMETRY", false);
        builder
    }

    /// Where to send: `udp://host[:port]`, `unix:///path` or `unixgram:///path` (Unix
    /// datagram), `unixstream:///path` (Unix sockets on Unix only). An invalid URL is logged once
    /// and the current endpoint kept.
    pub fn url(mut self, url: &str) -> Self {
        match parse_url(url) {
            Ok(endpoint) => self.endpoint = endpoint,
            Err(problem) => {
                let shown = datadog_env::redact_urls(url);
                let current = &self.endpoint;
                datadog_env::warn_once(&format!("DogStatsD URL {shown}"), || {
                    format!("DogStatsD URL {shown:?} ({problem}) is not used; using {current}")
                });
            }
        }
        self
    }

    /// Where to send.
    pub fn endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoint = endpoint;
        self
    }

    /// A prefix for every metric name; a `.` is added when missing.
    pub fn namespace(mut self, namespace: &str) -> Self {
        namespace.clone_into(&mut self.namespace);
        if !self.namespace.is_empty() && !self.namespace.ends_with('.') {
            self.namespace.push('.');
        }
        self
    }

    /// A tag on every metric, event and service check (after the environment's tags).
    pub fn tag(mut self, tag: &str) -> Self {
        self.tags.push(tag.to_owned());
        self
    }

    /// Several tags on every message.
    pub fn tags<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tags: I) -> Self {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Largest datagram, in bytes. Defaults: 8192 for loopback UDP and Unix sockets (the
    /// Agent's read buffer), 1432 for UDP over a network. Clamped to 64..=65467.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = Some(bytes.clamp(64, 65_467));
        self
    }

    /// How often the background thread sends a partly filled datagram (default 100 ms).
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Client-side aggregation of counts, gauges and sets (default on).
    pub fn aggregation(mut self, enabled: bool) -> Self {
        self.aggregation = enabled;
        self
    }

    /// Packing of histogram, distribution and timing values per context (default on; needs
    /// [`StatsdBuilder::aggregation`]).
    pub fn extended_aggregation(mut self, enabled: bool) -> Self {
        self.extended_aggregation = enabled;
        self
    }

    /// The aggregation window (default 2 s; choose a divisor of the Agent's 10 s).
    pub fn aggregation_interval(mut self, interval: Duration) -> Self {
        self.aggregation_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Contexts per aggregation window (default 10 000); more are sent without aggregation.
    pub fn max_contexts(mut self, contexts: usize) -> Self {
        self.max_contexts = contexts;
        self
    }

    /// Values kept per histogram/distribution/timing context per window (default 8192; a
    /// uniform reservoir beyond, with the effective rate sent so the Agent weights them).
    pub fn max_samples_per_context(mut self, samples: usize) -> Self {
        self.max_samples_per_context = samples.max(1);
        self
    }

    /// Client telemetry `datadog.dogstatsd.client.*` every 10 s (default on).
    pub fn telemetry(mut self, enabled: bool) -> Self {
        self.telemetry = enabled;
        self
    }

    /// How often telemetry is reported (default 10 s).
    pub fn telemetry_interval(mut self, interval: Duration) -> Self {
        self.telemetry_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Send the container id read from cgroups (`c:` field).
    pub fn origin_detection(mut self, enabled: bool) -> Self {
        self.origin_detection = enabled;
        self
    }

    /// A container id to send instead of the detected one (`c:ci-<id>`).
    pub fn container_id(mut self, id: &str) -> Self {
        self.container_id = Some(id.to_owned());
        self
    }

    /// The external data for origin detection (`e:`), normally `DD_EXTERNAL_ENV`.
    pub fn external_env(mut self, value: &str) -> Self {
        self.external_env = Some(value.to_owned());
        self
    }

    /// The default tag-enrichment cardinality (`card:`).
    pub fn cardinality(mut self, cardinality: Cardinality) -> Self {
        self.cardinality = Some(cardinality);
        self
    }

    /// The receiver profile (default [`Profile::Agent`]).
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// The shortest time between two attempts to re-open a socket (default 1 s).
    pub fn reconnect_interval(mut self, interval: Duration) -> Self {
        self.reconnect_interval = interval;
        self
    }

    /// Run the background thread that flushes on a timer and reports telemetry (default on).
    /// Without it the client sends when a datagram fills, on [`crate::Statsd::flush`] and on drop —
    /// what a platform that starves background threads (Cloud Run request-based billing) gets anyway.
    pub fn background_thread(mut self, enabled: bool) -> Self {
        self.background_thread = enabled;
        self
    }

    /// Builds the client (opening its socket; never fails).
    pub fn build(self) -> crate::Statsd {
        crate::Statsd::from_builder(&self)
    }

    /// Builds a client that keeps what it sends instead of sending it, for tests: everything
    /// this configuration does (namespace, tags, origin fields, aggregation, datagram limit) is
    /// applied, and the returned [`crate::Capture`] reads the resulting lines. There is no
    /// background thread, whatever [`StatsdBuilder::background_thread`] says, so what is
    /// captured depends only on the calls made.
    ///
    /// ```
    /// use datadog_statsd::StatsdBuilder;
    ///
    /// let (statsd, capture) = StatsdBuilder::new()
    ///     .namespace("our-sample-app")
    ///     .tag("team:web")
    ///     .build_capturing();
    /// statsd.gauge("queue.depth", 3.0);
    /// statsd.gauge("queue.depth", 5.0);
    /// assert_eq!(capture.lines(), ["our-sample-app.queue.depth:5|g|#team:web"]);
    /// ```
    pub fn build_capturing(self) -> (crate::Statsd, crate::Capture) {
        crate::Statsd::capturing_from_builder(&self)
    }

    /// The datagram limit this configuration uses.
    pub(crate) fn payload_limit(&self) -> usize {
        self.max_payload
            .unwrap_or_else(|| self.endpoint.default_max_payload())
    }

    /// The `c:` value to send, if any.
    pub(crate) fn origin(&self) -> Option<String> {
        if let Some(id) = &self.container_id {
            return Some(format!("ci-{id}"));
        }
        if self.origin_detection {
            origin::detect()
        } else {
            None
        }
    }
}

/// Parses `udp://host[:port]`, `unix://`, `unixgram://`, `unixstream://` URLs (the last three
/// are refused where there are no Unix sockets, so the caller warns and keeps its fallback).
pub(crate) fn parse_url(url: &str) -> Result<Endpoint, String> {
    let url = url.trim();
    if let Some(rest) = url.strip_prefix("udp://") {
        let rest = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if rest.is_empty() {
            return Err("no host".into());
        }
        if rest.contains('@') {
            return Err("the URL carries user info, which DogStatsD does not take".into());
        }
        // `[v6]:port`, `[v6]`, `host:port`, `host`.
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or("unclosed `[`")?;
            (host.to_owned(), after.strip_prefix(':'))
        } else if rest.matches(':').count() > 1 {
            (rest.to_owned(), None)
        } else {
            match rest.split_once(':') {
                Some((host, port)) => (host.to_owned(), Some(port)),
                None => (rest.to_owned(), None),
            }
        };
        let port = match port {
            None => 8125,
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{port:?} is not a port"))?,
        };
        if !datadog_env::is_host(&host) {
            return Err("the host is not a host name or IP address".into());
        }
        return Ok(Endpoint::Udp { host, port });
    }
    for scheme in ["unixstream://", "unixgram://", "unix://"] {
        if let Some(path) = url.strip_prefix(scheme) {
            if path.is_empty() {
                return Err("no socket path".into());
            }
            #[cfg(unix)]
            {
                let path = std::path::PathBuf::from(path);
                return Ok(if scheme == "unixstream://" {
                    Endpoint::UnixStream(path)
                } else {
                    Endpoint::UnixDatagram(path)
                });
            }
            #[cfg(not(unix))]
            {
                return Err(format!(
                    "{scheme} needs Unix domain sockets, which this platform does not have"
                ));
            }
        }
    }
    Err("expected udp://, unix://, unixgram:// or unixstream://".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> StatsdBuilder {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        StatsdBuilder::from_lookup(|key| vars.get(key).cloned())
    }

    fn udp(host: &str, port: u16) -> Endpoint {
        Endpoint::Udp {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn address_precedence() {
        assert_eq!(from(&[]).endpoint, udp("127.0.0.1", 8125));
        assert_eq!(
            from(&[("DD_AGENT_HOST", "agent")]).endpoint,
            udp("agent", 8125)
        );
        assert_eq!(
            from(&[("DD_AGENT_HOST", "agent"), ("DD_DOGSTATSD_PORT", "9125")]).endpoint,
            udp("agent", 9125)
        );
    }

    #[cfg(unix)]
    #[test]
    fn unix_socket_addresses() {
        assert_eq!(
            from(&[
                ("DD_AGENT_HOST", "agent"),
                ("DD_DOGSTATSD_URL", "unix:///var/run/dsd.sock")
            ])
            .endpoint,
            Endpoint::UnixDatagram("/var/run/dsd.sock".into())
        );
        assert_eq!(
            from(&[("DD_AGENT_HOST", "unixstream:///s")]).endpoint,
            Endpoint::UnixStream("/s".into())
        );
        assert_eq!(
            parse_url("unixgram:///a/b"),
            Ok(Endpoint::UnixDatagram("/a/b".into()))
        );
    }

    #[cfg(not(unix))]
    #[test]
    fn unix_socket_addresses_fall_back_to_the_other_variables() {
        assert_eq!(
            from(&[
                ("DD_AGENT_HOST", "agent"),
                ("DD_DOGSTATSD_URL", "unix:///var/run/dsd.sock")
            ])
            .endpoint,
            udp("agent", 8125)
        );
        assert!(parse_url("unixgram:///a/b").is_err());
    }

    #[test]
    fn bad_values_warn_and_fall_back() {
        let builder = from(&[
            ("DD_DOGSTATSD_PORT", "eighty"),
            ("DD_DOGSTATSD_URL", "tcp://x"),
        ]);
        assert_eq!(builder.endpoint, udp("127.0.0.1", 8125));
        let builder = from(&[
            ("DD_CARDINALITY", "huge"),
            ("DD_ORIGIN_DETECTION_ENABLED", "maybe"),
        ]);
        assert_eq!(builder.cardinality, None);
        assert!(builder.origin_detection);
        let builder = StatsdBuilder::new().url("udp://host:0");
        assert_eq!(builder.endpoint, udp("127.0.0.1", 8125));
        assert_eq!(
            from(&[("DD_DOGSTATSD_HOST", "dsd"), ("DD_AGENT_HOST", "agent")]).endpoint,
            udp("dsd", 8125)
        );
    }

    #[test]
    fn urls() {
        assert_eq!(parse_url("udp://10.0.0.1:9000"), Ok(udp("10.0.0.1", 9000)));
        assert_eq!(parse_url("udp://agent"), Ok(udp("agent", 8125)));
        assert_eq!(parse_url("udp://[::1]:9000"), Ok(udp("::1", 9000)));
        assert!(parse_url("udp://").is_err());
        assert!(parse_url("udp://127.0.0.1:99999").is_err());
        assert!(parse_url("udp://bad host:8125").is_err());
        let secret = parse_url("udp://user:s3cret@127.0.0.1:8125").unwrap_err();
        assert!(!secret.contains("s3cret"), "{secret}");
        assert_eq!(
            from(&[("DD_AGENT_HOST", "not a host")]).endpoint,
            udp("127.0.0.1", 8125)
        );
        assert_eq!(parse_url("udp://[::1]"), Ok(udp("::1", 8125)));
        assert!(parse_url("unix://").is_err());
        assert!(parse_url("/tmp/socket").is_err());
    }

    #[test]
    fn unified_service_tags_entity_and_cloud_run() {
        let builder = from(&[
            ("DD_ENV", "prod"),
            ("DD_SERVICE", "web"),
            ("DD_VERSION", "1.2"),
            ("DD_TAGS", "team:a, zone:b"),
            ("DD_ENTITY_ID", "pod-uid"),
            ("K_SERVICE", "web"),
            ("DD_CARDINALITY", "High"),
        ]);
        assert_eq!(
            builder.env_tags,
            [
                "env:prod",
                "service:web",
                "version:1.2",
                "team:a",
                "zone:b",
                "dd.internal.entity_id:pod-uid"
            ]
        );
        assert!(!builder.origin_detection, "off on Cloud Run");
        assert_eq!(builder.cardinality, Some(Cardinality::High));
        assert!(from(&[]).origin_detection);
        assert!(!from(&[("DD_ORIGIN_DETECTION_ENABLED", "false")]).origin_detection);
        assert_eq!(
            StatsdBuilder::new().container_id("abc").origin().as_deref(),
            Some("ci-abc")
        );
    }
}
