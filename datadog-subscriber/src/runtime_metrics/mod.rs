//! Runtime metrics: the process and its tokio runtime, next to the traces, as Datadog's tracers
//! report them for their languages (`DD_RUNTIME_METRICS_ENABLED`).
//!
//! When enabled, a background thread sends these gauges over DogStatsD every 10 seconds (the
//! first after one interval, since CPU times are differences):
//!
//! | Metric | Meaning |
//! |---|---|
//! | `runtime.rust.cpu.time.user` | seconds of user CPU in the last interval |
//! | `runtime.rust.cpu.time.sys` | seconds of system CPU in the last interval |
//! | `runtime.rust.cpu.percent` | CPU time over wall time in the last interval, percent (can pass 100 with several cores) |
//! | `runtime.rust.mem.rss` | resident set size, bytes |
//! | `runtime.rust.thread_count` | threads of the process |
//! | `runtime.rust.fd_count` | open file descriptors |
//! | `runtime.rust.tokio.workers` | worker threads of the tokio runtime |
//! | `runtime.rust.tokio.alive_tasks` | tasks spawned and not finished |
//! | `runtime.rust.tokio.global_queue_depth` | tasks waiting in the global queue |
//! | `runtime.rust.tokio.busy_percent` | share of the workers' time spent running tasks in the last interval |
//! | `runtime.rust.tokio.park_count` | times the workers went idle in the last interval |
//!
//! The process figures come from `/proc/self` on Linux (none elsewhere); the tokio figures from
//! the runtime that was current when the subscriber was built, or the one given in code (none
//! without either). Every metric is tagged `service`, `env`, `version` (the tracer's), the
//! tracer's `DD_TAGS`, `lang:rust`, `lang_version`, `tracer_version` and `runtime-id`: the value
//! the tracer puts on its root spans, which is how Datadog links the metrics to the traces.
//!
//! They go to the DogStatsD address of the environment (`DD_DOGSTATSD_URL`, or `DD_AGENT_HOST`
//! and `DD_DOGSTATSD_PORT`, default `127.0.0.1:8125`) through `datadog-statsd`. The thread stops
//! when the [`DatadogGuard`](crate::DatadogGuard) shuts down. When disabled (the default) nothing
//! is started: no thread, no socket.
//!
//! ```no_run
//! # #[tokio::main] async fn main() {
//! // DD_RUNTIME_METRICS_ENABLED=true does the same.
//! let _guard = datadog_subscriber::builder()
//!     .runtime_metrics(|metrics| metrics.enabled(true))
//!     .init();
//! # }
//! ```

mod process;
mod tokio_runtime;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use datadog_statsd::{Statsd, StatsdBuilder};

use crate::tracer::TracerHandle;

/// How often the gauges are sent by default (Datadog's tracers use 10 s).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// The variables the tracer already reads; the runtime metrics' client tags with the tracer's
/// values instead, so that settings made in code apply and nothing is tagged twice.
const TRACER_TAG_VARIABLES: [&str; 5] = [
    "DD_SERVICE",
    "DD_ENV",
    "DD_VERSION",
    "DD_TAGS",
    "DATADOG_TAGS",
];

/// Settings of the runtime metrics: `DD_RUNTIME_METRICS_ENABLED` (default `false`), overridable
/// in code.
///
/// ```
/// use std::time::Duration;
/// use datadog_statsd::Statsd;
/// use datadog_subscriber::runtime_metrics::RuntimeMetricsConfig;
///
/// let config = RuntimeMetricsConfig::new()
///     .enabled(true)
///     .interval(Duration::from_secs(5))
///     .statsd(Statsd::builder().url("udp://127.0.0.1:8125"));
/// assert!(config.is_enabled());
/// ```
#[derive(Clone, Debug)]
pub struct RuntimeMetricsConfig {
    enabled: bool,
    interval: Duration,
    statsd: Option<StatsdBuilder>,
    runtime: Option<tokio::runtime::Handle>,
}

impl Default for RuntimeMetricsConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl RuntimeMetricsConfig {
    /// Disabled, every 10 s, the environment's DogStatsD address, ignoring
    /// `DD_RUNTIME_METRICS_ENABLED`.
    pub fn new() -> Self {
        RuntimeMetricsConfig {
            enabled: false,
            interval: DEFAULT_INTERVAL,
            statsd: None,
            runtime: None,
        }
    }

