//! The log layer's settings: read from the `DD_*` variables, overridable in code.
//!
//! | Variable | Meaning | Default |
//! |---|---|---|
//! | `DD_SERVICE`, `DD_ENV`, `DD_VERSION` | `dd.service`, `dd.env`, `dd.version` on every line | service: `K_SERVICE` on Cloud Run, else the executable name (as the tracer); env, version: not written |
//! | `DD_LOGS_INJECTION` | `false`/`0` removes the `dd.*` correlation fields | `true` |
//! | `DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED` | `false`: `dd.trace_id` is always the decimal lower 64 bits | `true` |
//! | `GOOGLE_CLOUD_PROJECT` | adds `logging.googleapis.com/trace`, `.../spanId`, `.../trace_sampled` | asked of the metadata server on Cloud Run, else not written |
//! | `GCE_METADATA_HOST` | the metadata server (`host[:port]`) asked for the project when `GOOGLE_CLOUD_PROJECT` is unset | `metadata.google.internal` on Cloud Run (`K_SERVICE` set), else not asked |
//! | `DD_SERVERLESS_LOG_PATH` | also write to this file (`*.log` becomes `app.log`) | stdout only |
//!
//! ```
//! use datadog_subscriber::logs::{Destination, LogConfig};
//!
//! let (layer, guard) = LogConfig::from_env()
//!     .service("checkout")
//!     .gcp_project("my-project")
//!     .destination(Destination::Stdout)
//!     .build();
//! # drop((layer, guard));
//! ```

use tracing_subscriber::fmt::MakeWriter;

use super::destination::Destination;
use super::layer::JsonLogLayer;
use super::writer::{LogGuard, NonBlocking};

/// Default size of the in-memory line buffer (bytes) before lines are dropped.
pub const DEFAULT_BUFFER_BYTES: usize = 8 << 20;

/// Default limit of one field value (bytes); longer values are cut and marked `...(truncated)`.
/// Cloud Logging and the Datadog Agent both cut entries around 256 KB.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 32 * 1024;

/// Settings of the [`JsonLogLayer`]; a builder: every method overrides what the environment said.
#[derive(Clone, Debug)]
pub struct LogConfig {
    pub(crate) service: Option<String>,
    pub(crate) env: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) injection: bool,
    pub(crate) trace_id_128_logging: bool,
    pub(crate) gcp_project: Option<String>,
    pub(crate) metadata_server: Option<String>,
    pub(crate) span_fields: bool,
    pub(crate) max_value_bytes: usize,
    pub(crate) destination: Destination,
    pub(crate) buffer_bytes: usize,
}

impl Default for LogConfig {
    /// The defaults, ignoring the environment: stdout, injection on, no service/env/version.
    fn default() -> Self {
        LogConfig {
            service: None,
            env: None,
            version: None,
            injection: true,
            trace_id_128_logging: true,
            gcp_project: None,
            metadata_server: None,
            span_fields: true,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            destination: Destination::Stdout,
            buffer_bytes: DEFAULT_BUFFER_BYTES,
        }
    }
}

