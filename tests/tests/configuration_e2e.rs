//! One configuration for traces, logs and metrics, seen from outside: both samples run under the
//! Cloud Run emulator with OpenTelemetry's variables, switches and bad values, and what reaches
//! the trace intake, stdout, stderr and the DogStatsD sink is checked.

mod examples_support;

use std::time::Duration;

use datadog_e2e_tests::cloud_run::{CloudRun, Deployment, wait_for};
use datadog_e2e_tests::dogstatsd_sink::MetricMessage;
use examples_support::{PATIENCE, TempDir, example_binary, log_matches_span, request_spans};
use serde_json::Value;

fn deploy(package: &str, env: &[(&str, &str)], logs: Option<&TempDir>) -> CloudRun {
    let mut deployment = Deployment::new(&example_binary(package), "k-service-name");
    deployment.env = env
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    deployment.shared_log_dir = logs.map(|dir| dir.0.join("logs"));
    let cloud_run = CloudRun::start(&deployment);
    cloud_run.agent().start_session(None);
    cloud_run
}

fn hello_line(cloud_run: &CloudRun) -> Value {
    wait_for(PATIENCE, || {
        cloud_run
            .stdout_json()
            .into_iter()
            .find(|line| line["message"] == "Hello world!")
    })
    .expect("the request's log line")
}

/// The sidecar's first `our-sample-app.sample-metric` at the DogStatsD sink.
fn sample_metric(cloud_run: &CloudRun) -> MetricMessage {
    wait_for(PATIENCE, || {
        cloud_run
            .statsd()
            .metrics()
            .into_iter()
            .find(|metric| metric.name == "our-sample-app.sample-metric")
    })
    .expect("the sample metric")
}

/// stderr lines that parse as the diagnostics channel's JSON.
fn diagnostics(cloud_run: &CloudRun) -> Vec<Value> {
    cloud_run
        .stderr()
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .collect()
}

const OTEL: [(&str, &str); 2] = [
    ("OTEL_SERVICE_NAME", "otel-checkout"),
    (
        "OTEL_RESOURCE_ATTRIBUTES",
        "deployment.environment=prod,service.version=3.1.0,team=payments",
    ),
];

#[test]
fn opentelemetry_variables_name_the_service_in_spans_logs_and_metrics() {
    let logs = TempDir::new("config-otel");
    let mut cloud_run = deploy("sidecar", &OTEL, Some(&logs));
    assert_eq!(cloud_run.get("/", &[]).status, 200);

    let traces = cloud_run
        .agent()
        .wait_for_traces(PATIENCE, |traces| !request_spans(traces).is_empty());
    let span = request_spans(&traces).remove(0);
    assert_eq!(span["service"], "otel-checkout");
    assert_eq!(span["meta"]["env"], "prod");
    assert_eq!(span["meta"]["version"], "3.1.0");
    assert_eq!(span["meta"]["team"], "payments");

    let line = hello_line(&cloud_run);
    assert!(log_matches_span(&line, &span));
    assert_eq!(line["dd.service"], "otel-checkout");
    assert_eq!(line["dd.env"], "prod");
    assert_eq!(line["dd.version"], "3.1.0");

    let metric = sample_metric(&cloud_run);
    for tag in [
        "service:otel-checkout",
        "env:prod",
        "version:3.1.0",
        "team:payments",
    ] {
        assert!(metric.tags.contains(&tag.to_owned()), "{tag}: {metric:?}");
    }
    assert!(cloud_run.terminate().status.success());
}

#[test]
fn trace_export_switched_off_sends_nothing_and_still_serves() {
    for switch in [
        ("DD_TRACE_ENABLED", "false"),
        ("OTEL_TRACES_EXPORTER", "none"),
    ] {
        let mut cloud_run = deploy("in-container", &[switch], None);
        for _ in 0..3 {
            let answer = cloud_run.get("/", &[]);
            assert_eq!((answer.status, answer.body.as_str()), (200, "Hello World!"));
        }
        // Logs still carry Datadog ids, for correlation and propagation.
        assert!(hello_line(&cloud_run)["dd.trace_id"].is_string());
        let ended = cloud_run.terminate();
        assert!(ended.status.success(), "{switch:?}: {ended:?}");
        std::thread::sleep(Duration::from_millis(300));
        assert!(cloud_run.agent().traces().is_empty(), "{switch:?}");
    }
}

