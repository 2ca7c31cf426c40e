//! Tracer configuration: `DD_*` environment variables, overridable in code.

use std::path::PathBuf;
use std::time::Duration;

use super::export::CapturedSpans;
use super::sampling::{SamplingRule, SpanSamplingRule};
use super::warn::warn;
use crate::context::BaggageTagKeys;

/// Where the Agent listens.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AgentAddress {
    /// TCP: `host:port` (IPv6 hosts in brackets).
    Http {
        /// `host:port`, as it goes into the `Host` header.
        authority: String,
    },
    /// A Unix domain socket path.
    Unix(PathBuf),
}

impl AgentAddress {
    /// Parses `http://host[:port][/]` or `unix:///path`; `None` for anything else (another
    /// scheme, user info, a bad host or a port outside 1-65535).
    ///
    /// ```
    /// use datadog_subscriber::tracer::AgentAddress;
    ///
    /// assert_eq!(
    ///     AgentAddress::parse("http://localhost:8126"),
    ///     Some(AgentAddress::Http { authority: "localhost:8126".into() })
    /// );
    /// assert!(AgentAddress::parse("ftp://x").is_none());
    /// assert!(AgentAddress::parse("http://127.0.0.1:99999").is_none());
    /// ```
    pub fn parse(url: &str) -> Option<AgentAddress> {
        Self::parse_checked(url).ok()
    }

    /// Like [`parse`](Self::parse), saying what is wrong (without quoting the URL, which may
    /// hold secrets).
    pub(crate) fn parse_checked(url: &str) -> Result<AgentAddress, String> {
        let url = url.trim();
        if let Some(path) = url.strip_prefix("unix://") {
            if path.is_empty() {
                return Err("has no socket path".into());
            }
            return Ok(AgentAddress::Unix(PathBuf::from(path)));
        }
        let Some(rest) = url.strip_prefix("http://") else {
            return Err("is not http://host:port or unix:///path".into());
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err("carries user info, which the Agent does not take".into());
        }
        let (host, port) = split_host_port(authority)?;
        Ok(AgentAddress::Http {
            authority: format!("{host}:{}", port.unwrap_or(DEFAULT_PORT)),
        })
    }
}

impl std::fmt::Display for AgentAddress {
    /// The address as a URL (it never holds credentials: they are refused when parsing).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentAddress::Http { authority } => write!(f, "http://{authority}"),
            AgentAddress::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

/// `host[:port]` or `[v6][:port]`: the host (IPv6 kept in brackets) and the port, if any.
fn split_host_port(authority: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (inside, after) = v6
            .split_once(']')
            .ok_or("has an IPv6 host without its closing `]`")?;
        if inside.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("has a bad IPv6 address".into());
        }
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or("has text after the IPv6 address")?,
            ),
        };
        (format!("[{inside}]"), port)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (authority.to_owned(), None),
        }
    };
    if !host.starts_with('[') {
        check_host(&host)?;
    }
    let port =
        match port {
            None => None,
            Some(port) => Some(parse_port(port).ok_or_else(|| {
                format!("has a port {port:?} that is not a number from 1 to 65535")
            })?),
        };
    Ok((host, port))
}

/// A host name or IP address, or why not.
fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        Err("has no host".into())
    } else if datadog_env::is_host(host) {
        Ok(())
    } else {
        Err("has a host that is not a host name or IP address".into())
    }
}

fn parse_port(port: &str) -> Option<u16> {
    port.parse::<u16>().ok().filter(|port| *port != 0)
}

const DEFAULT_HOST: &str = "127.0.0.1";
const DEFAULT_PORT: u16 = 8126;

