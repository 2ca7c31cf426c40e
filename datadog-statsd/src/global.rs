//! The process-wide client handlers reach without plumbing (like `datadog.statsd` in Python).

use std::sync::RwLock;

use crate::Statsd;

static GLOBAL: RwLock<Option<Statsd>> = RwLock::new(None);

/// The global client: the one given to [`set_global`], else one built by [`Statsd::from_env`]
/// on first use. Cheap (a read lock and an `Arc` clone).
///
/// ```
/// datadog_statsd::global().distribution("our-sample-app.sample-metric", 1.0);
/// ```
pub fn global() -> Statsd {
    if let Some(statsd) = GLOBAL
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
    {
        return statsd.clone();
    }
    GLOBAL
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get_or_insert_with(Statsd::from_env)
        .clone()
}

/// Replaces the global client, returning the previous one (flush it, or drop it to flush).
///
/// ```
/// use datadog_statsd::{StatsdBuilder, set_global};
///
/// let previous = set_global(StatsdBuilder::new().namespace("our-sample-app").build());
/// drop(previous);
/// ```
pub fn set_global(statsd: Statsd) -> Option<Statsd> {
    GLOBAL
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .replace(statsd)
}

/// Flushes the global client and stops its background thread, for graceful shutdown (statics are
/// never dropped, so nothing else flushes it at exit).
pub fn shutdown_global() {
    let current = GLOBAL
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    if let Some(statsd) = current {
        statsd.shutdown();
    }
}
