//! A `log` logger installed before `datadog_subscriber::init` stays: init warns (on stderr) and
//! does not panic, and the tracing subscriber is installed all the same.

use std::time::Duration;

mod support;

static APP_LOGGER: support::CountingLogger = support::CountingLogger::new();

#[test]
fn an_existing_logger_is_left_in_place() {
    log::set_logger(&APP_LOGGER).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let guard = datadog_subscriber::builder()
        .tracer(|tracer| tracer.enabled(false))
        .init();
    log::info!("still to the application's logger");
    assert_eq!(APP_LOGGER.count(), 1);
    assert!(
        tracing::dispatcher::has_been_set(),
        "the tracing subscriber is installed"
    );
    guard.shutdown(Duration::from_secs(5));
}
