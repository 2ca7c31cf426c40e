//! The in-container example, run as a process against `ddapm-test-agent`: answers, traces,
//! JSON logs on stdout correlated with the request span, a traced outgoing call, graceful
//! shutdown on SIGTERM.

mod examples_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use datadog_e2e_tests::test_agent::TestAgent;
use examples_support::{App, PATIENCE, example_binary, log_matches_span, request_spans};

fn start(agent: &TestAgent) -> App {
    App::start(
        &example_binary("in-container"),
        &[
            ("DD_TRACE_AGENT_URL", agent.url()),
            ("DD_SERVICE", "in-container-e2e".into()),
            ("DD_ENV", "test".into()),
            ("DD_VERSION", "1.2.3".into()),
        ],
    )
}

fn hello_line(app: &mut App) -> serde_json::Value {
    app.wait_for_log(|line| line["message"] == "Hello world!")
}

#[test]
fn a_request_without_trace_headers_starts_a_trace_that_its_log_line_names() {
    let agent = TestAgent::start();
    agent.start_session(None);
    let mut app = start(&agent);

    assert_eq!(app.get(&[]), (200, "Hello World!".to_owned()));

    let traces = agent.wait_for_traces(PATIENCE, |traces| !request_spans(traces).is_empty());
    let spans = request_spans(&traces);
    assert_eq!(spans.len(), 1, "{traces:#?}");
    let span = &spans[0];
    assert_eq!(span["parent_id"], 0, "a new trace: {span}");
    assert_eq!(span["service"], "in-container-e2e");
    assert_eq!(span["resource"], "GET /");
    assert_eq!(span["meta"]["http.status_code"], "200");
    assert_eq!(span["meta"]["env"], "test");
    assert_eq!(span["meta"]["version"], "1.2.3");

    let line = hello_line(&mut app);
    assert!(log_matches_span(&line, span), "log {line} vs span {span}");
    assert_eq!(line["dd.service"], "in-container-e2e");
    assert_eq!(line["dd.env"], "test");
    assert_eq!(line["dd.version"], "1.2.3");
    assert_eq!(line["status"], "info");
}

#[test]
fn a_request_with_datadog_headers_continues_the_callers_trace() {
    let agent = TestAgent::start();
    agent.start_session(None);
    let mut app = start(&agent);

    let headers = [
        ("x-datadog-trace-id", "1234567890123"),
        ("x-datadog-parent-id", "987654321"),
        ("x-datadog-sampling-priority", "1"),
    ];
    assert_eq!(app.get(&headers), (200, "Hello World!".to_owned()));

    let traces = agent.wait_for_traces(PATIENCE, |traces| !request_spans(traces).is_empty());
    let span = &request_spans(&traces)[0];
    assert_eq!(span["trace_id"], 1_234_567_890_123_u64);
    assert_eq!(span["parent_id"], 987_654_321_u64);
    let line = hello_line(&mut app);
    assert_eq!(line["dd.trace_id"], "1234567890123");
    assert!(log_matches_span(&line, span), "log {line} vs span {span}");
}

#[test]
fn a_request_with_a_w3c_traceparent_continues_the_callers_trace() {
    let agent = TestAgent::start();
    agent.start_session(None);
    let mut app = start(&agent);

    let headers = [(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )];
    assert_eq!(app.get(&headers), (200, "Hello World!".to_owned()));

    let traces = agent.wait_for_traces(PATIENCE, |traces| !request_spans(traces).is_empty());
    let span = &request_spans(&traces)[0];
    assert_eq!(span["trace_id"], 0xa3ce_929d_0e0e_4736_u64);
    assert_eq!(span["parent_id"], 0x00f0_67aa_0ba9_02b7_u64);
    assert_eq!(span["meta"]["_dd.p.tid"], "4bf92f3577b34da6");
    let line = hello_line(&mut app);
    assert!(log_matches_span(&line, span), "log {line} vs span {span}");
}

