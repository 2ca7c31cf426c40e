//! One call for `main`: the Datadog tracer and JSON logs, configured from the `DD_*` variables.
//!
//! [`init`] installs, as the global default subscriber, a registry with an [`EnvFilter`]
//! (`RUST_LOG`, default `info`), the [`TracerLayer`](crate::tracer::TracerLayer) and the
//! [`JsonLogLayer`](crate::logs::JsonLogLayer). The returned [`DatadogGuard`] flushes traces and
//! logs when dropped; keep it alive for the life of `main`. [`builder`] overrides settings in code.
//!
//! ```no_run
//! let _guard = datadog_subscriber::init();
//! tracing::info!("starting server on port 8080");
//! ```

use std::time::{Duration, Instant};

use tracing::Dispatch;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;

use crate::logs::{LogConfig, LogGuard};
#[cfg(feature = "runtime-metrics")]
use crate::runtime_metrics::{RuntimeMetrics, RuntimeMetricsConfig};
use crate::tracer::{TracerConfig, TracerHandle};

/// How long dropping a [`DatadogGuard`] waits for traces and logs to be written.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The filter used when `RUST_LOG` is unset or invalid.
const DEFAULT_FILTER: &str = "info";

/// Installs the Datadog tracer and JSON logs as the global subscriber, configured from the
/// environment. Never panics: if a global subscriber is already set, it warns on stderr and
/// returns a guard that still flushes.
pub fn init() -> DatadogGuard {
    builder().init()
}

/// The settings [`init`] uses, read from the environment, to override in code.
///
/// ```no_run
/// use datadog_subscriber::logs::Destination;
///
/// let _guard = datadog_subscriber::builder()
///     .service("checkout")
///     .filter("info,hyper=warn")
///     .logs(|logs| logs.destination(Destination::sidecar()))
///     .init();
/// ```
pub fn builder() -> Builder {
    Builder {
        tracer: TracerConfig::from_env(),
        logs: LogConfig::from_env(),
        filter: None,
        #[cfg(feature = "runtime-metrics")]
        runtime_metrics: RuntimeMetricsConfig::from_env(),
    }
}

/// Settings of the subscriber [`init`] installs; see [`builder`].
#[derive(Clone, Debug)]
pub struct Builder {
    tracer: TracerConfig,
    logs: LogConfig,
    filter: Option<String>,
    #[cfg(feature = "runtime-metrics")]
    runtime_metrics: RuntimeMetricsConfig,
}

impl Builder {
    /// `DD_SERVICE` in code, for traces and logs alike.
    pub fn service(mut self, service: impl Into<String>) -> Self {
        let service = service.into();
        self.tracer = self.tracer.service(service.clone());
        self.logs = self.logs.service(service);
        self
    }

    /// `DD_ENV` in code, for traces and logs alike.
    pub fn env(mut self, env: impl Into<String>) -> Self {
        let env = env.into();
        self.tracer = self.tracer.env(env.clone());
        self.logs = self.logs.env(env);
        self
    }

    /// `DD_VERSION` in code, for traces and logs alike.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        let version = version.into();
        self.tracer = self.tracer.version(version.clone());
        self.logs = self.logs.version(version);
        self
    }

    /// Filter directives in `RUST_LOG` syntax, instead of `RUST_LOG`.
    pub fn filter(mut self, directives: impl Into<String>) -> Self {
        self.filter = Some(directives.into());
        self
    }

    /// Adjusts the tracer's settings.
    pub fn tracer(mut self, configure: impl FnOnce(TracerConfig) -> TracerConfig) -> Self {
        self.tracer = configure(self.tracer);
        self
    }

    /// Adjusts the log layer's settings.
    pub fn logs(mut self, configure: impl FnOnce(LogConfig) -> LogConfig) -> Self {
        self.logs = configure(self.logs);
        self
    }

    /// Adjusts the runtime metrics (`DD_RUNTIME_METRICS_ENABLED`); see
    /// [`runtime_metrics`](crate::runtime_metrics).
    #[cfg(feature = "runtime-metrics")]
    pub fn runtime_metrics(
        mut self,
        configure: impl FnOnce(RuntimeMetricsConfig) -> RuntimeMetricsConfig,
    ) -> Self {
        self.runtime_metrics = configure(self.runtime_metrics);
        self
    }

    /// Builds the subscriber without installing it (for `tracing::dispatcher::with_default`, or
    /// to install it yourself) and its guard.
    pub fn build(self) -> (Dispatch, DatadogGuard) {
        crate::startup_report::print(&self.tracer, &self.logs);
        let filter = env_filter(self.filter);
        let (tracer_layer, tracer) = self.tracer.build();
        let (log_layer, logs) = self.logs.build();
        #[cfg(feature = "runtime-metrics")]
        let runtime_metrics = self.runtime_metrics.start(&tracer);
        let subscriber = tracing_subscriber::registry()
            .with(filter)
            .with(tracer_layer)
            .with(log_layer);
        (
            Dispatch::new(subscriber),
            DatadogGuard {
                tracer,
                logs,
                #[cfg(feature = "runtime-metrics")]
                runtime_metrics,
            },
        )
    }

    /// Builds and installs the subscriber as the global default. If one is already installed,
    /// warns on stderr and leaves it; the guard still flushes what this call started.
    pub fn init(self) -> DatadogGuard {
        let (dispatch, guard) = self.build();
        if tracing::dispatcher::set_global_default(dispatch).is_err() {
            crate::logs::warn_stderr(
                "a global tracing subscriber is already set; the Datadog tracer and JSON logs are not installed",
            );
        }
        guard
    }
}

