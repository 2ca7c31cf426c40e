//! gRPC through the same layers: a tonic server (`tonic-health`, the real `grpc.health.v1`
//! service) behind `DatadogServerLayer` and a tonic client whose `Channel` is wrapped in
//! `DatadogClientLayer`, traced into the real APM test agent.

mod tower_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use datadog_e2e_tests::test_agent::TestAgent;
use datadog_subscriber::tracer::TracerHandle;
use datadog_tower::grpc::{GrpcCodes, GrpcConfig};
use datadog_tower::propagation::{Propagator, Style};
use datadog_tower::{DatadogClientLayer, DatadogServerLayer};
use serde_json::Value;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Channel, Server};
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::server::HealthReporter;
use tower::ServiceBuilder;
use tower_support::{install_tracer, meta, wait_for_spans};

/// A service the health server reports on.
const STORE: &str = "datadog.test.Store";
const CHECK: &str = "/grpc.health.v1.Health/Check";
const WATCH: &str = "/grpc.health.v1.Health/Watch";

type TracedChannel = datadog_tower::client::DatadogClientService<Channel>;

/// Every propagation style the server layer extracts.
fn all_styles() -> Propagator {
    Propagator::builder()
        .extract_styles([
            Style::Datadog,
            Style::TraceContext,
            Style::B3Multi,
            Style::B3,
            Style::Baggage,
        ])
        .build()
}

/// Serves the health service behind the server layer on a free loopback port.
async fn serve_health(grpc: GrpcConfig) -> (SocketAddr, HealthReporter) {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status(STORE, ServingStatus::Serving)
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let layer = DatadogServerLayer::builder()
        .propagator(all_styles())
        .grpc(grpc)
        .build();
    tokio::spawn(
        Server::builder()
            .layer(layer)
            .add_service(health)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    (address, reporter)
}

/// A health client whose channel goes through the client layer with `styles`.
async fn client(address: SocketAddr, styles: &[Style]) -> HealthClient<TracedChannel> {
    HealthClient::new(traced_channel(address, styles).await)
}

/// A channel to `address` through the client layer with `styles`.
async fn traced_channel(address: SocketAddr, styles: &[Style]) -> TracedChannel {
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    ServiceBuilder::new()
        .layer(
            DatadogClientLayer::builder()
                .propagator(
                    Propagator::builder()
                        .inject_styles(styles.iter().copied())
                        .build(),
                )
                .grpc(GrpcConfig::default())
                .build(),
        )
        .service(channel)
}

fn request(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

/// The one span named `name` with `resource`.
fn span<'a>(spans: &'a [Value], name: &str, resource: &str) -> &'a Value {
    let matching: Vec<&Value> = spans
        .iter()
        .filter(|s| s["name"] == name && s["resource"] == resource)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "one {name} span for {resource} in {spans:#?}"
    );
    matching[0]
}

fn status_code(span: &Value) -> Option<f64> {
    span["metrics"]["grpc.status.code"].as_f64()
}

/// Waits for `count` spans, then returns them.
async fn exactly(agent: &TestAgent, handle: &TracerHandle, count: usize) -> Vec<Value> {
    let spans = wait_for_spans(agent, handle, count).await;
    assert_eq!(spans.len(), count, "{spans:#?}");
    spans
}

