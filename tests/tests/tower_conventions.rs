//! Datadog's HTTP span conventions on the server layer, checked on the spans the real test agent
//! receives: resource naming, 404 fallback, error statuses, panics, early-dropped bodies, header
//! tags, query obfuscation, client IP, service errors of a plain hyper service.

mod tower_support;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;
use datadog_e2e_tests::test_agent::TestAgent;
use datadog_tower::DatadogServerLayer;
use datadog_tower::config::HttpConfig;
use datadog_tower::header_tags::HeaderTags;
use datadog_tower::propagation::Propagator;
use http_body::{Body, Frame};
use http_body_util::Full;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_support::{
    by_resource, get as drive, http_client, install_tracer, meta, serve, wait_for_spans,
};

fn layer(config: HttpConfig) -> DatadogServerLayer {
    DatadogServerLayer::builder()
        .propagator(Propagator::builder().build())
        .config(config)
        .build()
}

fn routes() -> Router {
    Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route(
            "/fail",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") }),
        )
        .route("/missing-user", get(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/tagged",
            get(|| async { ([("x-custom", "from-response")], "tagged") }),
        )
        .route("/panic", get(|| async { panic_now() }))
}

fn panic_now() -> &'static str {
    panic!("handler exploded")
}

#[tokio::test]
async fn resources_statuses_urls_and_tags_follow_datadog_conventions() {
    let agent = TestAgent::start();
    let (_guard, handle) = install_tracer(&agent, "conventions", "info");
    agent.start_session(None);
    let config = HttpConfig::default()
        .header_tags(HeaderTags::parse("X-Request-Id,x-custom:custom.tag"))
        .client_ip(true, None);
    let app = serve(routes().layer(layer(config))).await;

    let (status, _) = drive(
        &format!("http://{app}/users/42?password=hunter2&page=2"),
        &[("user-agent", "e2e/1.0"), ("x-request-id", "req-1")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(drive(&format!("http://{app}/nope/123"), &[]).await.0, 404);
    assert_eq!(drive(&format!("http://{app}/fail"), &[]).await.0, 503);
    assert_eq!(
        drive(&format!("http://{app}/missing-user"), &[]).await.0,
        404
    );
    assert_eq!(
        drive(
            &format!("http://{app}/tagged"),
            &[("x-forwarded-for", "10.0.0.1, 203.0.113.9")]
        )
        .await
        .0,
        200
    );

    let spans = wait_for_spans(&agent, &handle, 5).await;
    let user = by_resource(&spans, "GET /users/{id}");
    assert_eq!(user["name"], "http.request");
    assert_eq!(user["type"], "web");
    assert_eq!(meta(user, "span.kind"), Some("server"));
    assert_eq!(meta(user, "component"), Some("axum"));
    assert_eq!(meta(user, "http.method"), Some("GET"));
    assert_eq!(meta(user, "http.route"), Some("/users/{id}"));
    assert_eq!(meta(user, "http.status_code"), Some("200"));
    assert_eq!(meta(user, "http.useragent"), Some("e2e/1.0"));
    assert_eq!(meta(user, "http.host"), Some(app.to_string().as_str()));
    assert_eq!(
        meta(user, "http.url"),
        Some(format!("http://{app}/users/42?<redacted>&page=2").as_str())
    );
    assert_eq!(
        meta(user, "http.request.headers.x-request-id"),
        Some("req-1")
    );
    // No forwarding header: the peer address of the connection.
    assert_eq!(meta(user, "http.client_ip"), Some("127.0.0.1"));
    assert_eq!(user["error"], 0);
    assert_eq!(user["metrics"]["_dd.measured"], 1.0);

    // No route matched: the method alone, never the raw path.
    let fallback = by_resource(&spans, "GET");
    assert_eq!(meta(fallback, "http.status_code"), Some("404"));
    assert!(meta(fallback, "http.route").is_none());
    assert_eq!(fallback["error"], 0);

    let failed = by_resource(&spans, "GET /fail");
    assert_eq!(failed["error"], 1);
    assert_eq!(
        meta(failed, "error.message"),
        Some("503: Service Unavailable")
    );
    assert_eq!(by_resource(&spans, "GET /missing-user")["error"], 0);

    let tagged = by_resource(&spans, "GET /tagged");
    assert_eq!(meta(tagged, "custom.tag"), Some("from-response"));
    assert_eq!(meta(tagged, "http.client_ip"), Some("203.0.113.9"));
}

#[tokio::test]
async fn query_strings_can_be_left_out_or_obfuscated_with_a_custom_pattern() {
    let agent = TestAgent::start();
    let (_guard, handle) = install_tracer(&agent, "query", "info");
    agent.start_session(None);
    let without = serve(routes().layer(layer(HttpConfig::default().query_string(false)))).await;
    let custom = HttpConfig::from_lookup(|name| {
        (name == "DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP")
            .then(|| r"ssn=\d{3}-\d{2}-\d{4}".to_owned())
    });
    let custom_app = serve(
        Router::new()
            .route("/c", get(|| async { "c" }))
            .layer(layer(custom)),
    )
    .await;
    drive(&format!("http://{without}/users/1?token=abc"), &[]).await;
    drive(
        &format!("http://{custom_app}/c?ssn=123-45-6789&password=x"),
        &[],
    )
    .await;
    let spans = wait_for_spans(&agent, &handle, 2).await;
    assert_eq!(
        meta(by_resource(&spans, "GET /users/{id}"), "http.url"),
        Some(format!("http://{without}/users/1").as_str())
    );
    assert_eq!(
        meta(by_resource(&spans, "GET /c"), "http.url"),
        Some(format!("http://{custom_app}/c?<redacted>&password=x").as_str())
    );
}

#[tokio::test]
async fn a_panicking_handler_yields_an_error_span() {
    let agent = TestAgent::start();
    let (_guard, handle) = install_tracer(&agent, "panics", "info");
    agent.start_session(None);
    // Panic caught outside the layer: the unwinding passes through the layer.
    let outside = serve(
        routes()
            .layer(layer(HttpConfig::default()))
            .layer(CatchPanicLayer::new()),
    )
    .await;
    // Panic caught inside the layer: the layer sees the 500 response.
    let inside = serve(
        Router::new()
            .route("/panic-inside", get(|| async { panic_now() }))
            .layer(CatchPanicLayer::new())
            .layer(layer(HttpConfig::default())),
    )
    .await;
    assert_eq!(drive(&format!("http://{outside}/panic"), &[]).await.0, 500);
    assert_eq!(
        drive(&format!("http://{inside}/panic-inside"), &[]).await.0,
        500
    );
    let spans = wait_for_spans(&agent, &handle, 2).await;
    let outside = by_resource(&spans, "GET /panic");
    assert_eq!(outside["error"], 1, "{outside:#}");
    assert_eq!(meta(outside, "error.type"), Some("panic"));
    let inside = by_resource(&spans, "GET /panic-inside");
    assert_eq!(inside["error"], 1, "{inside:#}");
    assert_eq!(meta(inside, "http.status_code"), Some("500"));
}

/// A body that sends a chunk every few milliseconds and never ends (a server-sent stream).
struct Endless {
    next: Pin<Box<tokio::time::Sleep>>,
}

impl Endless {
    fn new() -> Self {
        Endless {
            next: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }
}

impl Body for Endless {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.next.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.next = Box::pin(tokio::time::sleep(Duration::from_millis(5)));
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"chunk")))))
    }
}

