//! Cost per span of the Datadog tracer layer against `tracing-opentelemetry` +
//! `datadog-opentelemetry` 0.6 (the official SDK's path for `tracing` users), with a bare
//! `registry()` as the floor; and the throughput of our `/v0.4/traces` msgpack encoder.
//!
//! Both tracers export to a closed loopback port, so nothing leaves the machine and both pay
//! their full export path (queueing, encoding on their worker, failed sends, counted drops).
//!
//! ```sh
//! cargo bench -p benchmarks --bench tracer -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;
use std::net::TcpListener;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datadog_subscriber::tracer::{SamplePayload, TracerConfig};
use opentelemetry::trace::TracerProvider;
use tracing::Subscriber;
use tracing_subscriber::layer::SubscriberExt;

/// A loopback URL nobody listens on.
fn closed_port_url() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port");
    format!("http://127.0.0.1:{port}")
}

/// What a handler does per span: open a child with three fields, enter, exit, close.
fn child_span() {
    let span = tracing::info_span!(
        "db.query",
        db.system = "postgresql",
        rows = 3,
        cached = false
    );
    let entered = span.enter();
    black_box(&entered);
    drop(entered);
    drop(span);
}

/// A whole two-span trace: the request span and one child.
fn two_span_trace() {
    let root = tracing::info_span!(
        "http.request",
        resource = "GET /users/{id}",
        http.method = "GET"
    );
    let entered = root.enter();
    child_span();
    drop(entered);
    drop(root);
}

fn bench_with(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    subscriber: impl Subscriber + Send + Sync + 'static,
) {
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function(format!("{name}/child_span"), |b| {
            let root = tracing::info_span!("http.request");
            let _root = root.enter();
            b.iter(child_span);
        });
        group.bench_function(format!("{name}/two_span_trace"), |b| b.iter(two_span_trace));
    });
}

fn datadog_opentelemetry_provider(url: String) -> opentelemetry_sdk::trace::SdkTracerProvider {
    let mut config = datadog_opentelemetry::configuration::Config::builder();
    config
        .set_service("bench".to_owned())
        .set_telemetry_enabled(false)
        .set_remote_config_enabled(false)
        .set_trace_agent_url(url);
    let (provider, _propagator) = datadog_opentelemetry::tracing()
        .with_config(config.build())
        .init_local();
    provider
}

fn per_span(c: &mut Criterion) {
    let mut group = c.benchmark_group("tracer");

    bench_with(&mut group, "registry_only", tracing_subscriber::registry());

    let (layer, handle) = TracerConfig::new()
        .service("bench")
        .agent_url(&closed_port_url())
        .build();
    bench_with(
        &mut group,
        "datadog_subscriber",
        tracing_subscriber::registry().with(layer),
    );
    let _ = handle.shutdown(Duration::from_secs(1));

    let provider = datadog_opentelemetry_provider(closed_port_url());
    let otel_layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    bench_with(
        &mut group,
        "tracing_opentelemetry+datadog_opentelemetry",
        tracing_subscriber::registry().with(otel_layer),
    );
    let _ = provider.shutdown_with_timeout(Duration::from_secs(1));

    group.finish();
}

fn encoding(c: &mut Criterion) {
    let sample = SamplePayload::new(100, 5);
    let mut buffer = Vec::new();
    let bytes = sample.encode(&mut buffer);
    let mut group = c.benchmark_group("tracer_msgpack");
    group.throughput(Throughput::Elements(sample.span_count() as u64));
    group.bench_function("encode_100_traces_of_5_spans/spans", |b| {
        b.iter(|| black_box(sample.encode(&mut buffer)));
    });
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("encode_100_traces_of_5_spans/bytes", |b| {
        b.iter(|| black_box(sample.encode(&mut buffer)));
    });
    group.finish();
}

criterion_group!(benches, per_span, encoding);
criterion_main!(benches);
