//! Per-request overhead of tracing an axum hello-world, driven in-process with
//! `tower::ServiceExt::oneshot` (the response body is read to the end, so request spans close):
//!
//! - `bare`: no instrumentation, no subscriber;
//! - `tower_http_trace_layer`: tower-http's `TraceLayer` over a bare `registry()` (no export);
//! - `datadog_tower`: our full stack: `DatadogServerLayer` (extraction + Datadog HTTP tags) +
//!   the `datadog-subscriber` tracer (export encoding on its worker) + one JSON log line;
//! - `tower_otel+datadog_opentelemetry`: what a user assembles with OpenTelemetry: `tower-otel`'s
//!   server layer (global Datadog propagator) + `tracing-opentelemetry` + `datadog-opentelemetry`
//!   0.6 + one `tracing-subscriber` JSON log line.
//!
//! `parts/*` measure pieces of our stack: the layer over a bare `registry()`, with the log layer
//! only, with the tracer only.
//!
//! "A bare `registry()`" is `benchmarks::bare_registry()`: one under a layer that does nothing
//! (a `Registry` on its own never frees closed spans).
//!
//! Every request carries Datadog and W3C headers of a kept upstream trace, so both stacks extract
//! and export. Log lines go to `io::sink`. Traces go to a closed loopback port; the
//! `*/healthy_agent` runs send them to a loopback Agent stand-in that takes every payload
//! (`benchmarks::AgentSink`), so the exporters really encode, send and free every trace while
//! the requests run (on a machine with few cores, that work competes with the request thread).
//!
//! ```sh
//! cargo bench -p benchmarks --bench tower -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use datadog_subscriber::logs::LogConfig;
use datadog_subscriber::tracer::TracerConfig;
use datadog_tower::DatadogServerLayer;
use datadog_tower::config::HttpConfig;
use datadog_tower::propagation::Propagator;
use http_body_util::BodyExt;
use opentelemetry::trace::TracerProvider;
use tower::ServiceExt;
use tracing::Subscriber;
use tracing_subscriber::layer::SubscriberExt;

use benchmarks::{AgentSink, bare_registry, closed_port_url};

/// The hello-world handler: one log line, a short body.
async fn hello(Path(id): Path<u64>) -> &'static str {
    tracing::info!(user.id = id, "greeting user");
    "hello"
}

fn app() -> Router {
    Router::new().route("/users/{id}", get(hello))
}

fn request() -> http::Request<Body> {
    http::Request::get("/users/42")
        .header("host", "bench.local")
        .header("user-agent", "criterion")
        .header("x-datadog-trace-id", "1234567890123456789")
        .header("x-datadog-parent-id", "987654321")
        .header("x-datadog-sampling-priority", "1")
        .header("x-datadog-tags", "_dd.p.dm=-1,_dd.p.tid=6553a1b200000000")
        .header(
            "traceparent",
            "00-6553a1b200000000112210f47de98115-000000003ade68b1-01",
        )
        .header("tracestate", "dd=s:1;p:000000003ade68b1;t.dm:-1")
        .body(Body::empty())
        .expect("a valid request")
}

fn bench_stack(
    c: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    name: &str,
    router: Router,
    subscriber: Option<Box<dyn Subscriber + Send + Sync>>,
) {
    let mut run = || {
        c.bench_function(&format!("tower/{name}"), |b| {
            b.to_async(runtime).iter(|| {
                let router = router.clone();
                async move {
                    let response = router.oneshot(request()).await.expect("infallible");
                    let body = response.into_body().collect().await.expect("a body");
                    black_box(body.to_bytes());
                }
            });
        });
    };
    // The runtime is current-thread: the request runs on this thread, under this subscriber.
    match subscriber {
        Some(subscriber) => tracing::subscriber::with_default(subscriber, run),
        None => run(),
    }
}

fn per_request(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");

    bench_stack(c, &runtime, "bare", app(), None);

    bench_stack(
        c,
        &runtime,
        "tower_http_trace_layer",
        app().layer(tower_http::trace::TraceLayer::new_for_http()),
        Some(Box::new(bare_registry())),
    );

    let layer = || {
        DatadogServerLayer::builder()
            .propagator(Propagator::default())
            .config(HttpConfig::default())
            .build()
    };
    let logs = || {
        LogConfig::default()
            .service("bench")
            .build_with_writer(std::io::sink)
    };

    // The parts of our stack on their own, to see where the cost goes.
    bench_stack(
        c,
        &runtime,
        "parts/layer",
        app().layer(layer()),
        Some(Box::new(bare_registry())),
    );
    bench_stack(
        c,
        &runtime,
        "parts/layer+logs",
        app().layer(layer()),
        Some(Box::new(tracing_subscriber::registry().with(logs()))),
    );
    let (tracer, handle) = TracerConfig::new()
        .service("bench")
        .agent_url(&closed_port_url())
        .build();
    bench_stack(
        c,
        &runtime,
        "parts/layer+tracer",
        app().layer(layer()),
        Some(Box::new(tracing_subscriber::registry().with(tracer))),
    );
    let _ = handle.shutdown(Duration::from_secs(1));

    let sink = AgentSink::start();
    for (agent_url, suffix) in [
        (closed_port_url(), ""),
        (sink.url().to_owned(), "/healthy_agent"),
    ] {
        let (tracer, handle) = TracerConfig::new()
            .service("bench")
            .agent_url(&agent_url)
            .build();
        bench_stack(
            c,
            &runtime,
            &format!("datadog_tower{suffix}"),
            app().layer(layer()),
            Some(Box::new(
                tracing_subscriber::registry().with(tracer).with(logs()),
            )),
        );
        let _ = handle.shutdown(Duration::from_secs(1));

        let mut config = datadog_opentelemetry::configuration::Config::builder();
        config
            .set_service("bench".to_owned())
            .set_telemetry_enabled(false)
            .set_remote_config_enabled(false)
            .set_trace_agent_url(agent_url);
        let (provider, propagator) = datadog_opentelemetry::tracing()
            .with_config(config.build())
            .init_local();
        opentelemetry::global::set_text_map_propagator(propagator);
        let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
        let json = tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::sink);
        bench_stack(
            c,
            &runtime,
            &format!("tower_otel+datadog_opentelemetry{suffix}"),
            app().layer(tower_otel::trace::HttpLayer::server(tracing::Level::INFO)),
            Some(Box::new(
                tracing_subscriber::registry().with(otel).with(json),
            )),
        );
        let _ = provider.shutdown_with_timeout(Duration::from_secs(1));
    }
}

criterion_group!(benches, per_request);
criterion_main!(benches);