#[tokio::test]
async fn a_body_dropped_before_it_ends_is_recorded_and_a_complete_one_is_not() {
    let agent = TestAgent::start();
    let (_guard, handle) = install_tracer(&agent, "bodies", "info");
    agent.start_session(None);
    let app = serve(
        Router::new()
            .route(
                "/endless",
                get(|| async { axum::body::Body::new(Endless::new()).into_response() }),
            )
            .route("/complete", get(|| async { "all of it" }))
            .layer(layer(HttpConfig::default())),
    )
    .await;
    assert_eq!(
        drive(&format!("http://{app}/complete"), &[]).await.1,
        "all of it"
    );

    // Read the head and the first chunk over a raw socket, then close it: the server's next
    // write fails and hyper drops the body.
    let mut socket = tokio::net::TcpStream::connect(app).await.unwrap();
    socket
        .write_all(format!("GET /endless HTTP/1.1\r\nhost: {app}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut received = Vec::new();
    while !String::from_utf8_lossy(&received).contains("chunk") {
        let mut buffer = [0_u8; 1024];
        let read = socket.read(&mut buffer).await.unwrap();
        assert_ne!(read, 0, "the server closed the stream early");
        received.extend_from_slice(&buffer[..read]);
    }
    assert!(String::from_utf8_lossy(&received).starts_with("HTTP/1.1 200"));
    drop(socket);

    let spans = wait_for_spans(&agent, &handle, 2).await;
    let dropped = by_resource(&spans, "GET /endless");
    assert_eq!(
        meta(dropped, "http.response.body.dropped"),
        Some("true"),
        "{dropped:#}"
    );
    assert_eq!(meta(dropped, "http.status_code"), Some("200"));
    let complete = by_resource(&spans, "GET /complete");
    assert!(
        meta(complete, "http.response.body.dropped").is_none(),
        "{complete:#}"
    );
}

#[tokio::test]
async fn a_plain_hyper_service_error_is_tagged() {
    let agent = TestAgent::start();
    let (_guard, handle) = install_tracer(&agent, "plain-hyper", "info");
    agent.start_session(None);
    let service = ServiceBuilder::new()
        .layer(layer(HttpConfig::default()))
        .service(tower::service_fn(
            |request: http::Request<hyper::body::Incoming>| async move {
                if request.uri().path() == "/broken" {
                    Err(std::io::Error::other("database unreachable"))
                } else {
                    Ok(http::Response::new(Full::new(Bytes::from_static(b"plain"))))
                }
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = hyper_util::service::TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    assert_eq!(
        drive(&format!("http://{address}/ok?x=1"), &[]).await.1,
        "plain"
    );
    // The connection fails for the client; the span still records why.
    let broken = http_client()
        .request(
            http::Request::get(format!("http://{address}/broken"))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert!(broken.is_err());

    let spans: Vec<Value> = wait_for_spans(&agent, &handle, 2).await;
    // Without a router there is no route template: the resource is the method.
    let ok = spans
        .iter()
        .find(|s| meta(s, "http.status_code") == Some("200"))
        .expect("the successful request");
    assert_eq!(ok["resource"], "GET");
    assert_eq!(
        meta(ok, "http.url"),
        Some(format!("http://{address}/ok?x=1").as_str())
    );
    let failed = spans
        .iter()
        .find(|s| s["error"] == 1)
        .unwrap_or_else(|| panic!("an error span in {spans:#?}"));
    assert_eq!(meta(failed, "error.message"), Some("database unreachable"));
    assert_eq!(meta(failed, "error.type"), Some("std::io::error::Error"));
}

#[tokio::test]
async fn every_baggage_key_is_tagged_with_a_star() {
    use datadog_subscriber::context::BaggageTagKeys;
    use tracing_subscriber::layer::SubscriberExt;

    let agent = TestAgent::start();
    let (layer, handle) = datadog_subscriber::tracer::TracerConfig::new()
        .service("baggage")
        .agent_url(&agent.url())
        .flush_interval(std::time::Duration::from_millis(100))
        .baggage_tag_keys(BaggageTagKeys::All)
        .build();
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    agent.start_session(None);
    let app = serve(
        routes().layer(
            DatadogServerLayer::builder()
                .propagator(Propagator::default())
                .config(HttpConfig::default())
                .build(),
        ),
    )
    .await;
    drive(
        &format!("http://{app}/users/1"),
        &[("baggage", "team=core,user.id=bob")],
    )
    .await;
    drive(
        &format!("http://{app}/users/2"),
        &[("baggage", "region=eu")],
    )
    .await;
    drive(&format!("http://{app}/fail"), &[]).await;
    let spans = wait_for_spans(&agent, &handle, 3).await;
    let first = spans
        .iter()
        .find(|s| meta(s, "http.url").is_some_and(|url| url.ends_with("/users/1")))
        .unwrap();
    assert_eq!(meta(first, "baggage.team"), Some("core"));
    assert_eq!(meta(first, "baggage.user.id"), Some("bob"));
    let second = spans
        .iter()
        .find(|s| meta(s, "http.url").is_some_and(|url| url.ends_with("/users/2")))
        .unwrap();
    assert_eq!(meta(second, "baggage.region"), Some("eu"));
    assert!(meta(second, "baggage.team").is_none());
    // Without baggage the span still carries every other tag.
    assert_eq!(
        meta(by_resource(&spans, "GET /fail"), "http.status_code"),
        Some("503")
    );
}

#[tokio::test]
async fn client_and_server_query_strings_have_their_own_switches() {
    use datadog_tower::DatadogClientLayer;
    use tower::ServiceExt;

    let agent = TestAgent::start();
    let (_guard, handle) = install_tracer(&agent, "query-switches", "info");
    agent.start_session(None);
    // One environment for both layers: the client leaves its query string out, the server not.
    let config = || {
        HttpConfig::from_lookup(|name| {
            (name == "DD_TRACE_HTTP_CLIENT_TAG_QUERY_STRING").then(|| "0".to_owned())
        })
    };
    let server = serve(routes().layer(layer(config()))).await;
    let client = ServiceBuilder::new()
        .layer(DatadogClientLayer::builder().config(config()).build())
        .service(http_client());
    let request = http::Request::get(format!("http://{server}/users/1?page=2"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);

    let spans = wait_for_spans(&agent, &handle, 2).await;
    let server_span = by_resource(&spans, "GET /users/{id}");
    assert_eq!(
        meta(server_span, "http.url"),
        Some(format!("http://{server}/users/1?page=2").as_str())
    );
    let client_span = spans
        .iter()
        .find(|span| meta(span, "span.kind") == Some("client"))
        .expect("the client span");
    assert_eq!(
        meta(client_span, "http.url"),
        Some(format!("http://{server}/users/1").as_str())
    );
}
