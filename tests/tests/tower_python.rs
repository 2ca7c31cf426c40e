//! Cross-language propagation with Datadog's Python tracer (`ddtrace` 4.16.0 from the test venv):
//! a ddtrace service calls our axum service, which calls a second ddtrace service through the
//! client layer. All five spans reach the test agent as one trace with the right parents, for the
//! default styles and for `tracecontext` only.

mod tower_support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use bytes::Bytes;
use datadog_e2e_tests::peers;
use datadog_e2e_tests::test_agent::TestAgent;
use datadog_tower::propagation::{Propagator, Style};
use datadog_tower::{DatadogClientLayer, DatadogServerLayer};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_support::{get as drive, http_client, install_tracer, meta, serve, wait_for_spans};

type TracedClient = datadog_tower::client::DatadogClientService<tower_support::HttpClient>;

/// A running `tests/python/tower_peer.py`, killed on drop.
struct PythonPeer {
    child: Child,
    port: u16,
}

impl PythonPeer {
    fn start(agent: &TestAgent, service: &str, styles: &str, downstream: Option<&str>) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/tower_peer.py");
        let mut command = Command::new(peers::python());
        command
            .arg(script)
            .arg(service)
            .args(downstream)
            .env("DD_TRACE_AGENT_URL", agent.url())
            .env("DD_TRACE_PROPAGATION_STYLE", styles)
            .env("DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false")
            .env("DD_REMOTE_CONFIGURATION_ENABLED", "false")
            .env("DD_TRACE_STATS_COMPUTATION_ENABLED", "false")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().expect("the python peer starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("READY ")
            .and_then(|port| port.trim().parse().ok())
            .unwrap_or_else(|| panic!("the python peer did not start: {line:?}"));
        PythonPeer { child, port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for PythonPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rust_service(propagator: &Propagator, downstream: String) -> Router {
    let client: TracedClient = ServiceBuilder::new()
        .layer(
            DatadogClientLayer::builder()
                .propagator(propagator.clone())
                .build(),
        )
        .service(http_client());
    Router::new()
        .route(
            "/hop",
            get(move |State(mut client): State<TracedClient>| async move {
                let request = http::Request::get(downstream.as_str())
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                let response = client.ready().await.unwrap().call(request).await.unwrap();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                String::from_utf8_lossy(&body).into_owned()
            }),
        )
        .with_state(client)
        .layer(
            DatadogServerLayer::builder()
                .propagator(propagator.clone())
                .build(),
        )
}

async fn python_rust_python(styles: &str, propagator: Propagator) {
    let agent = TestAgent::start();
    let (_guard, handle) = install_tracer(&agent, "rust-middle", "info");
    agent.start_session(None);
    let back = PythonPeer::start(&agent, "py-back", styles, None);
    let rust: SocketAddr = serve(rust_service(&propagator, back.url("/back"))).await;
    let front = PythonPeer::start(
        &agent,
        "py-front",
        styles,
        Some(&format!("http://{rust}/hop")),
    );

    let (status, body) = drive(&front.url("/front"), &[]).await;
    assert_eq!(status, 200, "{body}");
    let received_by_back: Value = serde_json::from_str(&body).unwrap();

    let spans = wait_for_spans(&agent, &handle, 5).await;
    let label = format!("{styles}: {spans:#?}\nheaders at py-back: {received_by_back:#}");
    let find = |service: &str, kind: &str| -> &Value {
        spans
            .iter()
            .find(|s| s["service"] == service && meta(s, "span.kind") == Some(kind))
            .unwrap_or_else(|| panic!("no {kind} span of {service}: {label}"))
    };
    let front_server = find("py-front", "server");
    let front_client = spans
        .iter()
        .find(|s| s["name"] == "requests.request" && s["parent_id"] == front_server["span_id"])
        .unwrap_or_else(|| panic!("no requests span under py-front: {label}"));
    let rust_server = find("rust-middle", "server");
    let rust_client = find("rust-middle", "client");
    let back_server = find("py-back", "server");

    assert_eq!(front_server["parent_id"], 0, "{label}");
    assert_eq!(rust_server["parent_id"], front_client["span_id"], "{label}");
    assert_eq!(rust_client["parent_id"], rust_server["span_id"], "{label}");
    assert_eq!(back_server["parent_id"], rust_client["span_id"], "{label}");
    for span in [front_client, rust_server, rust_client, back_server] {
        assert_eq!(span["trace_id"], front_server["trace_id"], "{label}");
    }
    // The 128-bit trace id survives both hops.
    assert_eq!(
        meta(rust_server, "_dd.p.tid"),
        meta(front_server, "_dd.p.tid"),
        "{label}"
    );
    assert!(meta(front_server, "_dd.p.tid").is_some(), "{label}");
    assert_eq!(
        rust_server["metrics"]["_sampling_priority_v1"],
        front_server["metrics"]["_sampling_priority_v1"],
        "{label}"
    );
    if styles == "tracecontext" {
        assert!(
            received_by_back.get("x-datadog-trace-id").is_none(),
            "{label}"
        );
        assert!(received_by_back.get("traceparent").is_some(), "{label}");
    }
}

#[tokio::test]
async fn python_calls_rust_calls_python_with_the_default_styles() {
    python_rust_python(
        "datadog,tracecontext,baggage",
        Propagator::builder().build(),
    )
    .await;
}

#[tokio::test]
async fn python_calls_rust_calls_python_with_tracecontext_only() {
    python_rust_python(
        "tracecontext",
        Propagator::builder().styles([Style::TraceContext]).build(),
    )
    .await;
}