#[tokio::test]
async fn unary_calls_form_one_trace_and_carry_their_status() {
    let agent = TestAgent::start();
    let (_guard, handle) = install_tracer(&agent, "grpc-e2e", "info");
    let (address, _reporter) = serve_health(GrpcConfig::default()).await;
    let mut health = client(address, &[Style::Datadog, Style::TraceContext]).await;

    // OK: the status comes in the trailers after the message.
    agent.start_session(None);
    let answer = health.check(request(STORE)).await.unwrap().into_inner();
    assert_eq!(answer.status, ServingStatus::Serving as i32);
    let spans = exactly(&agent, &handle, 2).await;
    let client = span(&spans, "grpc.client", CHECK);
    let server = span(&spans, "grpc.server", CHECK);
    assert_eq!(server["trace_id"], client["trace_id"], "{spans:#?}");
    assert_eq!(server["parent_id"], client["span_id"], "{spans:#?}");
    assert_eq!(client["parent_id"], 0, "{spans:#?}");
    for (span, kind) in [(client, "client"), (server, "server")] {
        assert_eq!(span["type"], "rpc", "{span:#?}");
        assert_eq!(span["error"], 0, "{span:#?}");
        assert_eq!(meta(span, "span.kind"), Some(kind));
        assert_eq!(meta(span, "component"), Some("grpc"));
        assert_eq!(meta(span, "rpc.system"), Some("grpc"));
        assert_eq!(meta(span, "rpc.service"), Some("grpc.health.v1.Health"));
        assert_eq!(meta(span, "rpc.method"), Some("Check"));
        assert_eq!(meta(span, "rpc.grpc.full_method"), Some(CHECK));
        assert_eq!(meta(span, "grpc.method.package"), Some("grpc.health.v1"));
        assert_eq!(meta(span, "grpc.method.service"), Some("Health"));
        assert_eq!(meta(span, "grpc.method.name"), Some("Check"));
        assert_eq!(status_code(span), Some(0.0), "{span:#?}");
    }
    // tonic's channel adds the origin below the layer: the request the layer sees has a path only.
    assert_eq!(meta(client, "out.host"), None);
    assert_eq!(server["metrics"]["_dd.measured"], 1.0);

    // NOT_FOUND: a trailers-only answer (the status in the response headers), an error on both
    // sides by default.
    agent.start_session(None);
    let status = health.check(request("no.such.Service")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    let spans = exactly(&agent, &handle, 2).await;
    let client = span(&spans, "grpc.client", CHECK);
    let server = span(&spans, "grpc.server", CHECK);
    assert_eq!(server["parent_id"], client["span_id"], "{spans:#?}");
    for span in [client, server] {
        assert_eq!(status_code(span), Some(5.0), "{span:#?}");
        assert_eq!(span["error"], 1, "{span:#?}");
        assert_eq!(meta(span, "error.message"), Some("service not registered"));
        assert_eq!(meta(span, "error.type"), Some("NOT_FOUND"));
    }
}

#[tokio::test]
async fn the_trace_travels_in_metadata_for_every_inject_style() {
    let agent = TestAgent::start();
    let (_guard, handle) = install_tracer(&agent, "grpc-e2e", "info");
    let (address, _reporter) = serve_health(GrpcConfig::default()).await;
    for style in [
        Style::Datadog,
        Style::TraceContext,
        Style::B3Multi,
        Style::B3,
    ] {
        agent.start_session(None);
        let mut health = client(address, &[style]).await;
        // The call runs inside a local root, so the client span has a parent of its own.
        let root = tracing::info_span!("caller", resource = "caller");
        let call = health.check(request(STORE));
        tracing::Instrument::instrument(call, root).await.unwrap();
        let spans = exactly(&agent, &handle, 3).await;
        let client = span(&spans, "grpc.client", CHECK);
        let server = span(&spans, "grpc.server", CHECK);
        let caller = span(&spans, "caller", "caller");
        let label = format!("{style:?}: {spans:#?}");
        assert_eq!(client["parent_id"], caller["span_id"], "{label}");
        assert_eq!(server["trace_id"], caller["trace_id"], "{label}");
        assert_eq!(server["parent_id"], client["span_id"], "{label}");
    }
}

#[tokio::test]
async fn a_streaming_call_ends_its_span_at_the_end_of_the_stream() {
    let agent = TestAgent::start();
    let (_guard, handle) = install_tracer(&agent, "grpc-e2e", "info");
    let (address, mut reporter) = serve_health(GrpcConfig::default()).await;
    let mut health = client(address, &[Style::Datadog]).await;

    agent.start_session(None);
    let started = Instant::now();
    let mut stream = health.watch(request(STORE)).await.unwrap().into_inner();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);
    // The stream is open: neither span has ended, so none reaches the agent.
    assert!(handle.flush(Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(handle.flush(Duration::from_secs(10)));
    let early: Vec<Value> = agent.traces().into_iter().flatten().collect();
    assert!(early.is_empty(), "spans ended mid-stream: {early:#?}");

    // Clearing the service's status ends the server's stream with OK in the trailers.
    reporter.clear_service_status(STORE).await;
    assert!(stream.next().await.is_none());
    let streamed = started.elapsed();
    let spans = exactly(&agent, &handle, 2).await;
    let client = span(&spans, "grpc.client", WATCH);
    let server = span(&spans, "grpc.server", WATCH);
    assert_eq!(server["parent_id"], client["span_id"], "{spans:#?}");
    for span in [client, server] {
        assert_eq!(status_code(span), Some(0.0), "{span:#?}");
        assert_eq!(span["error"], 0, "{span:#?}");
        // The span covers the stream: at least the 300 ms it was held open.
        let duration = Duration::from_nanos(span["duration"].as_u64().unwrap());
        assert!(duration >= Duration::from_millis(300), "{span:#?}");
        assert!(duration <= streamed + Duration::from_secs(1), "{span:#?}");
    }
}

#[tokio::test]
async fn a_stream_the_client_drops_is_cancelled() {
    let agent = TestAgent::start();
    let (_guard, handle) = install_tracer(&agent, "grpc-e2e", "info");
    let (address, _reporter) = serve_health(GrpcConfig::default()).await;
    let mut health = client(address, &[Style::Datadog]).await;

    agent.start_session(None);
    let mut stream = health.watch(request(STORE)).await.unwrap().into_inner();
    stream.next().await.unwrap().unwrap();
    drop(stream);
    let spans = exactly(&agent, &handle, 2).await;
    let client = span(&spans, "grpc.client", WATCH);
    let server = span(&spans, "grpc.server", WATCH);
    // CANCELLED: an error for clients (1-16), not for servers (2-16).
    assert_eq!(status_code(client), Some(1.0), "{client:#?}");
    assert_eq!(client["error"], 1, "{client:#?}");
    assert_eq!(status_code(server), Some(1.0), "{server:#?}");
    assert_eq!(server["error"], 0, "{server:#?}");
    assert_eq!(meta(server, "http.response.body.dropped"), Some("true"));
}

#[tokio::test]
async fn error_codes_are_configurable_and_unknown_methods_keep_resources_bounded() {
    let agent = TestAgent::start();
    let (_guard, handle) = install_tracer(&agent, "grpc-e2e", "info");
    // This server counts only INTERNAL as an error.
    let config = GrpcConfig::default().server_error_codes("13".parse::<GrpcCodes>().unwrap());
    let (address, _reporter) = serve_health(config).await;
    let mut health = client(address, &[Style::Datadog]).await;

    agent.start_session(None);
    health.check(request("no.such.Service")).await.unwrap_err();
    let spans = exactly(&agent, &handle, 2).await;
    let server = span(&spans, "grpc.server", CHECK);
    assert_eq!(status_code(server), Some(5.0), "{server:#?}");
    assert_eq!(server["error"], 0, "{server:#?}");
    assert_eq!(span(&spans, "grpc.client", CHECK)["error"], 1);

    // A method the server does not have: UNIMPLEMENTED, and the caller's path stays out of the
    // resources (it is still in `rpc.grpc.full_method`).
    agent.start_session(None);
    let mut raw = tonic::client::Grpc::new(traced_channel(address, &[Style::Datadog]).await);
    raw.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static("/made.up.Service/Anything");
    let status = raw
        .unary::<_, HealthCheckRequest, _>(
            tonic::Request::new(request(STORE)),
            path,
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    let spans = exactly(&agent, &handle, 2).await;
    let server = span(&spans, "grpc.server", "POST");
    assert_eq!(status_code(server), Some(12.0), "{server:#?}");
    // Not an error for this server (only INTERNAL is), an error for the client.
    assert_eq!(server["error"], 0, "{server:#?}");
    assert_eq!(
        meta(server, "rpc.grpc.full_method"),
        Some("/made.up.Service/Anything")
    );
    let client = span(&spans, "grpc.client", "/made.up.Service/Anything");
    assert_eq!(status_code(client), Some(12.0), "{client:#?}");
    assert_eq!(client["error"], 1, "{client:#?}");
    assert_eq!(meta(client, "error.type"), Some("UNIMPLEMENTED"));
}
