//! `RUST_LOG=warn`-style filters disable the request and client spans (they are `INFO`): the
//! request still continues the caller's trace. Child spans that pass the filter join it, and
//! outgoing calls (client layer, reqwest middleware, `inject_current`) send it on. Also the
//! reqwest middleware's own client span when nothing is filtered.

mod tower_support;

use std::collections::HashMap;

use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use datadog_e2e_tests::test_agent::TestAgent;
use datadog_tower::propagation::{Propagator, Style};
use datadog_tower::reqwest_middleware::DatadogReqwestMiddleware;
use datadog_tower::{DatadogClientLayer, DatadogServerLayer};
use http_body_util::{BodyExt, Full};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_support::{
    by_resource, get as drive, headers_map, http_client, install_tracer, meta, serve,
    wait_for_spans,
};
use tracing::Instrument;

type Headers = HashMap<String, String>;

fn datadog_only() -> Propagator {
    Propagator::builder().styles([Style::Datadog]).build()
}

/// Answers with the headers it received.
fn echo() -> Router {
    Router::new().route(
        "/echo",
        get(|headers: http::HeaderMap| async move { Json(headers_map(&headers)) }),
    )
}

async fn call_with_layer(b: std::net::SocketAddr) -> Headers {
    let mut client = ServiceBuilder::new()
        .layer(
            DatadogClientLayer::builder()
                .propagator(datadog_only())
                .build(),
        )
        .service(http_client());
    let request = http::Request::get(format!("http://{b}/echo"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = client.ready().await.unwrap().call(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).unwrap()
}

async fn call_with_reqwest(b: std::net::SocketAddr) -> Headers {
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(
            DatadogReqwestMiddleware::builder()
                .propagator(datadog_only())
                .build(),
        )
        .build();
    let response = client.get(format!("http://{b}/echo")).send().await.unwrap();
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

fn service_a(b: std::net::SocketAddr) -> Router {
    Router::new()
        .route(
            "/a",
            get(move || async move {
                let direct = call_with_layer(b).await;
                let reqwest = call_with_reqwest(b).await;
                let mut manual = http::HeaderMap::new();
                datadog_tower::inject_current_with(&datadog_only(), &mut manual);
                let in_child = call_with_layer(b)
                    .instrument(tracing::warn_span!("child.work"))
                    .await;
                Json(HashMap::from([
                    ("direct", direct),
                    ("reqwest", reqwest),
                    ("manual", headers_map(&manual)),
                    ("in_child", in_child),
                ]))
            }),
        )
        .layer(
            DatadogServerLayer::builder()
                .propagator(datadog_only())
                .build(),
        )
}

#[tokio::test]
async fn filtered_request_spans_still_propagate_the_remote_trace() {
    let agent = TestAgent::start();
    let (_guard, handle) = install_tracer(&agent, "filtered", "warn");
    agent.start_session(None);
    let b = serve(
        echo().layer(
            DatadogServerLayer::builder()
                .propagator(datadog_only())
                .build(),
        ),
    )
    .await;
    let a = serve(service_a(b)).await;

    let (status, body) = drive(
        &format!("http://{a}/a"),
        &[
            ("x-datadog-trace-id", "777"),
            ("x-datadog-parent-id", "888"),
            ("x-datadog-sampling-priority", "1"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let seen: HashMap<String, Headers> = serde_json::from_str(&body).unwrap();
    for call in ["direct", "reqwest", "manual"] {
        let headers = &seen[call];
        assert_eq!(
            headers.get("x-datadog-trace-id").map(String::as_str),
            Some("777"),
            "{call}: {seen:#?}"
        );
        // No span of ours is alive: the upstream span stays the parent.
        assert_eq!(
            headers.get("x-datadog-parent-id").map(String::as_str),
            Some("888"),
            "{call}: {seen:#?}"
        );
        assert_eq!(
            headers
                .get("x-datadog-sampling-priority")
                .map(String::as_str),
            Some("1"),
            "{call}: {seen:#?}"
        );
    }

    // The WARN child span passes the filter and joins the remote trace under the upstream span.
    let spans = wait_for_spans(&agent, &handle, 1).await;
    assert_eq!(spans.len(), 1, "only the child span is traced: {spans:#?}");
    let child = by_resource(&spans, "child.work");
    assert_eq!(child["trace_id"], 777);
    assert_eq!(child["parent_id"], 888);
    let in_child = &seen["in_child"];
    assert_eq!(in_child["x-datadog-trace-id"], "777");
    assert_eq!(
        in_child["x-datadog-parent-id"],
        child["span_id"].as_u64().unwrap().to_string()
    );
}

#[tokio::test]
async fn the_reqwest_middleware_traces_and_injects() {
    let agent = TestAgent::start();
    let (_guard, handle) = install_tracer(&agent, "reqwest", "info");
    agent.start_session(None);
    let b = serve(
        echo().layer(
            DatadogServerLayer::builder()
                .propagator(datadog_only())
                .build(),
        ),
    )
    .await;
    let headers = call_with_reqwest(b)
        .instrument(tracing::info_span!("outer.work"))
        .await;
    // A 404 is a client error (DD_TRACE_HTTP_CLIENT_ERROR_STATUSES, default 400-499).
    let missing = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(
            DatadogReqwestMiddleware::builder()
                .propagator(datadog_only())
                .build(),
        )
        .build()
        .get(format!("http://{b}/missing"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let spans = wait_for_spans(&agent, &handle, 5).await;
    let outer = by_resource(&spans, "outer.work");
    let client = spans
        .iter()
        .find(|s| {
            meta(s, "span.kind") == Some("client") && meta(s, "http.status_code") == Some("200")
        })
        .unwrap_or_else(|| panic!("a client span in {spans:#?}"));
    let failed = spans
        .iter()
        .find(|s| {
            meta(s, "span.kind") == Some("client") && meta(s, "http.status_code") == Some("404")
        })
        .unwrap_or_else(|| panic!("a 404 client span in {spans:#?}"));
    assert_eq!(failed["error"], 1);
    assert_eq!(meta(failed, "error.message"), Some("404: Not Found"));
    assert_eq!(client["error"], 0);
    let server = by_resource(&spans, "GET /echo");
    assert_eq!(meta(client, "component"), Some("reqwest"));
    assert_eq!(meta(client, "http.status_code"), Some("200"));
    assert_eq!(
        meta(client, "http.url"),
        Some(format!("http://{b}/echo").as_str())
    );
    assert_eq!(client["parent_id"], outer["span_id"]);
    assert_eq!(server["parent_id"], client["span_id"]);
    assert_eq!(server["trace_id"], outer["trace_id"]);
    assert_eq!(
        headers["x-datadog-parent-id"],
        client["span_id"].as_u64().unwrap().to_string()
    );
}
