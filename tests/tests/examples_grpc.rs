//! The gRPC example, run as processes against `ddapm-test-agent`: its `check` client calls the
//! server through the client layer, the two spans form one trace, and SIGTERM stops the server
//! with its spans delivered.

mod examples_support;

use std::process::{Command, Stdio};

use datadog_e2e_tests::test_agent::TestAgent;
use examples_support::{App, PATIENCE, example_binary};
use serde_json::Value;

fn start(agent: &TestAgent) -> App {
    App::start(
        &example_binary("grpc"),
        &[
            ("DD_TRACE_AGENT_URL", agent.url()),
            ("DD_SERVICE", "grpc-example-e2e".into()),
            ("DD_ENV", "test".into()),
        ],
    )
}

/// Runs the example's `check` client against `app` for `service`; returns what it printed.
fn check(agent: &TestAgent, app: &App, service: &str) -> String {
    let binary = example_binary("grpc").with_file_name("check");
    let mut command = Command::new(binary);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("DD_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    let output = command
        .arg(service)
        .env("TARGET", format!("http://127.0.0.1:{}", app.port()))
        .env("DD_TRACE_AGENT_URL", agent.url())
        .env("DD_SERVICE", "grpc-check-e2e")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("the check client runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn grpc_spans(traces: &[Vec<Value>]) -> Vec<Value> {
    traces
        .iter()
        .flatten()
        .filter(|span| span["type"] == "rpc")
        .cloned()
        .collect()
}

#[test]
fn the_check_client_and_the_server_form_one_trace() {
    let agent = TestAgent::start();
    agent.start_session(None);
    let mut app = start(&agent);

    let printed = check(&agent, &app, "datadog.example.Hello");
    assert!(printed.contains("Serving"), "{printed}");
    let printed = check(&agent, &app, "no.such.Service");
    assert!(printed.contains("NotFound"), "{printed}");

    let (status, took) = app.terminate();
    assert!(status.success(), "exit status {status}");
    eprintln!("exited {took:?} after SIGTERM");
    let traces = agent.wait_for_traces(PATIENCE, |traces| grpc_spans(traces).len() >= 4);
    let spans = grpc_spans(&traces);
    let servers: Vec<&Value> = spans
        .iter()
        .filter(|s| s["name"] == "grpc.server")
        .collect();
    let clients: Vec<&Value> = spans
        .iter()
        .filter(|s| s["name"] == "grpc.client")
        .collect();
    assert_eq!((servers.len(), clients.len()), (2, 2), "{spans:#?}");
    for server in servers {
        assert_eq!(server["service"], "grpc-example-e2e");
        assert_eq!(server["resource"], "/grpc.health.v1.Health/Check");
        let client = clients
            .iter()
            .find(|client| client["span_id"] == server["parent_id"])
            .unwrap_or_else(|| panic!("the client span of {server:#?} in {spans:#?}"));
        assert_eq!(client["service"], "grpc-check-e2e");
        assert_eq!(client["trace_id"], server["trace_id"]);
        assert_eq!(
            client["metrics"]["grpc.status.code"],
            server["metrics"]["grpc.status.code"]
        );
    }
    let not_found = spans
        .iter()
        .filter(|s| s["metrics"]["grpc.status.code"] == 5.0)
        .count();
    assert_eq!(not_found, 2, "{spans:#?}");
}
