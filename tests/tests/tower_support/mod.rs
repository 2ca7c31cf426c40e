//! Shared by the `tower_*` end-to-end tests: a tracer per test (installed with `set_default` on the
//! current-thread runtime, so every server and client task of the test runs under it), axum servers
//! on free loopback ports, a plain (untraced) HTTP driver, and readers for the test agent's spans.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use bytes::Bytes;
use datadog_e2e_tests::test_agent::TestAgent;
use datadog_subscriber::tracer::{TracerConfig, TracerHandle};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tracing::subscriber::DefaultGuard;
use tracing_subscriber::layer::SubscriberExt;

/// The hyper-util client every test uses (through the client layer or bare).
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A hyper-util legacy client for plain HTTP.
pub fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Installs the Datadog tracer, sending to `agent`, as this thread's default subscriber, behind
/// an `EnvFilter` with `filter` (for example `info` or `warn`).
pub fn install_tracer(
    agent: &TestAgent,
    service: &str,
    filter: &str,
) -> (DefaultGuard, TracerHandle) {
    let (layer, handle) = TracerConfig::new()
        .service(service)
        .agent_url(&agent.url())
        .flush_interval(Duration::from_millis(100))
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new(filter))
        .with(layer);
    (tracing::subscriber::set_default(subscriber), handle)
}

/// Serves `router` on a free loopback port (with `ConnectInfo`) and returns its address.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    address
}

/// Sends `GET url` with `headers` through a bare client; returns the status and the body text.
pub async fn get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = http::Request::get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = http_client()
        .request(request.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Waits until the agent holds at least `count` spans, flushing the tracer on each round. It
/// sleeps asynchronously between rounds so that the test's own server tasks (on this
/// current-thread runtime) keep running: a span that ends late still gets there.
pub async fn wait_for_spans(agent: &TestAgent, handle: &TracerHandle, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            handle.flush(Duration::from_secs(10)),
            "the tracer did not flush"
        );
        let spans: Vec<Value> = agent.traces().into_iter().flatten().collect();
        if spans.len() >= count {
            return spans;
        }
        assert!(
            Instant::now() < deadline,
            "expected {count} spans within 20s; received: {spans:#?}"
        );
    }
}

/// The span whose `resource` is `resource` (fails the test when there is not exactly one).
pub fn by_resource<'a>(spans: &'a [Value], resource: &str) -> &'a Value {
    let matching: Vec<&Value> = spans.iter().filter(|s| s["resource"] == resource).collect();
    assert_eq!(
        matching.len(),
        1,
        "one span with resource {resource:?} in {spans:#?}"
    );
    matching[0]
}

/// The span whose meta `key` is `value`.
pub fn by_meta<'a>(spans: &'a [Value], key: &str, value: &str) -> &'a Value {
    let matching: Vec<&Value> = spans.iter().filter(|s| s["meta"][key] == value).collect();
    assert_eq!(
        matching.len(),
        1,
        "one span with {key}={value:?} in {spans:#?}"
    );
    matching[0]
}

/// A meta tag of a span as text.
pub fn meta<'a>(span: &'a Value, key: &str) -> Option<&'a str> {
    span["meta"][key].as_str()
}

/// The headers a request carried, as a map (what an echo handler returns as JSON).
pub fn headers_map(headers: &http::HeaderMap) -> HashMap<String, String> {
    headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// The 128-bit trace id of a span: its lower half, plus `_dd.p.tid` as the upper half.
pub fn trace_id_128(span: &Value) -> u128 {
    let low = u128::from(span["trace_id"].as_u64().unwrap());
    let high =
        meta(span, "_dd.p.tid").map_or(0, |tid| u128::from(u64::from_str_radix(tid, 16).unwrap()));
    (high << 64) | low
}
