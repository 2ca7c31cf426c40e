//! One call for `main`: the Datadog tracer and JSON logs, configured from the `DD_*` variables.
//!
//! [`init`] installs, as the global default subscriber, a registry with an [`EnvFilter`]
//! (`RUST_LOG`, default `info`), the [`TracerLayer`](crate::tracer::TracerLayer) and the
//! [`JsonLogLayer`](crate::logs::JsonLogLayer). The returned [`DatadogGuard`] flushes traces and
//! logs when dropped; keep it alive for the life of `main`. [`builder`] overrides settings in code.
//!
//! With the `log` feature (on by default), records of the [`log`](https://docs.rs/log) crate
//! become events of this subscriber too (through `tracing-log`'s `LogTracer`, as
//! `tracing_subscriber`'s own `init` does): JSON lines with the record's target as `logger.name`,
//! correlated with the span in scope, and filtered by the same directives.
//!
//! Shutdown keeps the caller's budget: [`DatadogGuard::shutdown`] returns by its timeout whatever
//! the Agent or stdout do, counts what could not be delivered as dropped, says how much in one
//! line on stderr, and only the first shutdown waits (the guard's drop after it returns at once).
//!
//! ```no_run
//! let _guard = datadog_subscriber::init();
//! tracing::info!("starting server on port 8080");
//! ```

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::Dispatch;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;

use crate::logs::{LogConfig, LogGuard};
#[cfg(feature = "runtime-metrics")]
use crate::runtime_metrics::{RuntimeMetrics, RuntimeMetricsConfig};
use crate::tracer::{TracerConfig, TracerHandle};

/// How long dropping a [`DatadogGuard`] waits for traces and logs to be written.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the shutdown's report line may take to reach stderr.
const STDERR_LINE_TIMEOUT: Duration = Duration::from_millis(100);

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
        #[cfg(feature = "log")]
        log_bridge: true,
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
    #[cfg(feature = "log")]
    log_bridge: bool,
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

    /// Whether [`init`](Self::init) routes records of the `log` crate into the subscriber (on by
    /// default). Turn it off when the application installs its own `log` logger.
    ///
    /// ```no_run
    /// let _guard = datadog_subscriber::builder().log_bridge(false).init();
    /// ```
    #[cfg(feature = "log")]
    pub fn log_bridge(mut self, enabled: bool) -> Self {
        self.log_bridge = enabled;
        self
    }

    /// Builds the subscriber without installing it (for `tracing::dispatcher::with_default`, or
    /// to install it yourself) and its guard.
    pub fn build(self) -> (Dispatch, DatadogGuard) {
        let (dispatch, guard, _max_level) = self.assemble();
        (dispatch, guard)
    }

    /// [`build`](Self::build), with the most verbose level the filter can enable.
    fn assemble(self) -> (Dispatch, DatadogGuard, LevelFilter) {
        crate::startup_report::print(&self.tracer, &self.logs);
        let filter = env_filter(self.filter);
        let max_level = filter.max_level_hint().unwrap_or(LevelFilter::TRACE);
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
                report: Mutex::new(None),
            },
            max_level,
        )
    }

    /// Builds and installs the subscriber as the global default, and (feature `log`, unless
    /// [`log_bridge(false)`](Self::log_bridge)) the `log` crate's logger that feeds it. If a
    /// subscriber or a logger is already installed, warns on stderr and leaves it; the guard
    /// still flushes what this call started.
    pub fn init(self) -> DatadogGuard {
        #[cfg(feature = "log")]
        let log_bridge = self.log_bridge;
        let (dispatch, guard, max_level) = self.assemble();
        if tracing::dispatcher::set_global_default(dispatch).is_err() {
            crate::logs::warn_stderr(
                "a global tracing subscriber is already set; the Datadog tracer and JSON logs are not installed",
            );
            return guard;
        }
        #[cfg(feature = "log")]
        if log_bridge {
            install_log_bridge(max_level);
        }
        // Only the `log` bridge needs the filter's level.
        #[cfg(not(feature = "log"))]
        let _ = max_level;
        guard
    }
}