/// `RUST_LOG` (or the builder's directives); invalid directives warn and fall back to `info`.
fn env_filter(directives: Option<String>) -> EnvFilter {
    let (source, directives) = match directives {
        Some(directives) => ("the filter", directives),
        None => match std::env::var("RUST_LOG") {
            Ok(value) if !value.trim().is_empty() => ("RUST_LOG", value),
            _ => return EnvFilter::new(DEFAULT_FILTER),
        },
    };
    EnvFilter::try_new(&directives).unwrap_or_else(|error| {
        crate::logs::warn_stderr(&format!(
            "{source} {directives:?} is not a valid filter ({error}); using {DEFAULT_FILTER:?}"
        ));
        EnvFilter::new(DEFAULT_FILTER)
    })
}

/// Keeps the tracer's export worker and the log writer running; flushes both when dropped
/// (waiting at most [`DEFAULT_SHUTDOWN_TIMEOUT`]).
#[derive(Debug)]
pub struct DatadogGuard {
    tracer: TracerHandle,
    logs: LogGuard,
    #[cfg(feature = "runtime-metrics")]
    runtime_metrics: Option<RuntimeMetrics>,
}

impl DatadogGuard {
    /// Sends the traces finished so far and writes the log lines logged so far; `false` if
    /// `timeout` passed first.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let traces = self.tracer.flush(timeout);
        let logs = self
            .logs
            .flush(deadline.saturating_duration_since(Instant::now()));
        traces && logs
    }

    /// Stops the runtime metrics, flushes, then stops the export worker and the log writer
    /// (later traces and lines are dropped and counted). Traces go first: the deadline covers
    /// both.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        #[cfg(feature = "runtime-metrics")]
        if let Some(runtime_metrics) = &self.runtime_metrics {
            runtime_metrics.stop();
        }
        let traces = self.tracer.shutdown(timeout);
        let logs = self
            .logs
            .shutdown(deadline.saturating_duration_since(Instant::now()));
        traces && logs
    }

    /// The tracer's handle (flush, counters).
    pub fn tracer(&self) -> &TracerHandle {
        &self.tracer
    }

    /// The log writer's guard (flush, counters).
    pub fn logs(&self) -> &LogGuard {
        &self.logs
    }

    /// The runtime metrics reporter, when enabled.
    #[cfg(feature = "runtime-metrics")]
    pub fn runtime_metrics(&self) -> Option<&RuntimeMetrics> {
        self.runtime_metrics.as_ref()
    }
}

impl Drop for DatadogGuard {
    fn drop(&mut self) {
        self.shutdown(DEFAULT_SHUTDOWN_TIMEOUT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_filter_falls_back_to_info() {
        let filter = env_filter(Some("[[[not a filter".into()));
        assert_eq!(filter.to_string(), DEFAULT_FILTER);
        let filter = env_filter(Some("debug,hyper=warn".into()));
        assert!(filter.to_string().contains("hyper=warn"));
    }

    #[test]
    fn the_built_subscriber_logs_and_flushes() {
        let (dispatch, guard) = builder()
            .tracer(|tracer| tracer.enabled(false))
            .filter("trace")
            .build();
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::info_span!("work").in_scope(|| tracing::debug!("inside"));
        });
        assert!(guard.flush(Duration::from_secs(10)));
        assert_eq!(guard.logs().dropped_lines(), 0);
        assert!(guard.shutdown(Duration::from_secs(10)));
    }
}
