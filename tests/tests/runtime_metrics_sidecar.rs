//! Runtime metrics switched on the way users switch them on: the sidecar example, unchanged, run
//! with `DD_RUNTIME_METRICS_ENABLED=true`, sends `runtime.rust.*` gauges to the DogStatsD address
//! of its environment, tagged from `DD_SERVICE`/`DD_ENV`/`DD_VERSION` (once each) and with the
//! `runtime-id` of its request spans.

mod examples_support;

use std::collections::HashSet;
use std::time::Duration;

use datadog_e2e_tests::dogstatsd_sink::{DogStatsdSink, Message};
use datadog_e2e_tests::test_agent::TestAgent;
use examples_support::{App, PATIENCE, TempDir, example_binary, request_spans};

#[test]
fn the_sidecar_example_sends_runtime_metrics_when_the_environment_asks() {
    let agent = TestAgent::start();
    agent.start_session(None);
    let sink = DogStatsdSink::udp();
    let logs = TempDir::new("runtime-metrics");
    let app = App::start(
        &example_binary("sidecar"),
        &[
            ("DD_RUNTIME_METRICS_ENABLED", "true".into()),
            ("DD_TRACE_AGENT_URL", agent.url()),
            ("DD_DOGSTATSD_PORT", sink.port().to_string()),
            (
                "DD_SERVERLESS_LOG_PATH",
                format!("{}/logs/*.log", logs.0.display()),
            ),
            ("DD_SERVICE", "sidecar-runtime".into()),
            ("DD_ENV", "test".into()),
            ("DD_VERSION", "2.0.0".into()),
        ],
    );
    assert_eq!(app.get(&[]), (200, "Hello World!".to_owned()));
    let traces = agent.wait_for_traces(PATIENCE, |traces| !request_spans(traces).is_empty());
    let span = &request_spans(&traces)[0];
    let runtime_id = span["meta"]["runtime-id"].as_str().unwrap().to_owned();

    // The first round comes one interval (10 s) after start.
    let is_runtime = |message: &Message| matches!(message, Message::Metric(metric) if metric.name == "runtime.rust.tokio.workers");
    let messages = sink
        .wait_for(Duration::from_secs(30), |messages| {
            messages.iter().any(is_runtime)
        })
        .unwrap_or_else(|| panic!("no runtime metrics within 30 s: {:#?}", sink.messages()));
    let runtime: Vec<_> = sink
        .metrics()
        .into_iter()
        .filter(|metric| metric.name.starts_with("runtime.rust."))
        .collect();
    assert!(messages.iter().any(is_runtime));
    let names: HashSet<&str> = runtime.iter().map(|m| m.name.as_str()).collect();
    for name in [
        "runtime.rust.mem.rss",
        "runtime.rust.cpu.time.user",
        "runtime.rust.thread_count",
        "runtime.rust.tokio.alive_tasks",
    ] {
        assert!(names.contains(name), "{name} in {names:?}");
    }
    for metric in &runtime {
        assert_eq!(metric.kind, "g", "{metric:?}");
        for tag in [
            "service:sidecar-runtime".to_owned(),
            "env:test".to_owned(),
            "version:2.0.0".to_owned(),
            format!("runtime-id:{runtime_id}"),
        ] {
            let count = metric.tags.iter().filter(|t| **t == tag).count();
            assert_eq!(count, 1, "{tag} once on {metric:?}");
        }
    }
}
