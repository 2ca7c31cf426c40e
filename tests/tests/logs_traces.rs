//! Logs and traces cross-checked: the tracer layer and the log layer composed on a user's own
//! registry; each log line's `dd.trace_id`/`dd.span_id` are the ids of the span, as exported to
//! Datadog's test agent, that the line was written in.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datadog_e2e_tests::test_agent::TestAgent;
use datadog_subscriber::logs::LogConfig;
use datadog_subscriber::tracer::TracerConfig;
use serde_json::{Map, Value};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl MakeWriter<'_> for Capture {
    type Writer = Capture;
    fn make_writer(&self) -> Capture {
        self.clone()
    }
}

fn line_with<'a>(lines: &'a [Map<String, Value>], message: &str) -> &'a Map<String, Value> {
    lines
        .iter()
        .find(|line| line["message"] == message)
        .unwrap_or_else(|| panic!("no line {message:?} in {lines:#?}"))
}

fn span_named<'a>(traces: &'a [Vec<Value>], name: &str) -> &'a Value {
    traces
        .iter()
        .flatten()
        .find(|span| span["name"] == name)
        .unwrap_or_else(|| panic!("no span {name:?} in {traces:#?}"))
}

/// `dd.trace_id` as we expect it for an exported span: 32 hex digits from `_dd.p.tid` and the
/// lower half when the trace is 128-bit, else the decimal lower half.
fn expected_trace_id(traces: &[Vec<Value>], span: &Value) -> String {
    let low = span["trace_id"].as_u64().expect("numeric trace_id");
    let high = traces
        .iter()
        .flatten()
        .find(|other| {
            other["trace_id"] == span["trace_id"] && other["meta"]["_dd.p.tid"].is_string()
        })
        .map(|root| root["meta"]["_dd.p.tid"].as_str().unwrap().to_owned());
    match high {
        Some(high) => format!("{high}{low:016x}"),
        None => low.to_string(),
    }
}

fn run(tracer: TracerConfig, logs: LogConfig) -> (Vec<Map<String, Value>>, Vec<Vec<Value>>) {
    let agent = TestAgent::start();
    agent.start_session(None);
    let (tracer_layer, handle) = tracer.agent_url(&agent.url()).build();
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry()
        .with(tracer_layer)
        .with(logs.build_with_writer(capture.clone()));
    tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!("logs.request", resource = "GET /orders/{id}");
        let _request = request.enter();
        tracing::info!("in request");
        tracing::info_span!("logs.db", db.system = "postgresql").in_scope(|| {
            tracing::warn!(rows = 0, "in db");
        });
        tracing::info!("back in request");
    });
    assert!(handle.flush(Duration::from_secs(30)), "traces flushed");
    let traces = agent.wait_for_traces(Duration::from_secs(30), |traces| {
        traces.iter().flatten().count() >= 2
    });
    let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let lines = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    (lines, traces)
}

#[test]
fn each_line_carries_the_ids_of_its_exported_span() {
    let (lines, traces) = run(
        TracerConfig::new().service("logs-e2e").env("test"),
        LogConfig::default().service("logs-e2e").env("test"),
    );
    let request = span_named(&traces, "logs.request");
    let db = span_named(&traces, "logs.db");
    assert_eq!(db["parent_id"], request["span_id"]);

    let trace_id = expected_trace_id(&traces, request);
    assert_eq!(trace_id.len(), 32, "128-bit ids by default: {trace_id}");
    for (message, span) in [
        ("in request", request),
        ("in db", db),
        ("back in request", request),
    ] {
        let line = line_with(&lines, message);
        assert_eq!(line["dd.trace_id"], trace_id.as_str(), "{message}");
        assert_eq!(
            line["dd.span_id"],
            span["span_id"].as_u64().unwrap().to_string(),
            "{message}"
        );
        assert_eq!(line["dd.service"], "logs-e2e");
        assert_eq!(line["dd.env"], "test");
    }
    assert_eq!(line_with(&lines, "in db")["db.system"], "postgresql");
    assert_eq!(line_with(&lines, "in db")["resource"], "GET /orders/{id}");
}

#[test]
fn a_64_bit_trace_logs_the_decimal_trace_id() {
    let (lines, traces) = run(
        TracerConfig::new()
            .service("logs-e2e")
            .trace_id_128_bit(false),
        LogConfig::default(),
    );
    let request = span_named(&traces, "logs.request");
    assert!(request["meta"]["_dd.p.tid"].is_null(), "{request}");
    let line = line_with(&lines, "in request");
    assert_eq!(
        line["dd.trace_id"],
        request["trace_id"].as_u64().unwrap().to_string()
    );
}
