//! The gRPC example, run as processes against `ddapm-test-agent`: its `check` client calls the
//! server through the client layer, the two spans form one trace, and SIGTERM stops the server
//! with its spans delivered.

mod examples_support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use datadog_e2e_tests::test_agent::TestAgent;
use examples_support::{App, CLOUD_RUN_SHUTDOWN_BUDGET, PATIENCE, example_binary};
use serde_json::Value;
use tokio_stream::StreamExt;

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
    let mut command = datadog_e2e_tests::clean_command(&binary);
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

#[test]
fn sigterm_during_an_endless_stream_exits_in_time_with_the_streams_span_delivered() {
    let agent = TestAgent::start();
    agent.start_session(None);
    let mut app = start(&agent);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A Watch stream: it only ends when the server says so.
    let mut stream = runtime.block_on(async {
        let channel =
            tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{}", app.port()))
                .unwrap()
                .connect()
                .await
                .unwrap();
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
        let mut stream = health
            .watch(tonic_health::pb::HealthCheckRequest {
                service: "datadog.example.Hello".into(),
            })
            .await
            .unwrap()
            .into_inner();
        stream.next().await.unwrap().unwrap();
        stream
    });

    let signalled = Instant::now();
    app.send_sigterm();
    let status = app.wait_for_exit(signalled);
    let took = signalled.elapsed();
    eprintln!("exited {took:?} after SIGTERM with a stream open");
    assert!(status.success(), "exit status {status}");
    assert!(took < CLOUD_RUN_SHUTDOWN_BUDGET, "{took:?}");
    // The stream was cut by the server's exit, not ended with a status.
    let end = runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(5), stream.next()).await });
    assert!(
        !matches!(end, Ok(Some(Ok(_)))),
        "the stream went on after the exit: {end:?}"
    );

    // The stream's span was ended and handed over before the process exited.
    let traces = agent.wait_for_traces(Duration::ZERO, |traces| !grpc_spans(traces).is_empty());
    let spans = grpc_spans(&traces);
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let server = &spans[0];
    assert_eq!(server["resource"], "/grpc.health.v1.Health/Watch");
    assert_eq!(server["metrics"]["grpc.status.code"], 1.0, "{server:#?}");
    assert_eq!(
        server["error"], 0,
        "CANCELLED is no server error: {server:#?}"
    );
    assert_eq!(server["meta"]["http.response.body.dropped"], "true");
}
