//! `Builder::log_bridge(false)` leaves the `log` crate's logger free for the application.

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
fn without_the_bridge_the_application_installs_its_own_logger() {
    let guard = datadog_subscriber::builder()
        .tracer(|tracer| tracer.enabled(false))
        .log_bridge(false)
        .init();
    log::set_logger(&APP_LOGGER).expect("init left the logger unset");
    log::set_max_level(log::LevelFilter::Info);
    log::info!("to the application's logger");
    assert_eq!(APP_LOGGER.0.load(Ordering::SeqCst), 1);
    guard.shutdown(Duration::from_secs(5));
}