/// Configuration of the tracer: environment first ([`from_env`](Self::from_env)), code overrides
/// with the builder methods, then [`build`](Self::build).
///
/// | Variable | Meaning | Default |
/// |---|---|---|
/// | `DD_SERVICE`, `DD_ENV`, `DD_VERSION` | unified service tags | `K_SERVICE` on Cloud Run, else the executable name; none; none |
/// | `DD_TAGS` | `key:value` tags for every span (comma or space separated) | none |
/// | `DD_TRACE_AGENT_URL` | `http://host:port` or `unix:///path` | |
/// | `DD_AGENT_HOST`, `DD_TRACE_AGENT_PORT` | Agent host and port when no URL is set | `127.0.0.1`, `8126` |
/// | `DD_TRACE_ENABLED` | `false` turns export off (ids and propagation still work) | `true` |
/// | `DD_TRACE_SAMPLE_RATE` | catch-all rule rate | none |
/// | `DD_TRACE_SAMPLING_RULES` | JSON rules, see [`SamplingRule`] | none |
/// | `DD_TRACE_RATE_LIMIT` | traces per second kept by rules | `100` |
/// | `DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED` | 128-bit root trace ids | `true` |
/// | `DD_TRACE_AGENT_TIMEOUT_SECONDS` | Agent request timeout (a payload that timed out is not sent again) | `2` |
/// | `DD_TRACE_WRITER_BUFFER_SIZE_BYTES` | memory of traces waiting for export before new ones are dropped (sent traces waiting to be freed hold up to a quarter more) | 8 MiB |
/// | `DD_TRACE_PARTIAL_FLUSH_MIN_SPANS` | finished spans of an open trace sent early | `300` |
/// | `K_SERVICE` | on Cloud Run: each trace is sent as soon as the process is idle ([`send_when_idle`](Self::send_when_idle)) | unset |
///
/// ```
/// use datadog_subscriber::tracer::TracerConfig;
///
/// let (layer, handle) = TracerConfig::from_env()
///     .service("checkout")
///     .env("prod")
///     .agent_url("http://127.0.0.1:8126")
///     .build();
/// # drop(layer);
/// assert!(handle.shutdown(std::time::Duration::from_millis(100)) || true);
/// ```
#[derive(Clone, Debug)]
pub struct TracerConfig {
    pub(crate) service: Option<String>,
    pub(crate) env: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) agent: AgentAddress,
    pub(crate) enabled: bool,
    pub(crate) sample_rate: Option<f64>,
    pub(crate) sampling_rules: Vec<SamplingRule>,
    pub(crate) span_sampling_rules: Vec<SpanSamplingRule>,
    pub(crate) rate_limit: f64,
    pub(crate) trace_id_128_bit: bool,
    pub(crate) request_timeout: Duration,
    pub(crate) flush_interval: Duration,
    pub(crate) send_when_idle: bool,
    pub(crate) queue_capacity_spans: usize,
    pub(crate) queue_capacity_bytes: usize,
    pub(crate) partial_flush_min_spans: usize,
    pub(crate) baggage_tag_keys: BaggageTagKeys,
    pub(crate) capture: Option<CapturedSpans>,
}

/// The default bound of the trace queue in bytes (`DD_TRACE_WRITER_BUFFER_SIZE_BYTES`): dd-trace-py's
/// default, 8 MiB, a small share of a 512 MiB Cloud Run instance.
pub const DEFAULT_QUEUE_BYTES: usize = 8 << 20;

impl Default for TracerConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl TracerConfig {
    /// Defaults only, ignoring the environment.
    pub fn new() -> Self {
        TracerConfig {
            service: None,
            env: None,
            version: None,
            tags: Vec::new(),
            agent: AgentAddress::Http {
                authority: format!("{DEFAULT_HOST}:{DEFAULT_PORT}"),
            },
            enabled: true,
            sample_rate: None,
            sampling_rules: Vec::new(),
            span_sampling_rules: Vec::new(),
            rate_limit: 100.0,
            trace_id_128_bit: true,
            request_timeout: Duration::from_secs(2),
            flush_interval: Duration::from_secs(1),
            send_when_idle: false,
            queue_capacity_spans: 100_000,
            queue_capacity_bytes: DEFAULT_QUEUE_BYTES,
            partial_flush_min_spans: 300,
            baggage_tag_keys: BaggageTagKeys::default(),
            capture: None,
        }
    }