    /// Reads `DD_RUNTIME_METRICS_ENABLED` (off also with `OTEL_METRICS_EXPORTER=none` or
    /// `OTEL_SDK_DISABLED=true` when it is unset); a value that is not a boolean warns and leaves
    /// the metrics off.
    pub fn from_env() -> Self {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut config = Self::new();
        config.enabled = datadog_env::Env::new(&lookup).runtime_metrics_enabled(false);
        config
    }

    /// Whether the metrics are sent.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// How often they are sent (default 10 s; at least 1 ms).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// The DogStatsD client settings (default: the environment's address, without its
    /// `DD_SERVICE`/`DD_ENV`/`DD_VERSION`/`DD_TAGS` tags, which come from the tracer instead).
    pub fn statsd(mut self, statsd: StatsdBuilder) -> Self {
        self.statsd = Some(statsd);
        self
    }

    /// The tokio runtime to report on (default: the one current when the subscriber is built).
    pub fn tokio_runtime(mut self, handle: tokio::runtime::Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// Whether the metrics will be sent.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Starts the reporting thread for `tracer`'s identity, when enabled.
    pub(crate) fn start(self, tracer: &TracerHandle) -> Option<RuntimeMetrics> {
        if !self.enabled {
            return None;
        }
        let statsd = self
            .statsd
            .unwrap_or_else(|| {
                StatsdBuilder::from_lookup(|key| {
                    if TRACER_TAG_VARIABLES.contains(&key) {
                        None
                    } else {
                        std::env::var(key).ok()
                    }
                })
            })
            .tags(identity_tags(tracer))
            // One flush per round; no timer thread, no client telemetry beside the metrics.
            .background_thread(false)
            .telemetry(false)
            .aggregation(false)
            .build();
        let runtime = self
            .runtime
            .or_else(|| tokio::runtime::Handle::try_current().ok());
        let shared = Arc::new(Shared::default());
        let worker = Worker {
            statsd,
            runtime,
            interval: self.interval,
            shared: shared.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("datadog-runtime-metrics".into())
            .spawn(move || worker.run());
        match thread {
            Ok(thread) => Some(RuntimeMetrics {
                shared,
                thread: Mutex::new(Some(thread)),
            }),
            Err(error) => {
                crate::logs::warn_stderr(&format!(
                    "the runtime metrics thread could not start ({error}); no runtime metrics are sent"
                ));
                None
            }
        }
    }
}

/// The tags every runtime metric carries.
fn identity_tags(tracer: &TracerHandle) -> Vec<String> {
    let settings = tracer.settings();
    let mut tags = vec![format!("service:{}", settings.service)];
    if let Some(env) = &settings.env {
        tags.push(format!("env:{env}"));
    }
    if let Some(version) = &settings.version {
        tags.push(format!("version:{version}"));
    }
    for (key, value) in &settings.tags {
        tags.push(if value.is_empty() {
            key.clone()
        } else {
            format!("{key}:{value}")
        });
    }
    tags.push(format!("runtime-id:{}", tracer.runtime_id()));
    tags.push("lang:rust".to_owned());
    tags.push(format!(
        "lang_version:{}",
        env!("DATADOG_SUBSCRIBER_RUSTC_VERSION")
    ));
    tags.push(format!("tracer_version:{}", env!("CARGO_PKG_VERSION")));
    tags
}

#[derive(Default)]
struct Shared {
    stopped: Mutex<bool>,
    wake: Condvar,
    rounds: AtomicU64,
}

/// The running reporter; stops with the [`DatadogGuard`](crate::DatadogGuard).
pub struct RuntimeMetrics {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for RuntimeMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeMetrics")
            .field("rounds", &self.rounds())
            .finish_non_exhaustive()
    }
}

impl RuntimeMetrics {
    /// How many times the gauges have been sent.
    pub fn rounds(&self) -> u64 {
        self.shared.rounds.load(Ordering::Relaxed)
    }

