//! A `log` logger installed before `datadog_subscriber::init` stays: init warns (on stderr) and
//! does not panic, and the tracing subscriber is installed all the same.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A `log` logger that counts the records it is given.
struct CountingLogger(AtomicUsize);

impl log::Log for CountingLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, _: &log::Record<'_>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn flush(&self) {}
}

static APP_LOGGER: CountingLogger = CountingLogger(AtomicUsize::new(0));

#[test]
fn an_existing_logger_is_left_in_place() {
    log::set_logger(&APP_LOGGER).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let guard = datadog_subscriber::builder()
        .tracer(|tracer| tracer.enabled(false))
        .init();
    log::info!("still to the application's logger");
    assert_eq!(APP_LOGGER.0.load(Ordering::SeqCst), 1);
    assert!(
        tracing::dispatcher::has_been_set(),
        "the tracing subscriber is installed"
    );
    guard.shutdown(Duration::from_secs(5));
}