impl LogConfig {
    /// Reads the variables in the table above. Bad values give one warning on stderr and the
    /// default; this never fails.
    pub fn from_env() -> LogConfig {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup` (tests, or
    /// settings kept elsewhere).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> LogConfig {
        let env = datadog_env::Env::new(&lookup);
        let defaults = LogConfig::default();
        let destination = match env.text(super::destination::SERVERLESS_LOG_PATH_ENV) {
            Some(pattern) => Destination::Both(Destination::serverless_log_file(Some(&pattern))),
            None => Destination::Stdout,
        };
        let identity = datadog_env::ServiceIdentity::read(env);
        let injection = env
            .text("DD_LOGS_INJECTION")
            .map_or(defaults.injection, |value| {
                // ddtrace's `structured` also means on.
                if value.eq_ignore_ascii_case("structured") {
                    return true;
                }
                env.flag("DD_LOGS_INJECTION", defaults.injection)
            });
        LogConfig {
            service: Some(identity.service),
            env: identity.env,
            version: identity.version,
            injection,
            trace_id_128_logging: env.flag(
                "DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED",
                defaults.trace_id_128_logging,
            ),
            gcp_project: env.text("GOOGLE_CLOUD_PROJECT"),
            metadata_server: env.text("GCE_METADATA_HOST").or_else(|| {
                env.on_cloud_run()
                    .then(|| super::gcp_project::DEFAULT_METADATA_HOST.to_owned())
            }),
            destination,
            ..defaults
        }
    }

    /// `dd.service` (otherwise `DD_SERVICE`).
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into()).filter(|service| !service.is_empty());
        self
    }

    /// `dd.env` (otherwise `DD_ENV`).
    pub fn env(mut self, env: impl Into<String>) -> Self {
        self.env = Some(env.into()).filter(|env| !env.is_empty());
        self
    }

    /// `dd.version` (otherwise `DD_VERSION`).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into()).filter(|version| !version.is_empty());
        self
    }

    /// Whether lines carry the `dd.*` correlation fields (otherwise `DD_LOGS_INJECTION`).
    pub fn injection(mut self, enabled: bool) -> Self {
        self.injection = enabled;
        self
    }

    /// `true`: a trace id with upper 64 bits set is written as 32 hex digits (ddtrace 4.x);
    /// `false`: always the decimal lower 64 bits (otherwise
    /// `DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED`).
    pub fn trace_id_128_logging(mut self, enabled: bool) -> Self {
        self.trace_id_128_logging = enabled;
        self
    }

    /// The Google Cloud project whose Cloud Trace the `logging.googleapis.com/trace` field names
    /// (otherwise `GOOGLE_CLOUD_PROJECT`).
    pub fn gcp_project(mut self, project: impl Into<String>) -> Self {
        self.gcp_project = Some(project.into()).filter(|project| !project.is_empty());
        self
    }

    /// The metadata server (`host[:port]`) to ask for the project when none is set (otherwise
    /// `GCE_METADATA_HOST`, or `metadata.google.internal` on Cloud Run). The answer comes in the
    /// background: lines written before it lack the Cloud Logging fields.
    pub fn metadata_server(mut self, host: impl Into<String>) -> Self {
        self.metadata_server = Some(host.into()).filter(|host| !host.is_empty());
        self
    }

    /// Whether the fields of the spans in scope are written on each line (default `true`).
    ///
    /// A span's Datadog metadata (`span.kind`, `span.type`, `component`, `_dd.*`) is never
    /// repeated on its lines: it describes the span, which the line's ids point to.
    pub fn span_fields(mut self, enabled: bool) -> Self {
        self.span_fields = enabled;
        self
    }

    /// The largest field value written, in bytes (default [`DEFAULT_MAX_VALUE_BYTES`]).
    pub fn max_value_bytes(mut self, limit: usize) -> Self {
        self.max_value_bytes = limit;
        self
    }

    /// Where lines go (otherwise [`Destination::from_env`]).
    pub fn destination(mut self, destination: Destination) -> Self {
        self.destination = destination;
        self
    }

    /// The size of the line buffer between the callers and the writer thread (default
    /// [`DEFAULT_BUFFER_BYTES`]).
    pub fn buffer_bytes(mut self, capacity: usize) -> Self {
        self.buffer_bytes = capacity;
        self
    }

    /// Opens the destination and starts the background writer; the guard flushes on drop.
    pub fn build(self) -> (JsonLogLayer, LogGuard) {
        let (writer, guard) = NonBlocking::start(self.destination.open(), self.buffer_bytes);
        (self.build_with_writer(writer), guard)
    }

    /// A layer writing each line (one `write_all` call per line) to `make_writer` instead of the
    /// configured destination, e.g. `std::io::stdout` or a test buffer.
    pub fn build_with_writer<W>(self, make_writer: W) -> JsonLogLayer<W>
    where
        W: for<'w> MakeWriter<'w> + 'static,
    {
        JsonLogLayer::new(&self, make_writer)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::PathBuf;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> LogConfig {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        LogConfig::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn reads_the_datadog_variables() {
        let config = config(&[
            ("DD_SERVICE", "checkout"),
            ("DD_ENV", "prod"),
            ("DD_VERSION", " 1.2.3 "),
            ("DD_LOGS_INJECTION", "structured"),
            ("DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED", "FALSE"),
            ("GOOGLE_CLOUD_PROJECT", "my-project"),
            ("DD_SERVERLESS_LOG_PATH", "/tmp/x/*.log"),
        ]);
        assert_eq!(config.service.as_deref(), Some("checkout"));
        assert_eq!(config.env.as_deref(), Some("prod"));
        assert_eq!(config.version.as_deref(), Some("1.2.3"));
        assert!(config.injection);
        assert!(!config.trace_id_128_logging);
        assert_eq!(config.gcp_project.as_deref(), Some("my-project"));
        assert_eq!(
            config.destination,
            Destination::Both(PathBuf::from("/tmp/x/app.log"))
        );
    }

    #[test]
    fn bad_values_keep_the_defaults() {
        let config = config(&[
            ("DD_LOGS_INJECTION", "maybe"),
            ("DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED", "yes please"),
            ("DD_SERVICE", ""),
        ]);
        assert!(config.injection);
        assert!(config.trace_id_128_logging);
        // The tracer's default service, so lines and spans agree.
        assert_eq!(config.service, Some(datadog_env::executable_name()));
        assert_eq!(config.destination, Destination::Stdout);
    }

    #[test]
    fn cloud_run_names_the_service_and_asks_the_metadata_server() {
        let config = config(&[("K_SERVICE", "web")]);
        assert_eq!(config.service.as_deref(), Some("web"));
        assert_eq!(
            config.metadata_server.as_deref(),
            Some("metadata.google.internal")
        );
        let config = self::config(&[("K_SERVICE", "web"), ("GCE_METADATA_HOST", "127.0.0.1:9")]);
        assert_eq!(config.metadata_server.as_deref(), Some("127.0.0.1:9"));
        // Off Cloud Run, only an explicit metadata host is asked.
        assert_eq!(self::config(&[]).metadata_server, None);
    }

    #[test]
    fn injection_can_be_turned_off() {
        assert!(!config(&[("DD_LOGS_INJECTION", "false")]).injection);
        assert!(!config(&[("DD_LOGS_INJECTION", "0")]).injection);
    }

    #[test]
    fn code_overrides_the_environment() {
        let config = config(&[("DD_SERVICE", "from-env")])
            .service("from-code")
            .injection(false);
        assert_eq!(config.service.as_deref(), Some("from-code"));
        assert!(!config.injection);
    }
}
