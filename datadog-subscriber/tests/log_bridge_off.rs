//! `Builder::log_bridge(false)` leaves the `log` crate's logger free for the application.

use std::time::Duration;

mod support;

static APP_LOGGER: support::CountingLogger = support::CountingLogger::new();

#[test]
fn without_the_bridge_the_application_installs_its_own_logger() {
    let guard = datadog_subscriber::builder()
        .tracer(|tracer| tracer.enabled(false))
        .log_bridge(false)
        .init();
    log::set_logger(&APP_LOGGER).expect("init left the logger unset");
    log::set_max_level(log::LevelFilter::Info);
    log::info!("to the application's logger");
    assert_eq!(APP_LOGGER.count(), 1);
    guard.shutdown(Duration::from_secs(5));
}
