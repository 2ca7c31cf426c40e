//! Golden comparison: the same calls through Datadog's Python client (`datadog==0.56.0`, script
//! `tests/python/statsd_golden.py`) and through `datadog-statsd` parse to the same messages in
//! the Agent-normative sink.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use datadog_e2e_tests::dogstatsd_sink::{DogStatsdSink, Message};
use datadog_e2e_tests::peers;
use datadog_statsd::{AlertType, Event, Metric, Priority, ServiceCheck, StatsdBuilder, Status};

const WAIT: Duration = Duration::from_secs(30);
/// Messages the script sends.
const CALLS: usize = 17;

fn python_messages() -> Vec<Message> {
    let sink = DogStatsdSink::udp();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/statsd_golden.py");
    // A clean environment: no DD_* variable may change the official client's output.
    let status = Command::new(peers::python())
        .arg(&script)
        .arg(sink.port().to_string())
        .env_clear()
        .status()
        .expect("run the venv python");
    assert!(status.success(), "{} failed: {status}", script.display());
    let messages = sink.wait_for_messages(CALLS, WAIT);
    assert!(sink.malformed().is_empty(), "{:#?}", sink.malformed());
    messages
}

fn our_messages() -> Vec<Message> {
    let sink = DogStatsdSink::udp();
    let builder = || {
        StatsdBuilder::new()
            .url(sink.url())
            .aggregation(false)
            .telemetry(false)
    };
    let statsd = builder().build();
    statsd.distribution("our-sample-app.sample-metric", 1.0);
    statsd.distribution_with_tags(
        "our-sample-app.sample-metric",
        1.0,
        &["env:test", "bad|tag,x"],
    );
    statsd.count_with_tags("page.views", 1, &["route:/users"]);
    statsd.count("page.views", 5);
    statsd.decrement("page.views");
    statsd.gauge_with_tags("queue.depth", 12.5, &["a:b", "c"]);
    statsd.histogram("req.size", 512.0);
    statsd.send(&Metric::timing_ms("req.latency", 12.5));
    statsd.set("users.unique", "user-42");
    statsd.send(&Metric::gauge("g", 5.0).timestamp(1_656_581_400));
    statsd.send(&Metric::count("c", 3).timestamp(1_656_581_400));
    statsd
        .event(
            &Event::new("Tïtle", "line1\nline2")
                .alert_type(AlertType::Warning)
                .tags(&["a:b"]),
        )
        .unwrap();
    statsd
        .event(
            &Event::new("Deploy ✓", "version 42 | all green")
                .alert_type(AlertType::Success)
                .aggregation_key("deploy")
                .source_type("rust")
                .timestamp(1_656_581_400)
                .priority(Priority::Low)
                .hostname("web-1"),
        )
        .unwrap();
    statsd
        .service_check(
            &ServiceCheck::new("svc.check", Status::Critical)
                .message("m:boom\nx")
                .tags(&["a:b"]),
        )
        .unwrap();
    statsd
        .service_check(
            &ServiceCheck::new("svc.ok", Status::Ok)
                .hostname("web-1")
                .timestamp(1_656_581_400),
        )
        .unwrap();
    statsd.flush();

    let namespaced = builder().namespace("app").tag("team:web").build();
    namespaced.distribution_with_tags("request.duration", 2.5, &["k:v"]);
    namespaced.increment("hits");
    namespaced.flush();

    let messages = sink.wait_for_messages(CALLS, WAIT);
    assert!(sink.malformed().is_empty(), "{:#?}", sink.malformed());
    messages
}

#[test]
fn same_calls_parse_to_the_same_messages_as_datadogpy() {
    let theirs = python_messages();
    let ours = our_messages();
    assert_eq!(ours.len(), CALLS);
    for (index, (ours, theirs)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(ours, theirs, "message {index} differs");
    }
    assert_eq!(ours, theirs);
}
