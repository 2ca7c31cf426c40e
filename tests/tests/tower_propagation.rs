//! Service A calls service B through the client layer: one trace in the real test agent with
//! server span A -> client span -> server span B, for every inject style, with the headers on the
//! wire that the style writes.

mod tower_support;

use std::collections::HashMap;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use datadog_e2e_tests::test_agent::TestAgent;
use datadog_tower::propagation::{Propagator, Style};
use datadog_tower::{DatadogClientLayer, DatadogServerLayer};
use http_body_util::{BodyExt, Full};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_support::{
    by_resource, get as drive, headers_map, http_client, install_tracer, meta, serve,
    wait_for_spans,
};

type TracedClient = datadog_tower::client::DatadogClientService<tower_support::HttpClient>;

/// B: answers with the headers it received.
fn service_b() -> Router {
    Router::new()
        .route(
            "/b/{id}",
            get(|headers: http::HeaderMap| async move { Json(headers_map(&headers)) }),
        )
        .layer(
            DatadogServerLayer::builder()
                // B understands every style, so each inject style of A can be continued.
                .propagator(
                    Propagator::builder()
                        .extract_styles([
                            Style::Datadog,
                            Style::TraceContext,
                            Style::B3Multi,
                            Style::B3,
                            Style::Baggage,
                        ])
                        .build(),
                )
                .build(),
        )
}

/// A: calls B through the client layer and returns B's answer.
fn service_a(client: TracedClient, b: std::net::SocketAddr) -> Router {
    Router::new()
        .route(
            "/a/{id}",
            get(move |State(mut client): State<TracedClient>| async move {
                let request = http::Request::get(format!("http://{b}/b/42"))
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
                .propagator(Propagator::builder().build())
                .build(),
        )
}

async fn run_style(
    agent: &TestAgent,
    handle: &datadog_subscriber::tracer::TracerHandle,
    styles: &[Style],
) {
    agent.start_session(None);
    let b = serve(service_b()).await;
    let client = ServiceBuilder::new()
        .layer(
            DatadogClientLayer::builder()
                .propagator(
                    Propagator::builder()
                        .inject_styles(styles.iter().copied())
                        .build(),
                )
                .build(),
        )
        .service(http_client());
    let a = serve(service_a(client, b)).await;

    // The caller of A is a Datadog-traced upstream with a user-keep decision and baggage.
    let upstream_trace = 0x1234_5678_9abc_def0_u64;
    let (status, body) = drive(
        &format!("http://{a}/a/7"),
        &[
            ("x-datadog-trace-id", &upstream_trace.to_string()),
            ("x-datadog-parent-id", "1111"),
            ("x-datadog-sampling-priority", "2"),
            ("baggage", "user.id=alice"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let wire: HashMap<String, String> = serde_json::from_str(&body).unwrap();

    let spans = wait_for_spans(agent, handle, 3).await;
    let server_a = by_resource(&spans, "GET /a/{id}");
    let server_b = by_resource(&spans, "GET /b/{id}");
    let client = spans
        .iter()
        .find(|s| meta(s, "span.kind") == Some("client"))
        .unwrap_or_else(|| panic!("a client span in {spans:#?}"));
    let label = format!("{styles:?}: {spans:#?}\nwire: {wire:#?}");

    // A continues the upstream trace; the client span is A's child.
    assert_eq!(server_a["trace_id"], upstream_trace, "{label}");
    assert_eq!(server_a["parent_id"], 1111, "{label}");
    assert_eq!(client["trace_id"], upstream_trace, "{label}");
    assert_eq!(client["parent_id"], server_a["span_id"], "{label}");
    assert_eq!(meta(client, "http.status_code"), Some("200"), "{label}");
    assert_eq!(meta(client, "out.host"), Some("127.0.0.1"), "{label}");
    assert_eq!(server_a["metrics"]["_sampling_priority_v1"], 2.0, "{label}");

    let client_id = client["span_id"].as_u64().unwrap();
    let has = |name: &str| wire.contains_key(name);
    let carries_trace = !styles.iter().all(|s| *s == Style::Baggage);
    if carries_trace {
        // B continues the same trace, as a child of the client span, with the same decision.
        assert_eq!(server_b["trace_id"], upstream_trace, "{label}");
        assert_eq!(server_b["parent_id"], client_id, "{label}");
        let priority = server_b["metrics"]["_sampling_priority_v1"]
            .as_f64()
            .unwrap();
        if styles.contains(&Style::Datadog) || styles.contains(&Style::TraceContext) {
            assert_eq!(priority, 2.0, "{label}");
        } else {
            // B3 carries only "sampled".
            assert!(priority > 0.0, "{label}");
        }
    } else {
        assert_ne!(server_b["trace_id"], upstream_trace, "{label}");
        assert_eq!(server_b["parent_id"], 0, "{label}");
    }

    assert_eq!(
        has("x-datadog-trace-id"),
        styles.contains(&Style::Datadog),
        "{label}"
    );
    assert_eq!(
        has("traceparent"),
        styles.contains(&Style::TraceContext),
        "{label}"
    );
    assert_eq!(
        has("x-b3-traceid"),
        styles.contains(&Style::B3Multi),
        "{label}"
    );
    assert_eq!(has("b3"), styles.contains(&Style::B3), "{label}");
    assert_eq!(has("baggage"), styles.contains(&Style::Baggage), "{label}");
    if styles.contains(&Style::Datadog) {
        assert_eq!(
            wire["x-datadog-trace-id"],
            upstream_trace.to_string(),
            "{label}"
        );
        assert_eq!(
            wire["x-datadog-parent-id"],
            client_id.to_string(),
            "{label}"
        );
        assert_eq!(wire["x-datadog-sampling-priority"], "2", "{label}");
    }
    if styles.contains(&Style::TraceContext) {
        let parts: Vec<&str> = wire["traceparent"].split('-').collect();
        assert_eq!(parts[1][16..], format!("{upstream_trace:016x}"), "{label}");
        assert_eq!(parts[2], format!("{client_id:016x}"), "{label}");
        assert_eq!(parts[3], "01", "{label}");
    }
    if styles.contains(&Style::B3Multi) {
        assert_eq!(wire["x-b3-spanid"], format!("{client_id:016x}"), "{label}");
    }
    if styles.contains(&Style::Baggage) {
        assert_eq!(wire["baggage"], "user.id=alice", "{label}");
        assert_eq!(meta(server_b, "baggage.user.id"), Some("alice"), "{label}");
    }
    assert_eq!(meta(server_a, "baggage.user.id"), Some("alice"), "{label}");
}

#[tokio::test]
async fn a_calls_b_through_the_client_layer_for_every_inject_style() {
    let agent = TestAgent::start();
    let (_guard, handle) = install_tracer(&agent, "tower-e2e", "info");
    for styles in [
        &[Style::Datadog, Style::TraceContext, Style::Baggage][..],
        &[Style::Datadog],
        &[Style::TraceContext],
        &[Style::B3],
        &[Style::B3Multi],
        &[Style::Baggage],
        &[],
    ] {
        run_style(&agent, &handle, styles).await;
    }
}
