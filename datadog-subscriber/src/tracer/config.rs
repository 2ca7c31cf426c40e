//! Tracer configuration: `DD_*` environment variables, overridable in code.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::handle::TracerHandle;
use super::layer::TracerLayer;
use super::sampling::SamplingRule;
use super::warn::warn;

/// Where the Agent listens.
#[derive(Clone, Debug, PartialEq, Eq)]
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

/// A host name or IPv4 address: letters, digits, `-`, `_` and `.`, not empty.
fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("has no host".into());
    }
    if host.len() > 253
        || !host
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
    {
        return Err("has a host that is not a host name or IP address".into());
    }
    Ok(())
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
/// | `DD_SERVICE`, `DD_ENV`, `DD_VERSION` | unified service tags | executable name, none, none |
/// | `DD_TAGS` | `key:value` tags for every span (comma or space separated) | none |
/// | `DD_TRACE_AGENT_URL` | `http://host:port` or `unix:///path` | |
/// | `DD_AGENT_HOST`, `DD_TRACE_AGENT_PORT` | Agent host and port when no URL is set | `127.0.0.1`, `8126` |
/// | `DD_TRACE_ENABLED` | `false` turns export off (ids and propagation still work) | `true` |
/// | `DD_TRACE_SAMPLE_RATE` | catch-all rule rate | none |
/// | `DD_TRACE_SAMPLING_RULES` | JSON rules, see [`SamplingRule`] | none |
/// | `DD_TRACE_RATE_LIMIT` | traces per second kept by rules | `100` |
/// | `DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED` | 128-bit root trace ids | `true` |
/// | `DD_TRACE_AGENT_TIMEOUT_SECONDS` | Agent request timeout (a payload that timed out is not sent again) | `2` |
/// | `DD_TRACE_WRITER_BUFFER_SIZE_BYTES` | memory of traces waiting for export before new ones are dropped | 8 MiB |
/// | `DD_TRACE_PARTIAL_FLUSH_MIN_SPANS` | finished spans of an open trace sent early | `300` |
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
    pub(crate) rate_limit: f64,
    pub(crate) trace_id_128_bit: bool,
    pub(crate) request_timeout: Duration,
    pub(crate) flush_interval: Duration,
    pub(crate) queue_capacity_spans: usize,
    pub(crate) queue_capacity_bytes: usize,
    pub(crate) partial_flush_min_spans: usize,
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
            rate_limit: 100.0,
            trace_id_128_bit: true,
            request_timeout: Duration::from_secs(2),
            flush_interval: Duration::from_secs(1),
            queue_capacity_spans: 100_000,
            queue_capacity_bytes: DEFAULT_QUEUE_BYTES,
            partial_flush_min_spans: 300,
        }
    }

    /// Reads the `DD_*` variables listed above; a bad value gives one warning and the default.
    pub fn from_env() -> Self {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut config = Self::new();
        let non_empty = |key: &str| {
            lookup(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        config.service = non_empty("DD_SERVICE");
        config.env = non_empty("DD_ENV");
        config.version = non_empty("DD_VERSION");
        if let Some(tags) = non_empty("DD_TAGS") {
            config.tags = parse_tags(&tags);
        }
        config.agent = agent_from_env(&non_empty);
        if let Some(enabled) = non_empty("DD_TRACE_ENABLED") {
            config.enabled = parse_bool("DD_TRACE_ENABLED", &enabled).unwrap_or(true);
        }
        if let Some(rate) = non_empty("DD_TRACE_SAMPLE_RATE") {
            config.sample_rate = match rate.parse::<f64>() {
                Ok(rate) if (0.0..=1.0).contains(&rate) => Some(rate),
                _ => {
                    warn(&format!(
                        "DD_TRACE_SAMPLE_RATE={rate:?} is not a number between 0 and 1; it is ignored"
                    ));
                    None
                }
            };
        }
        if let Some(rules) = non_empty("DD_TRACE_SAMPLING_RULES") {
            config.sampling_rules = SamplingRule::parse_json(&rules);
        }
        if let Some(limit) = non_empty("DD_TRACE_RATE_LIMIT") {
            match limit.parse::<f64>() {
                Ok(limit) if !limit.is_nan() => config.rate_limit = limit,
                _ => warn(&format!(
                    "DD_TRACE_RATE_LIMIT={limit:?} is not a number; using 100 traces per second"
                )),
            }
        }
        if let Some(value) = non_empty("DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED") {
            config.trace_id_128_bit =
                parse_bool("DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED", &value).unwrap_or(true);
        }
        if let Some(timeout) = non_empty("DD_TRACE_AGENT_TIMEOUT_SECONDS") {
            match timeout.parse::<f64>() {
                Ok(seconds) if seconds > 0.0 && seconds < 3600.0 => {
                    config.request_timeout = Duration::from_secs_f64(seconds);
                }
                _ => warn(&format!(
                    "DD_TRACE_AGENT_TIMEOUT_SECONDS={timeout:?} is not a positive number of seconds; using 2"
                )),
            }
        }
        if let Some(bytes) = non_empty("DD_TRACE_WRITER_BUFFER_SIZE_BYTES") {
            match bytes.parse::<usize>() {
                Ok(bytes) if bytes > 0 => config.queue_capacity_bytes = bytes,
                _ => warn(&format!(
                    "DD_TRACE_WRITER_BUFFER_SIZE_BYTES={bytes:?} is not a positive integer; using {DEFAULT_QUEUE_BYTES}"
                )),
            }
        }
        if let Some(spans) = non_empty("DD_TRACE_PARTIAL_FLUSH_MIN_SPANS") {
            match spans.parse::<usize>() {
                Ok(spans) if spans > 0 => config.partial_flush_min_spans = spans,
                _ => warn(&format!(
                    "DD_TRACE_PARTIAL_FLUSH_MIN_SPANS={spans:?} is not a positive integer; using 300"
                )),
            }
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

    /// Builds the layer and the handle that flushes and shuts down its export worker.
    pub fn build(self) -> (TracerLayer, TracerHandle) {
        let tracer = Arc::new(super::trace::Tracer::new(&self));
        (TracerLayer::new(tracer.clone()), TracerHandle::new(tracer))
    }
}

fn agent_from_env(non_empty: &impl Fn(&str) -> Option<String>) -> AgentAddress {
    let url = non_empty("DD_TRACE_AGENT_URL").map(|url| (AgentAddress::parse_checked(&url), url));
    if let Some((Ok(address), _)) = url {
        return address;
    }
    let host = match non_empty("DD_AGENT_HOST") {
        None => DEFAULT_HOST.to_owned(),
        Some(host) => valid_agent_host(&host).unwrap_or_else(|problem| {
            warn(&format!(
                "DD_AGENT_HOST={host:?} {problem}; using {DEFAULT_HOST}"
            ));
            DEFAULT_HOST.to_owned()
        }),
    };
    let port = match non_empty("DD_TRACE_AGENT_PORT") {
        None => DEFAULT_PORT,
        Some(port) => parse_port(&port).unwrap_or_else(|| {
            warn(&format!(
                "DD_TRACE_AGENT_PORT={port:?} is not a port number (1-65535); using {DEFAULT_PORT}"
            ));
            DEFAULT_PORT
        }),
    };
    let address = AgentAddress::Http {
        authority: format!("{host}:{port}"),
    };
    if let Some((Err(problem), url)) = url {
        warn(&format!(
            "DD_TRACE_AGENT_URL={url:?} {problem}; sending traces to {address} instead"
        ));
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

fn parse_bool(key: &str, value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => {
            warn(&format!(
                "{key}={value:?} is not a boolean; using the default"
            ));
            None
        }
    }
}

/// `DD_TAGS`: `key:value` pairs separated by commas or spaces; a bare key gets an empty value.
fn parse_tags(tags: &str) -> Vec<(String, String)> {
    let separator = if tags.contains(',') { ',' } else { ' ' };
    tags.split(separator)
        .map(str::trim)
        .filter(|tag| !tag.is_empty())
        .filter_map(|tag| {
            let (key, value) = tag.split_once(':').unwrap_or((tag, ""));
            let key = key.trim();
            (!key.is_empty()).then(|| (key.to_owned(), value.trim().to_owned()))
        })
        .collect()
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
        assert_eq!(
            parse_tags("a:1 b:2"),
            [("a".into(), "1".into()), ("b".into(), "2".into())]
        );
    }
}