#[test]
fn a_bad_value_warns_exactly_once_as_a_warning() {
    let mut cloud_run = deploy(
        "in-container",
        &[
            ("DD_TRACE_PROPAGATION_STYLE", "bogus"),
            ("DD_TRACE_ENABLED", "yes"),
            ("DD_TRACE_AGENT_URL", "ftp://user:hunter2@agent:1"),
        ],
        None,
    );
    for _ in 0..3 {
        assert_eq!(cloud_run.get("/", &[]).status, 200);
    }
    assert!(cloud_run.terminate().status.success());
    let lines = diagnostics(&cloud_run);
    for variable in [
        "DD_TRACE_PROPAGATION_STYLE=",
        "DD_TRACE_ENABLED=",
        "DD_TRACE_AGENT_URL=",
    ] {
        let warnings: Vec<&Value> = lines
            .iter()
            .filter(|line| {
                line["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(variable))
            })
            .collect();
        assert_eq!(warnings.len(), 1, "{variable}: {lines:#?}");
        assert_eq!(warnings[0]["status"], "warn");
        assert_eq!(warnings[0]["severity"], "WARNING");
        assert!(warnings[0]["message"].as_str().unwrap().contains("using"));
    }
    let all = cloud_run.stderr().join("\n");
    assert!(!all.contains("hunter2"), "{all}");
}

#[test]
fn the_startup_report_appears_when_asked_for() {
    let report = |cloud_run: &CloudRun| {
        diagnostics(cloud_run)
            .into_iter()
            .filter(|line| line["message"] == "DATADOG TRACER CONFIGURATION")
            .collect::<Vec<_>>()
    };
    // A request first: the samples handle SIGTERM once they serve.
    let mut quiet = deploy("in-container", &[], None);
    assert_eq!(quiet.get("/", &[]).status, 200);
    assert!(quiet.terminate().status.success());
    assert!(report(&quiet).is_empty(), "{:?}", quiet.stderr());

    let mut asked = deploy(
        "sidecar",
        &[
            ("DD_TRACE_STARTUP_LOGS", "true"),
            ("DD_ENV", "staging"),
            ("DD_TRACE_SAMPLE_RATE", "0.5"),
        ],
        None,
    );
    assert_eq!(asked.get("/", &[]).status, 200);
    assert!(asked.terminate().status.success());
    let lines = report(&asked);
    assert_eq!(lines.len(), 1, "{:?}", asked.stderr());
    let line = &lines[0];
    assert_eq!(line["status"], "info");
    assert_eq!(line["service"], "k-service-name");
    assert_eq!(line["env"], "staging");
    assert_eq!(line["sample_rate"], 0.5);
    assert!(
        line["agent_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert!(
        line["dogstatsd_url"]
            .as_str()
            .unwrap()
            .starts_with("udp://127.0.0.1:")
    );
    assert!(
        line["log_destination"]
            .as_str()
            .unwrap()
            .contains("app.log")
    );

    let mut debug = deploy("in-container", &[("DD_TRACE_DEBUG", "true")], None);
    assert_eq!(debug.get("/", &[]).status, 200);
    let ended = debug.terminate();
    assert!(ended.status.success(), "{ended:?}: {:?}", debug.stderr());
    assert_eq!(report(&debug).len(), 1);
}

#[test]
fn dd_tags_in_both_spellings_tag_spans_and_metrics_alike() {
    for spelling in [
        "team:a region:eu",
        "team:a,region:eu",
        " team:a , region:eu ",
    ] {
        let logs = TempDir::new("config-tags");
        let mut cloud_run = deploy("sidecar", &[("DD_TAGS", spelling)], Some(&logs));
        assert_eq!(cloud_run.get("/", &[]).status, 200);
        let traces = cloud_run
            .agent()
            .wait_for_traces(PATIENCE, |traces| !request_spans(traces).is_empty());
        let span = request_spans(&traces).remove(0);
        assert_eq!(span["meta"]["team"], "a", "{spelling:?}");
        assert_eq!(span["meta"]["region"], "eu", "{spelling:?}");
        let metric = sample_metric(&cloud_run);
        for tag in ["team:a", "region:eu"] {
            assert!(
                metric.tags.contains(&tag.to_owned()),
                "{spelling:?}: {metric:?}"
            );
        }
        assert!(cloud_run.terminate().status.success());
    }
}
