//! `datadog_subscriber::init` routes records of the `log` crate into the subscriber: they become
//! JSON lines with their level, their target as `logger.name` and the ids of the span in scope,
//! filtered by the same directives as `tracing` events.

use std::net::TcpListener;
use std::time::Duration;

use datadog_subscriber::logs::Destination;
use serde_json::Value;

#[test]
fn log_records_become_json_lines_correlated_with_the_span_in_scope() {
    // An Agent that accepts connections and never answers: traces stay queued, nothing warns.
    let agent = TcpListener::bind("127.0.0.1:0").unwrap();
    let agent_url = format!("http://{}", agent.local_addr().unwrap());
    let log_file =
        std::env::temp_dir().join(format!("datadog-log-bridge-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log_file);

    let guard = datadog_subscriber::builder()
        .filter("info")
        .tracer(|tracer| {
            tracer
                .agent_url(&agent_url)
                .flush_interval(Duration::from_hours(1))
        })
        .logs(|logs| logs.destination(Destination::File(log_file.clone())))
        .init();
    // The bridge lets through only what the filter can enable.
    assert_eq!(log::max_level(), log::LevelFilter::Info);

    let span_id = tracing::info_span!("request").in_scope(|| {
        log::info!(target: "legacy::client", "sent {} bytes", 42);
        log::debug!(target: "legacy::client", "below the filter");
        tracing::info!("from tracing");
        datadog_subscriber::current_context()
            .expect("the span is traced")
            .span_id
    });
    log::warn!(target: "legacy::client", "outside any span");
    assert!(guard.logs().flush(Duration::from_secs(10)));

    let text = std::fs::read_to_string(&log_file).unwrap();
    let _ = std::fs::remove_file(&log_file);
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let line = |message: &str| {
        lines
            .iter()
            .find(|line| line["message"] == message)
            .unwrap_or_else(|| panic!("no line {message:?} in:\n{text}"))
    };

    let from_log = line("sent 42 bytes");
    assert_eq!(from_log["status"], "info", "{from_log}");
    assert_eq!(from_log["severity"], "INFO", "{from_log}");
    assert_eq!(from_log["logger.name"], "legacy::client", "{from_log}");
    assert_eq!(
        from_log["dd.span_id"],
        span_id.as_u64().to_string(),
        "{from_log}"
    );
    // The same trace as a `tracing` event of the span, and none of tracing-log's own fields.
    let from_tracing = line("from tracing");
    assert!(from_log["dd.trace_id"].is_string(), "{from_log}");
    assert_eq!(from_log["dd.trace_id"], from_tracing["dd.trace_id"]);
    assert_eq!(from_log["dd.span_id"], from_tracing["dd.span_id"]);
    let keys: Vec<&String> = from_log.as_object().unwrap().keys().collect();
    assert!(
        keys.iter().all(|key| !key.starts_with("log.")),
        "{from_log}"
    );

    let outside = line("outside any span");
    assert_eq!(outside["status"], "warn", "{outside}");
    assert!(outside.get("dd.trace_id").is_none(), "{outside}");
    assert!(
        !text.contains("below the filter"),
        "a debug record passed the info filter:\n{text}"
    );

    guard.shutdown(Duration::from_millis(200));
}
