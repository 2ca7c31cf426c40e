//! The sidecar example, run as a process against `ddapm-test-agent` and the DogStatsD sink:
//! answers, traces, JSON logs to `app.log` (where the sidecar tails them) and stdout correlated
//! with the request span, one `our-sample-app.sample-metric` distribution per request, graceful
//! shutdown on SIGTERM.

mod examples_support;

use std::path::Path;
use std::time::Duration;

use datadog_e2e_tests::dogstatsd_sink::{DogStatsdSink, Message, MetricMessage};
use datadog_e2e_tests::test_agent::TestAgent;
use examples_support::{App, PATIENCE, TempDir, example_binary, log_matches_span, request_spans};
use serde_json::Value;

const METRIC: &str = "our-sample-app.sample-metric";

struct Peers {
    agent: TestAgent,
    sink: DogStatsdSink,
    logs: TempDir,
}

impl Peers {
    fn start(name: &str) -> Peers {
        let agent = TestAgent::start();
        agent.start_session(None);
        Peers {
            agent,
            sink: DogStatsdSink::udp(),
            logs: TempDir::new(name),
        }
    }

    fn app(&self) -> App {
        App::start(
            &example_binary("sidecar"),
            &[
                ("DD_TRACE_AGENT_URL", self.agent.url()),
                ("DD_DOGSTATSD_PORT", self.sink.port().to_string()),
                (
                    "DD_SERVERLESS_LOG_PATH",
                    format!("{}/logs/*.log", self.logs.0.display()),
                ),
                ("DD_SERVICE", "sidecar-e2e".into()),
                ("DD_ENV", "test".into()),
                ("DD_VERSION", "1.2.3".into()),
            ],
        )
    }

    fn app_log(&self) -> Vec<Value> {
        let path = self.logs.0.join("logs").join("app.log");
        read_json_lines(&path)
    }

    fn wait_for_metric(&self, timeout: Duration) {
        let arrived = self.sink.wait_for(timeout, |messages| {
            messages
                .iter()
                .any(|message| matches!(message, Message::Metric(metric) if metric.name == METRIC))
        });
        assert!(
            arrived.is_some(),
            "no {METRIC} within {timeout:?}: {:#?}",
            self.sink.messages()
        );
    }

    fn sample_metrics(&self) -> Vec<MetricMessage> {
        self.sink
            .metrics()
            .into_iter()
            .filter(|metric| metric.name == METRIC)
            .collect()
    }
}

fn read_json_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}")))
        .collect()
}

fn assert_sample_metric(metric: &MetricMessage) {
    assert_eq!(
        metric.kind, "d",
        "serverless custom metrics are distributions"
    );
    assert_eq!(metric.values, ["1"]);
    for tag in ["env:test", "service:sidecar-e2e", "version:1.2.3"] {
        assert!(
            metric.tags.iter().any(|t| t == tag),
            "{tag} in {:?}",
            metric.tags
        );
    }
}

#[test]
fn a_request_is_traced_logged_to_app_log_and_stdout_and_counted() {
    let peers = Peers::start("request");
    let mut app = peers.app();

    assert_eq!(app.get(&[]), (200, "Hello World!".to_owned()));

    let traces = peers
        .agent
        .wait_for_traces(PATIENCE, |traces| !request_spans(traces).is_empty());
    let span = &request_spans(&traces)[0];
    assert_eq!(span["service"], "sidecar-e2e");
    assert_eq!(span["resource"], "GET /");

    let stdout_line = app.wait_for_log(|line| line["message"] == "Hello world!");
    assert!(
        log_matches_span(&stdout_line, span),
        "{stdout_line} vs {span}"
    );

    // The same line, in the file the sidecar tails.
    let file_lines = peers.app_log();
    let file_line = file_lines
        .iter()
        .find(|line| line["message"] == "Hello world!")
        .unwrap_or_else(|| panic!("no Hello world! line in app.log: {file_lines:#?}"));
    assert!(log_matches_span(file_line, span), "{file_line} vs {span}");
    assert_eq!(file_line["dd.service"], "sidecar-e2e");

    peers.wait_for_metric(PATIENCE);
    let metrics = peers.sample_metrics();
    assert_eq!(metrics.len(), 1, "{metrics:#?}");
    assert_sample_metric(&metrics[0]);
    let datagrams: Vec<String> = peers
        .sink
        .datagrams()
        .iter()
        .map(|datagram| String::from_utf8_lossy(datagram).into_owned())
        .collect();
    assert!(
        datagrams
            .iter()
            .any(|datagram| datagram.contains("our-sample-app.sample-metric:1|d|#")),
        "{datagrams:?}"
    );
}

#[test]
fn a_request_with_trace_headers_continues_the_callers_trace_in_spans_and_logs() {
    let peers = Peers::start("headers");
    let mut app = peers.app();

    let headers = [
        ("x-datadog-trace-id", "555000111"),
        ("x-datadog-parent-id", "42"),
    ];
    assert_eq!(app.get(&headers), (200, "Hello World!".to_owned()));

    let traces = peers
        .agent
        .wait_for_traces(PATIENCE, |traces| !request_spans(traces).is_empty());
    let span = &request_spans(&traces)[0];
    assert_eq!(span["trace_id"], 555_000_111_u64);
    assert_eq!(span["parent_id"], 42);
    let line = app.wait_for_log(|line| line["message"] == "Hello world!");
    assert_eq!(line["dd.trace_id"], "555000111");
    assert!(log_matches_span(&line, span), "{line} vs {span}");
}

#[test]
fn sigterm_right_after_a_request_exits_in_time_with_trace_log_and_metric_delivered() {
    let peers = Peers::start("sigterm");
    let mut app = peers.app();

    assert_eq!(app.get(&[]), (200, "Hello World!".to_owned()));
    let (status, took) = app.terminate();
    assert!(status.success(), "exit status {status}");
    eprintln!("exited {took:?} after SIGTERM");

    // Handed over before the process exited: no waiting for the trace or the file now. The
    // sink's reader thread may still be reading the datagram off its socket, so that one is
    // polled (the datagram itself was sent before exit: UDP has no later).
    let traces = peers
        .agent
        .wait_for_traces(Duration::ZERO, |traces| !request_spans(traces).is_empty());
    let span = &request_spans(&traces)[0];
    let file_lines = peers.app_log();
    let line = file_lines
        .iter()
        .find(|line| line["message"] == "Hello world!")
        .expect("the request's line is in app.log");
    assert!(log_matches_span(line, span), "{line} vs {span}");
    peers.wait_for_metric(PATIENCE);
    assert_sample_metric(&peers.sample_metrics()[0]);
}