    /// Reads the `DD_*` variables listed above; a bad value gives one warning and the default.
    pub fn from_env() -> Self {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup` (tests, or
    /// settings kept elsewhere).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        Self::read(datadog_env::Env::new(&lookup))
    }

    fn read(env: datadog_env::Env<'_>) -> Self {
        let mut config = Self::new();
        let identity = datadog_env::ServiceIdentity::read(env);
        config.service = Some(identity.service);
        config.env = identity.env;
        config.version = identity.version;
        config.tags = identity.tags;
        config.agent = agent_from_env(env);
        config.enabled = env.trace_enabled();
        config.sample_rate = env.sample_rate();
        if let Some(rules) = env.text("DD_TRACE_SAMPLING_RULES") {
            config.sampling_rules = SamplingRule::parse_json(&rules);
        }
        if let Some(rules) = env.text("DD_SPAN_SAMPLING_RULES") {
            config.span_sampling_rules = SpanSamplingRule::parse_json(&rules);
        }
        if let Some(limit) = env.parse(
            "DD_TRACE_RATE_LIMIT",
            |limit: &f64| !limit.is_nan(),
            "a number",
            "100 traces per second",
        ) {
            config.rate_limit = limit;
        }
        config.trace_id_128_bit = env.flag("DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED", true);
        if let Some(seconds) = env.parse(
            "DD_TRACE_AGENT_TIMEOUT_SECONDS",
            |seconds: &f64| *seconds > 0.0 && *seconds < 3600.0,
            "a positive number of seconds",
            "2",
        ) {
            config.request_timeout = Duration::from_secs_f64(seconds);
        }
        if let Some(bytes) = env.parse(
            "DD_TRACE_WRITER_BUFFER_SIZE_BYTES",
            |bytes: &usize| *bytes > 0,
            "a positive integer",
            &DEFAULT_QUEUE_BYTES.to_string(),
        ) {
            config.queue_capacity_bytes = bytes;
        }
        // Cloud Run may freeze the CPU as soon as the last response is sent.
        config.send_when_idle = env.on_cloud_run();
        if let Some(spans) = env.parse(
            "DD_TRACE_PARTIAL_FLUSH_MIN_SPANS",
            |spans: &usize| *spans > 0,
            "a positive integer",
            "300",
        ) {
            config.partial_flush_min_spans = spans;
        }
        if !env.flag("DD_TRACE_PARTIAL_FLUSH_ENABLED", true) {
            config.partial_flush_min_spans = usize::MAX;
        }
        // An empty value is meaningful here: no baggage tags at all.
        if let Some(keys) = env.raw("DD_TRACE_BAGGAGE_TAG_KEYS") {
            config.baggage_tag_keys = BaggageTagKeys::parse(&keys);
        }
        config
    }

    /// The default service of spans (`DD_SERVICE`).
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// The environment (`DD_ENV`).
    pub fn env(mut self, env: impl Into<String>) -> Self {
        self.env = Some(env.into());
        self
    }

    /// The version (`DD_VERSION`).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Adds a tag to every span (like one `DD_TAGS` entry).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.push((key.into(), value.into()));
        self
    }

    /// The Agent URL (`http://host:port` or `unix:///path`); an unsupported URL warns and keeps
    /// the previous address.
    pub fn agent_url(mut self, url: &str) -> Self {
        match AgentAddress::parse_checked(url) {
            Ok(address) => self.agent = address,
            Err(problem) => warn(&format!(
                "the agent URL {url:?} {problem}; keeping {}",
                self.agent
            )),
        }
        self
    }

    /// Whether traces are exported (`DD_TRACE_ENABLED`). When off, spans still get Datadog ids
    /// for log correlation and propagation.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// The catch-all sampling rate (`DD_TRACE_SAMPLE_RATE`), clamped to `[0, 1]`.
    pub fn sample_rate(mut self, rate: f64) -> Self {
        self.sample_rate = Some(if rate.is_nan() {
            1.0
        } else {
            rate.clamp(0.0, 1.0)
        });
        self
    }

    /// Adds a sampling rule after the existing ones (the first match wins).
    pub fn sampling_rule(mut self, rule: SamplingRule) -> Self {
        self.sampling_rules.push(rule);
        self
    }

    /// Replaces the rules with a `DD_TRACE_SAMPLING_RULES` JSON document.
    pub fn sampling_rules_json(mut self, json: &str) -> Self {
        self.sampling_rules = SamplingRule::parse_json(json);
        self
    }

    /// Adds a span sampling rule after the existing ones (`DD_SPAN_SAMPLING_RULES`): spans of
    /// dropped traces that it keeps are sent alone.
    pub fn span_sampling_rule(mut self, rule: SpanSamplingRule) -> Self {
        self.span_sampling_rules.push(rule);
        self
    }

    /// Traces per second that sampling rules may keep (`DD_TRACE_RATE_LIMIT`); negative means
    /// no limit.
    pub fn rate_limit(mut self, per_second: f64) -> Self {
        if !per_second.is_nan() {
            self.rate_limit = per_second;
        }
        self
    }

    /// Whether new root traces get 128-bit ids.
    pub fn trace_id_128_bit(mut self, enabled: bool) -> Self {
        self.trace_id_128_bit = enabled;
        self
    }

    /// Timeout of one request to the Agent.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How often the worker sends what is queued (default one second).
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// `true`: a trace is sent as soon as it finishes while no other trace is open in the
    /// process, instead of at the next flush interval. For platforms that stop the CPU between
    /// requests (Cloud Run's request-based billing): the last request's trace leaves before the
    /// freeze, or first thing when the next request thaws the process. Under load (other
    /// traces open) traces are batched as usual. Default: on when `K_SERVICE` is set.
    pub fn send_when_idle(mut self, enabled: bool) -> Self {
        self.send_when_idle = enabled;
        self
    }

    /// How many finished spans may wait for export before new traces are dropped (and counted).
    pub fn queue_capacity(mut self, spans: usize) -> Self {
        self.queue_capacity_spans = spans.max(1);
        self
    }

    /// How much memory (bytes, estimated) finished spans waiting for export may hold before new
    /// traces are dropped and counted (`DD_TRACE_WRITER_BUFFER_SIZE_BYTES`, default
    /// [`DEFAULT_QUEUE_BYTES`]).
    pub fn queue_capacity_bytes(mut self, bytes: usize) -> Self {
        self.queue_capacity_bytes = bytes.max(1);
        self
    }

    /// Keeps finished spans in `spans`, as the Agent would receive them, instead of sending them
    /// to the Agent: a test exporter (see [`CapturedSpans`]). No export thread is started.
    pub fn capture(mut self, spans: CapturedSpans) -> Self {
        self.capture = Some(spans);
        self
    }

    /// The baggage items a trace continued from a remote context tags its local root with, as
    /// `baggage.<key>` (`DD_TRACE_BAGGAGE_TAG_KEYS`; default `user.id,session.id,account.id`).
    pub fn baggage_tag_keys(mut self, keys: BaggageTagKeys) -> Self {
        self.baggage_tag_keys = keys;
        self
    }
}

fn agent_from_env(env: datadog_env::Env<'_>) -> AgentAddress {
    let url = env
        .text("DD_TRACE_AGENT_URL")
        .map(|url| (AgentAddress::parse_checked(&url), url));
    if let Some((Ok(address), _)) = url {
        return address;
    }
    let host = match env.text("DD_AGENT_HOST") {
        None => DEFAULT_HOST.to_owned(),
        Some(host) => valid_agent_host(&host).unwrap_or_else(|problem| {
            datadog_env::warn_invalid("DD_AGENT_HOST", &host, &problem, DEFAULT_HOST);
            DEFAULT_HOST.to_owned()
        }),
    };
    let port = match env.text("DD_TRACE_AGENT_PORT") {
        None => DEFAULT_PORT,
        Some(port) => parse_port(&port).unwrap_or_else(|| {
            datadog_env::warn_invalid(
                "DD_TRACE_AGENT_PORT",
                &port,
                "is not a port number (1-65535)",
                &DEFAULT_PORT.to_string(),
            );
            DEFAULT_PORT
        }),
    };
    let address = AgentAddress::Http {
        authority: format!("{host}:{port}"),
    };
    if let Some((Err(problem), url)) = url {
        datadog_env::warn_invalid("DD_TRACE_AGENT_URL", &url, &problem, &address.to_string());
    }
    address
}

/// `DD_AGENT_HOST`: a host name, an IPv4 address, or an IPv6 address with or without brackets
/// (brackets are added).
fn valid_agent_host(host: &str) -> Result<String, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok(format!("[{bare}]"));
    }
    if host.contains("://") {
        return Err("is a URL, not a host name (DD_TRACE_AGENT_URL takes URLs)".into());
    }
    check_host(host)?;
    Ok(host.to_owned())
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "the values are set, not computed")]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> TracerConfig {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        TracerConfig::from_lookup(|key| vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
    }

    #[test]
    fn agent_address_precedence_and_defaults() {
        assert_eq!(
            config(&[]).agent,
            AgentAddress::Http {
                authority: "127.0.0.1:8126".into()
            }
        );
        assert_eq!(
            config(&[("DD_AGENT_HOST", "agent"), ("DD_TRACE_AGENT_PORT", "9000")]).agent,
            AgentAddress::Http {
                authority: "agent:9000".into()
            }
        );
        assert_eq!(
            config(&[("DD_AGENT_HOST", "::1"), ("DD_TRACE_AGENT_PORT", "x")]).agent,
            AgentAddress::Http {
                authority: "[::1]:8126".into()
            }
        );
        assert_eq!(
            config(&[
                ("DD_TRACE_AGENT_URL", "unix:///var/run/datadog/apm.socket"),
                ("DD_AGENT_HOST", "x")
            ])
            .agent,
            AgentAddress::Unix("/var/run/datadog/apm.socket".into())
        );
        assert_eq!(
            config(&[
                ("DD_TRACE_AGENT_URL", "https://x"),
                ("DD_AGENT_HOST", "fallback")
            ])
            .agent,
            AgentAddress::Http {
                authority: "fallback:8126".into()
            }
        );
        assert_eq!(
            AgentAddress::parse("http://[::1]/"),
            Some(AgentAddress::Http {
                authority: "[::1]:8126".into()
            })
        );
    }

    #[test]
    fn bad_ports_hosts_and_schemes_are_refused_with_the_fallback() {
        let fallback = AgentAddress::Http {
            authority: "127.0.0.1:8126".into(),
        };
        for url in [
            "http://127.0.0.1:99999",
            "http://127.0.0.1:0",
            "http://127.0.0.1:80x",
            "http://user:secret@127.0.0.1:8126",
            "http://bad host:8126",
            "http://:8126",
            "http://[::1:8126",
            "https://127.0.0.1:8126",
            "tcp://127.0.0.1:8126",
            "unix://",
        ] {
            assert_eq!(
                config(&[("DD_TRACE_AGENT_URL", url)]).agent,
                fallback,
                "{url}"
            );
            assert!(AgentAddress::parse_checked(url).is_err(), "{url}");
        }
        assert_eq!(
            config(&[("DD_AGENT_HOST", "http://agent:8126")]).agent,
            fallback
        );
        assert_eq!(config(&[("DD_AGENT_HOST", "a b")]).agent, fallback);
        assert_eq!(config(&[("DD_TRACE_AGENT_PORT", "70000")]).agent, fallback);
        assert_eq!(
            config(&[("DD_AGENT_HOST", "[::1]"), ("DD_TRACE_AGENT_PORT", "9")]).agent,
            AgentAddress::Http {
                authority: "[::1]:9".into()
            }
        );
        assert_eq!(
            AgentAddress::parse("http://[::1]:8127/v0.4?x=1"),
            Some(AgentAddress::Http {
                authority: "[::1]:8127".into()
            })
        );
        assert_eq!(
            config(&[("DD_TRACE_WRITER_BUFFER_SIZE_BYTES", "1024")]).queue_capacity_bytes,
            1024
        );
        assert_eq!(
            config(&[("DD_TRACE_WRITER_BUFFER_SIZE_BYTES", "lots")]).queue_capacity_bytes,
            DEFAULT_QUEUE_BYTES
        );
    }

    #[test]
    fn values_and_bad_values() {
        let good = config(&[
            ("DD_SERVICE", "svc"),
            ("DD_TAGS", "team:a, owner:b,bare"),
            ("DD_TRACE_ENABLED", "false"),
            ("DD_TRACE_SAMPLE_RATE", "0.5"),
            ("DD_TRACE_RATE_LIMIT", "7"),
            ("DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED", "false"),
        ]);
        assert_eq!(good.service.as_deref(), Some("svc"));
        assert_eq!(
            good.tags,
            [
                ("team".into(), "a".into()),
                ("owner".into(), "b".into()),
                ("bare".into(), String::new())
            ]
        );
        assert!(!good.enabled);
        assert_eq!(good.sample_rate, Some(0.5));
        assert_eq!(good.rate_limit, 7.0);
        assert!(!good.trace_id_128_bit);

        let bad = config(&[
            ("DD_TRACE_ENABLED", "maybe"),
            ("DD_TRACE_SAMPLE_RATE", "2"),
            ("DD_TRACE_RATE_LIMIT", "lots"),
            ("DD_TRACE_AGENT_TIMEOUT_SECONDS", "-1"),
            ("DD_TRACE_SAMPLING_RULES", "[{\"sample_rate\": \"x\"}]"),
        ]);
        assert!(bad.enabled);
        assert_eq!(bad.sample_rate, None);
        assert_eq!(bad.rate_limit, 100.0);
        assert_eq!(bad.request_timeout, Duration::from_secs(2));
        assert!(bad.sampling_rules.is_empty());
    }

    #[test]
    fn opentelemetry_variables_and_partial_flush() {
        let otel = config(&[
            ("OTEL_SERVICE_NAME", "otel-svc"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=prod,team=a",
            ),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("DD_TRACE_PARTIAL_FLUSH_ENABLED", "false"),
            ("DD_SPAN_SAMPLING_RULES", r#"[{"name":"db.*"}]"#),
        ]);
        assert_eq!(otel.service.as_deref(), Some("otel-svc"));
        assert_eq!(otel.env.as_deref(), Some("prod"));
        assert_eq!(otel.tags, [("team".into(), "a".into())]);
        assert_eq!(otel.sample_rate, Some(0.25));
        assert!(!otel.enabled);
        assert_eq!(otel.partial_flush_min_spans, usize::MAX);
        assert_eq!(otel.span_sampling_rules.len(), 1);
        let datadog_wins = config(&[
            ("DD_SERVICE", "dd-svc"),
            ("OTEL_SERVICE_NAME", "otel-svc"),
            ("DD_TRACE_ENABLED", "true"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ]);
        assert_eq!(datadog_wins.service.as_deref(), Some("dd-svc"));
        assert!(datadog_wins.enabled);
    }
}