#[test]
fn an_outgoing_call_opens_a_client_span_and_the_callee_continues_the_trace() {
    let agent = TestAgent::start();
    agent.start_session(None);
    // No DOWNSTREAM_URL: the example calls its own `GET /` over loopback.
    let mut app = start(&agent);

    assert_eq!(
        app.get_path("/downstream", &[]),
        (200, "Hello World!".to_owned())
    );

    // The caller's server span, its client span, and the callee's server span.
    let traces = agent.wait_for_traces(PATIENCE, |traces| request_spans(traces).len() >= 3);
    let spans = request_spans(&traces);
    let find = |what: &str, predicate: &dyn Fn(&serde_json::Value) -> bool| {
        spans
            .iter()
            .find(|span| predicate(span))
            .unwrap_or_else(|| panic!("no {what} span in {traces:#?}"))
            .clone()
    };
    let caller = find("GET /downstream", &|span| {
        span["resource"] == "GET /downstream"
    });
    let client = find("client", &|span| span["meta"]["span.kind"] == "client");
    let callee = find("GET /", &|span| span["resource"] == "GET /");

    assert_eq!(
        caller["parent_id"], 0,
        "the request starts the trace: {caller}"
    );
    assert_eq!(client["parent_id"], caller["span_id"], "{client}");
    assert_eq!(client["trace_id"], caller["trace_id"], "{client}");
    assert_eq!(client["meta"]["http.method"], "GET", "{client}");
    assert_eq!(client["meta"]["http.status_code"], "200", "{client}");
    // The trace headers reached the callee: its span continues the trace under the client span.
    assert_eq!(callee["parent_id"], client["span_id"], "{callee}");
    assert_eq!(callee["trace_id"], caller["trace_id"], "{callee}");

    let line = hello_line(&mut app);
    assert!(
        log_matches_span(&line, &callee),
        "log {line} vs span {callee}"
    );
}

#[test]
fn sigterm_right_after_a_request_exits_in_time_with_its_trace_and_log_delivered() {
    let agent = TestAgent::start();
    agent.start_session(None);
    let mut app = start(&agent);

    assert_eq!(app.get(&[]), (200, "Hello World!".to_owned()));
    let (status, took) = app.terminate();
    assert!(status.success(), "exit status {status}");
    eprintln!("exited {took:?} after SIGTERM");

    // Everything was handed over before the process exited: no waiting now.
    let traces = agent.wait_for_traces(Duration::ZERO, |traces| !request_spans(traces).is_empty());
    let span = &request_spans(&traces)[0];
    let logs = app.logs();
    let line = logs
        .iter()
        .find(|line| line["message"] == "Hello world!")
        .expect("the request's log line was written before exit");
    assert!(log_matches_span(line, span), "log {line} vs span {span}");
    assert!(
        logs.iter()
            .any(|line| line["message"] == "shutting down: finishing in-flight requests"),
        "{logs:#?}"
    );
}

#[test]
fn a_request_in_flight_at_sigterm_is_answered_traced_and_logged_before_exit() {
    let agent = TestAgent::start();
    agent.start_session(None);
    let mut app = start(&agent);

    // Half a request on a fresh connection: the server has accepted it and read the first bytes
    // when the signal comes (the pause only lets the idle server pick them up).
    let mut connection = TcpStream::connect(("127.0.0.1", app.port())).unwrap();
    connection
        .write_all(b"GET / HTTP/1.1\r\nHost: example\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    app.send_sigterm();
    app.wait_for_log(|line| line["message"] == "shutting down: finishing in-flight requests");

    connection.write_all(b"\r\n").unwrap();
    let mut response = String::new();
    connection.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with("\r\n\r\nHello World!"), "{response}");
    assert!(
        response.to_ascii_lowercase().contains("connection: close"),
        "{response}"
    );

    let status = app.wait_for_exit(signalled);
    assert!(status.success(), "exit status {status}");
    let traces = agent.wait_for_traces(Duration::ZERO, |traces| !request_spans(traces).is_empty());
    let span = &request_spans(&traces)[0];
    let logs = app.logs();
    let line = logs
        .iter()
        .find(|line| line["message"] == "Hello world!")
        .expect("the request's log line was written before exit");
    assert!(log_matches_span(line, span), "log {line} vs span {span}");
}