    /// Stops the thread and waits for it (it is never busy for long: a round reads a few
    /// `/proc` files). Later calls do nothing.
    pub fn stop(&self) {
        *self
            .shared
            .stopped
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.shared.wake.notify_all();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for RuntimeMetrics {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Worker {
    statsd: Statsd,
    runtime: Option<tokio::runtime::Handle>,
    interval: Duration,
    shared: Arc<Shared>,
}

/// What one round needs from the one before: CPU times and tokio counters are differences.
struct Previous {
    at: Instant,
    process: Option<process::ProcessSample>,
    tokio: Option<tokio_runtime::TokioSample>,
}

impl Worker {
    fn run(self) {
        let mut previous = self.read();
        loop {
            let deadline = Instant::now() + self.interval;
            {
                let mut stopped = self
                    .shared
                    .stopped
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                loop {
                    if *stopped {
                        return;
                    }
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    stopped = self
                        .shared
                        .wake
                        .wait_timeout(stopped, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
            let current = self.read();
            self.send(&previous, &current);
            self.shared.rounds.fetch_add(1, Ordering::Relaxed);
            previous = current;
        }
    }

    fn read(&self) -> Previous {
        Previous {
            at: Instant::now(),
            process: process::sample(),
            tokio: self.runtime.as_ref().map(tokio_runtime::sample),
        }
    }

    fn send(&self, previous: &Previous, current: &Previous) {
        let elapsed = current.at.duration_since(previous.at).as_secs_f64();
        let gauge = |name: &str, value: f64| self.statsd.gauge(name, value);
        if let Some(now) = current.process {
            if let Some(before) = previous.process {
                let user = now.cpu_user.saturating_sub(before.cpu_user).as_secs_f64();
                let system = now
                    .cpu_system
                    .saturating_sub(before.cpu_system)
                    .as_secs_f64();
                gauge("runtime.rust.cpu.time.user", user);
                gauge("runtime.rust.cpu.time.sys", system);
                if elapsed > 0.0 {
                    gauge(
                        "runtime.rust.cpu.percent",
                        (user + system) / elapsed * 100.0,
                    );
                }
            }
            gauge("runtime.rust.mem.rss", now.rss_bytes as f64);
            gauge("runtime.rust.thread_count", now.threads as f64);
            gauge("runtime.rust.fd_count", now.open_fds as f64);
        }
        if let Some(now) = current.tokio {
            gauge("runtime.rust.tokio.workers", now.workers as f64);
            gauge("runtime.rust.tokio.alive_tasks", now.alive_tasks as f64);
            gauge(
                "runtime.rust.tokio.global_queue_depth",
                now.global_queue_depth as f64,
            );
            if let Some(before) = previous.tokio {
                let busy = now.busy.saturating_sub(before.busy).as_secs_f64();
                if elapsed > 0.0 && now.workers > 0 {
                    gauge(
                        "runtime.rust.tokio.busy_percent",
                        busy / (elapsed * now.workers as f64) * 100.0,
                    );
                }
                gauge(
                    "runtime.rust.tokio.park_count",
                    now.parks.saturating_sub(before.parks) as f64,
                );
            }
        }
        self.statsd.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_switches_them_on() {
        let config = |value: &str| {
            let value = value.to_owned();
            RuntimeMetricsConfig::from_lookup(move |key| {
                (key == "DD_RUNTIME_METRICS_ENABLED").then(|| value.clone())
            })
        };
        assert!(config("true").is_enabled());
        assert!(config(" 1 ").is_enabled());
        assert!(!config("false").is_enabled());
        assert!(!config("maybe").is_enabled());
        assert!(!RuntimeMetricsConfig::from_lookup(|_| None).is_enabled());
        assert_eq!(RuntimeMetricsConfig::new().interval, DEFAULT_INTERVAL);
        // Datadog's variable wins over OpenTelemetry's.
        let both = RuntimeMetricsConfig::from_lookup(|key| match key {
            "DD_RUNTIME_METRICS_ENABLED" => Some("true".into()),
            "OTEL_METRICS_EXPORTER" => Some("none".into()),
            _ => None,
        });
        assert!(both.is_enabled());
    }

    #[test]
    fn disabled_starts_nothing() {
        let (_layer, tracer) = crate::tracer::TracerConfig::new().enabled(false).build();
        assert!(RuntimeMetricsConfig::new().start(&tracer).is_none());
    }
}