/// Routes `log` records to the global subscriber, letting through only the levels its filter can
/// enable (`log::max_level`), so disabled `log` calls stay as cheap as disabled `tracing` ones.
#[cfg(feature = "log")]
fn install_log_bridge(max_level: LevelFilter) {
    use tracing_log::AsLog;

    if tracing_log::LogTracer::builder()
        .with_max_level(max_level.as_log())
        .init()
        .is_err()
    {
        datadog_env::warn_once("datadog_subscriber::log_bridge", || {
            "a `log` logger is already set; records of the `log` crate do not reach the Datadog \
             tracer and JSON logs"
                .to_owned()
        });
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

/// What a [`DatadogGuard::shutdown`] delivered and dropped.
///
/// ```
/// use std::time::Duration;
///
/// let (_dispatch, guard) = datadog_subscriber::builder()
///     .tracer(|tracer| tracer.enabled(false))
///     .build();
/// let report = guard.shutdown_report(Duration::from_secs(1));
/// assert!(report.complete);
/// assert_eq!(report.traces_dropped, 0);
/// assert!(report.to_string().contains("0 traces"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Everything was delivered (or had been dropped and counted before) within the timeout.
    pub complete: bool,
    /// The budget the shutdown was given.
    pub timeout: Duration,
    /// Traces dropped since the tracer started, including those still unsent at the deadline.
    pub traces_dropped: u64,
    /// Log lines dropped since the logs started, including those still unwritten at the deadline.
    pub log_lines_dropped: u64,
}

impl std::fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "shutdown within {} ms {}: {} traces and {} log lines dropped since start",
            self.timeout.as_millis(),
            if self.complete {
                "completed"
            } else {
                "ran out of time"
            },
            self.traces_dropped,
            self.log_lines_dropped
        )
    }
}

/// Keeps the tracer's export worker and the log writer running; flushes both when dropped
/// (waiting at most [`DEFAULT_SHUTDOWN_TIMEOUT`], and not at all after an explicit shutdown).
#[derive(Debug)]
pub struct DatadogGuard {
    tracer: TracerHandle,
    logs: LogGuard,
    #[cfg(feature = "runtime-metrics")]
    runtime_metrics: Option<RuntimeMetrics>,
    /// The first shutdown's report: later shutdowns return it without waiting again.
    report: Mutex<Option<ShutdownReport>>,
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
    /// both. Returns by `timeout` whatever the Agent or stdout do; `false` if `timeout` passed
    /// first (what was left is then counted as dropped).
    pub fn shutdown(&self, timeout: Duration) -> bool {
        self.shutdown_report(timeout).complete
    }

    /// [`shutdown`](Self::shutdown), returning what was dropped. When something was, one line
    /// on stderr says how much. Only the first call waits; later ones return its report.
    pub fn shutdown_report(&self, timeout: Duration) -> ShutdownReport {
        let mut stored = self.report.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(report) = *stored {
            return report;
        }
        let deadline = Instant::now() + timeout;
        #[cfg(feature = "runtime-metrics")]
        if let Some(runtime_metrics) = &self.runtime_metrics {
            runtime_metrics.stop();
        }
        let traces = self.tracer.shutdown(timeout);
        let logs = self
            .logs
            .shutdown(deadline.saturating_duration_since(Instant::now()));
        let report = ShutdownReport {
            complete: traces && logs,
            timeout,
            traces_dropped: self.tracer.stats().traces_dropped,
            log_lines_dropped: self.logs.dropped_lines(),
        };
        if !report.complete || report.traces_dropped > 0 || report.log_lines_dropped > 0 {
            // stderr may be a pipe nobody reads either: the line must not hold up the exit.
            crate::logs::warn_within(&report.to_string(), STDERR_LINE_TIMEOUT);
        }
        *stored = Some(report);
        report
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

    #[test]
    fn a_shutdown_against_a_hanging_agent_keeps_its_budget_once() {
        // An Agent that accepts connections and never answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (dispatch, guard) = builder()
            .tracer(|tracer| {
                tracer
                    .agent_url(&url)
                    .flush_interval(Duration::from_hours(1))
            })
            .filter("info")
            .logs(|logs| {
                logs.destination(crate::logs::Destination::File(
                    std::env::temp_dir().join(format!("dd-guard-{}.log", std::process::id())),
                ))
            })
            .build();
        tracing::dispatcher::with_default(&dispatch, || {
            for _ in 0..10 {
                tracing::info_span!("work").in_scope(|| tracing::info!("inside"));
            }
        });
        let started = Instant::now();
        let report = guard.shutdown_report(Duration::from_millis(300));
        assert_eq!(report.traces_dropped, 10, "{report}");
        // The second shutdown and the drop return at once, with the first one's report.
        assert_eq!(guard.shutdown_report(Duration::from_secs(30)), report);
        drop(guard);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "{took:?}");
        drop(listener);
        let _ = std::fs::remove_file(
            std::env::temp_dir().join(format!("dd-guard-{}.log", std::process::id())),
        );
    }
}
