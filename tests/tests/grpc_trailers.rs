//! gRPC answers tonic-health never gives, through the layers in process, traced into the real APM
//! test agent: a stream that fails after its messages (the status only in the trailers), a
//! stream that ends without any status, gRPC-Web, and a server that cannot be reached.

mod tower_support;

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use datadog_e2e_tests::test_agent::TestAgent;
use datadog_tower::grpc::GrpcConfig;
use datadog_tower::propagation::Propagator;
use datadog_tower::{DatadogClientLayer, DatadogServerLayer};
use http::{HeaderMap, Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use serde_json::Value;
use tower::{ServiceBuilder, ServiceExt};
use tower_support::{install_tracer, meta, wait_for_spans};

type Frames = StreamBody<tokio_stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

/// A gRPC answer: two messages, then `trailers` (if any).
fn answer(content_type: &'static str, trailers: Option<&[(&str, &str)]>) -> Response<Frames> {
    let mut frames = vec![
        Ok(Frame::data(Bytes::from_static(b"\0\0\0\0\x01a"))),
        Ok(Frame::data(Bytes::from_static(b"\0\0\0\0\x01b"))),
    ];
    if let Some(trailers) = trailers {
        let mut map = HeaderMap::new();
        for (name, value) in trailers {
            map.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        frames.push(Ok(Frame::trailers(map)));
    }
    Response::builder()
        .header("content-type", content_type)
        .body(StreamBody::new(tokio_stream::iter(frames)))
        .unwrap()
}

fn call(path: &str, content_type: &str) -> Request<Full<Bytes>> {
    Request::post(path)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from_static(b"\0\0\0\0\0")))
        .unwrap()
}

fn server_layer() -> DatadogServerLayer {
    DatadogServerLayer::builder()
        .propagator(Propagator::default())
        .grpc(GrpcConfig::default())
        .build()
}

fn client_layer() -> DatadogClientLayer {
    DatadogClientLayer::builder()
        .propagator(Propagator::default())
        .grpc(GrpcConfig::default())
        .build()
}

fn one(spans: &[Value], name: &str) -> Value {
    let matching: Vec<&Value> = spans.iter().filter(|s| s["name"] == name).collect();
    assert_eq!(matching.len(), 1, "one {name} in {spans:#?}");
    matching[0].clone()
}

#[tokio::test]
async fn a_status_that_comes_only_in_the_trailers_after_messages_is_seen_on_both_sides() {
    let agent = TestAgent::start();
    let (_guard, handle) = install_tracer(&agent, "grpc-trailers", "info");
    let failing = || {
        tower::service_fn(|_: Request<_>| async {
            Ok::<_, Infallible>(answer(
                "application/grpc",
                Some(&[("grpc-status", "13"), ("grpc-message", "disk%20on%20fire")]),
            ))
        })
    };

    agent.start_session(None);
    let server = ServiceBuilder::new()
        .layer(server_layer())
        .service(failing());
    let response = server
        .oneshot(call("/store.v1.Orders/List", "application/grpc"))
        .await
        .unwrap();
    let client = ServiceBuilder::new()
        .layer(client_layer())
        .service(failing());
    let client_response = client
        .oneshot(call("/store.v1.Orders/List", "application/grpc"))
        .await
        .unwrap();
    // Both calls have their heads, not yet their trailers: no span has ended.
    assert!(handle.flush(Duration::from_secs(10)));
    assert!(agent.traces().is_empty(), "{:#?}", agent.traces());

    let body = response.into_body().collect().await.unwrap();
    assert_eq!(body.trailers().unwrap()["grpc-status"], "13");
    let body = client_response.into_body().collect().await.unwrap();
    assert_eq!(body.to_bytes().len(), 12);

    let spans = wait_for_spans(&agent, &handle, 2).await;
    for name in ["grpc.server", "grpc.client"] {
        let span = one(&spans, name);
        assert_eq!(span["resource"], "/store.v1.Orders/List", "{span:#?}");
        assert_eq!(span["metrics"]["grpc.status.code"], 13.0, "{span:#?}");
        assert_eq!(span["error"], 1, "{span:#?}");
        assert_eq!(meta(&span, "error.message"), Some("disk on fire"));
        assert_eq!(meta(&span, "error.type"), Some("INTERNAL"));
        assert_eq!(meta(&span, "rpc.service"), Some("store.v1.Orders"));
    }
}

#[tokio::test]
async fn a_stream_without_a_status_is_unknown_and_grpc_web_is_left_alone() {
    let agent = TestAgent::start();
    let (_guard, handle) = install_tracer(&agent, "grpc-trailers", "info");

    // No trailers at all: the answer ended without a status.
    agent.start_session(None);
    let server = ServiceBuilder::new()
        .layer(server_layer())
        .service(tower::service_fn(|_: Request<_>| async {
            Ok::<_, Infallible>(answer("application/grpc", None))
        }));
    let response = server
        .oneshot(call("/store.v1.Orders/List", "application/grpc"))
        .await
        .unwrap();
    response.into_body().collect().await.unwrap();
    let span = one(&wait_for_spans(&agent, &handle, 1).await, "grpc.server");
    assert_eq!(span["metrics"]["grpc.status.code"], 2.0, "{span:#?}");
    assert_eq!(span["error"], 1, "{span:#?}");
    assert_eq!(
        meta(&span, "error.message"),
        Some("the response ended without a grpc-status")
    );

    // gRPC-Web carries its trailers in the body: no status is made up.
    agent.start_session(None);
    let client = ServiceBuilder::new()
        .layer(client_layer())
        .service(tower::service_fn(|_: Request<_>| async {
            Ok::<_, Infallible>(answer("application/grpc-web+proto", None))
        }));
    let response = client
        .oneshot(call("/store.v1.Orders/List", "application/grpc-web+proto"))
        .await
        .unwrap();
    response.into_body().collect().await.unwrap();
    let span = one(&wait_for_spans(&agent, &handle, 1).await, "grpc.client");
    assert_eq!(span["metrics"].get("grpc.status.code"), None, "{span:#?}");
    assert_eq!(span["error"], 0, "{span:#?}");
}

#[tokio::test]
async fn a_server_that_cannot_be_reached_is_a_client_error() {
    let agent = TestAgent::start();
    let (_guard, handle) = install_tracer(&agent, "grpc-trailers", "info");
    // Nobody listens there; a lazy channel fails on the call, inside the client layer.
    let closed = datadog_e2e_tests::free_port();
    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{closed}"))
        .unwrap()
        .connect_lazy();
    let traced = ServiceBuilder::new().layer(client_layer()).service(channel);
    let mut health = tonic_health::pb::health_client::HealthClient::new(traced);

    agent.start_session(None);
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    let span = one(&wait_for_spans(&agent, &handle, 1).await, "grpc.client");
    assert_eq!(span["error"], 1, "{span:#?}");
    assert_eq!(span["resource"], "/grpc.health.v1.Health/Check");
    assert!(
        meta(&span, "error.type").is_some_and(|kind| kind.contains("tonic")),
        "{span:#?}"
    );
}
