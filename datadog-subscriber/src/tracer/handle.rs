//! The application's handle on the tracer: flush, shutdown, counters.

use std::sync::Arc;
use std::time::Duration;

use super::export::ExportStats;
use super::settings::Settings;
use super::trace::Tracer;

/// Flushes and shuts down the tracer's export worker, and reads its counters. Cheap to clone.
///
/// ```
/// use std::time::Duration;
/// use datadog_subscriber::tracer::TracerConfig;
///
/// let (_layer, handle) = TracerConfig::new().enabled(false).build();
/// assert!(handle.flush(Duration::from_secs(1)));
/// assert_eq!(handle.stats().traces_dropped, 0);
/// ```
#[derive(Clone)]
pub struct TracerHandle {
    tracer: Arc<Tracer>,
}

impl std::fmt::Debug for TracerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracerHandle")
            .field("exporting", &self.tracer.exporter.is_some())
            .field("stats", &self.stats())
            .finish()
    }
}

impl TracerHandle {
    pub(crate) fn new(tracer: Arc<Tracer>) -> Self {
        TracerHandle { tracer }
    }

    /// Sends every trace finished so far; returns `true` when all of it was delivered, or
    /// dropped and counted, within `timeout` (`true` at once when export is off).
    pub fn flush(&self, timeout: Duration) -> bool {
        self.tracer
            .exporter
            .as_ref()
            .is_none_or(|exporter| exporter.flush(timeout, false))
    }

    /// Flushes like [`flush`](Self::flush), then stops the export worker; traces finished later
    /// are dropped and counted.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        self.tracer
            .exporter
            .as_ref()
            .is_none_or(|exporter| exporter.flush(timeout, true))
    }

    /// The `runtime-id` of this tracer: a UUID v4 its root spans carry, and the runtime metrics
    /// too, so that Datadog links them.
    ///
    /// ```
    /// use datadog_subscriber::tracer::TracerConfig;
    ///
    /// let (_layer, handle) = TracerConfig::new().enabled(false).build();
    /// assert_eq!(handle.runtime_id().len(), 36);
    /// ```
    pub fn runtime_id(&self) -> &str {
        &self.tracer.settings.runtime_id
    }

    /// The tracer's resolved settings (service, env, version, tags).
    #[cfg_attr(not(feature = "runtime-metrics"), allow(dead_code))]
    pub(crate) fn settings(&self) -> &Settings {
        &self.tracer.settings
    }

    /// The export counters (all zero when export is off).
    pub fn stats(&self) -> ExportStats {
        self.tracer
            .exporter
            .as_ref()
            .map(super::export::Exporter::stats)
            .unwrap_or_default()
    }
}
