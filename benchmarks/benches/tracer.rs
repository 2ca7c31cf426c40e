//! Cost per span of the Datadog tracer layer against `tracing-opentelemetry` +
//! `datadog-opentelemetry` 0.6 (the official SDK's path for `tracing` users), with a bare
//! `registry()` as the floor (`benchmarks::bare_registry()`: under a no-op layer, since a
//! `Registry` alone never frees closed spans); and the throughput of our `/v0.4/traces` msgpack encoder.
//!
//! Two measures of the same work, in one run:
//!
//! - `tracer/*`: wall time on the calling thread. Both tracers export to a closed loopback port
//!   and encode on their own background threads, so this is what a request thread pays when a
//!   core is free for the exporters.
//! - `tracer_cpu/*`: CPU time of the whole process per span, export included: each sample ends
//!   with a flush to a loopback Agent stand-in (an axum server that reads each payload and
//!   answers `200 {"rate_by_service":{}}`), whose own CPU is left out. Work moved to a background
//!   thread (encoding, sending) is still paid for.
//!
//! - `tracer/floor_layer/*`: the least any tracer built as a `Layer` over a `Registry` pays per
//!   span, as ours is: read the clock when the span opens and closes, find the parent's trace,
//!   keep a record in the span's extensions, and hand the finished record to its trace under a
//!   lock. It records no field and exports nothing: what a real tracer adds to it is its own.
//!
//!   On a shared machine the load drifts between benches; `tracer/interleaved/*` (printed) times
//!   batches of child spans under each subscriber in turn, so that all see the same drift.
//!
//! - `inject_current/*`: what a client layer does per outgoing call: read the context of the
//!   current span (a request span continuing a kept upstream trace) and inject it into a
//!   `HeaderMap` in the default styles (Datadog, W3C trace context, baggage), with each stack's
//!   own API (`datadog_tower::inject_current_with`, what `DatadogClientLayer` does, against
//!   `Span::current().context()` + the official propagator's `inject_context`).
//!
//! ```sh
//! cargo bench -p benchmarks --bench tracer -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use datadog_subscriber::context::{SamplingPriority, SpanContext, SpanId, TraceId};
use datadog_subscriber::tracer::{SamplePayload, TracerConfig, with_remote_parent};
use datadog_tower::propagation::Propagator;
use http::HeaderMap;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider;
use opentelemetry_http::HeaderInjector;
use tracing::span::{Attributes, Id};
use tracing::{Dispatch, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use benchmarks::{AgentSink, bare_registry, closed_port_url, interleaved_medians};

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

fn bench_with(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, dispatch: &Dispatch) {
    tracing::dispatcher::with_default(dispatch, || {
        group.bench_function(format!("{name}/child_span"), |b| {
            let root = tracing::info_span!("http.request");
            let _root = root.enter();
            b.iter(child_span);
        });
        group.bench_function(format!("{name}/two_span_trace"), |b| b.iter(two_span_trace));
    });
}

/// The floor of a tracer layer over a `Registry` (see the module doc).
struct FloorLayer;

/// Finished spans of one trace: ids and clock readings. Emptied every 300 spans, as our tracer
/// hands a long trace's finished spans to export.
#[derive(Default)]
struct FloorTrace(Mutex<Vec<(SpanId, SpanId, Instant, Instant)>>);

/// A live span's record, in its extensions.
struct FloorRecord {
    trace: Arc<FloorTrace>,
    span_id: SpanId,
    parent_id: SpanId,
    started: Instant,
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for FloorLayer {
    fn on_new_span(&self, _attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let started = Instant::now();
        let parent = span.parent().and_then(|parent| {
            let extensions = parent.extensions();
            let record = extensions.get::<FloorRecord>()?;
            Some((record.trace.clone(), record.span_id))
        });
        let (trace, parent_id) = parent.unwrap_or_else(|| (Arc::default(), SpanId::INVALID));
        span.extensions_mut().insert(FloorRecord {
            trace,
            span_id: SpanId::generate(),
            parent_id,
            started,
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(record) = span.extensions_mut().remove::<FloorRecord>() else {
            return;
        };
        let ended = Instant::now();
        let mut finished = record.trace.0.lock().expect("not poisoned");
        finished.push((record.span_id, record.parent_id, record.started, ended));
        if finished.len() >= 300 {
            finished.clear();
        }
    }
}

/// Spans between two flushes in the CPU measurement: well under both exporters' buffers (ours
/// drops past 100 000 queued spans, `datadog-opentelemetry` past 5 MB), so neither drops.
const FLUSH_EVERY: u64 = 5_000;

/// Runs `routine` `iterations` times, flushing every [`FLUSH_EVERY`] and at the end, timed with
/// the process's CPU clock minus the sink's.
fn process_cpu(
    sink: &AgentSink,
    iterations: u64,
    routine: impl Fn(),
    flush: &impl Fn(),
) -> Duration {
    let sink_before = sink.cpu();
    let start = cpu_time::ProcessTime::now();
    for done in 1..=iterations {
        routine();
        if done % FLUSH_EVERY == 0 {
            flush();
        }
    }
    flush();
    let elapsed = start.elapsed();
    elapsed.saturating_sub(sink.cpu().saturating_sub(sink_before))
}

fn bench_cpu_with(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    sink: &AgentSink,
    subscriber: impl Subscriber + Send + Sync + 'static,
    flush: impl Fn(),
) {
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function(format!("{name}/child_span"), |b| {
            let root = tracing::info_span!("http.request");
            let _root = root.enter();
            b.iter_custom(|iterations| process_cpu(sink, iterations, child_span, &flush));
        });
        group.bench_function(format!("{name}/two_span_trace"), |b| {
            b.iter_custom(|iterations| process_cpu(sink, iterations, two_span_trace, &flush));
        });
    });
}

/// `partial_flush`: export chunks of 300 finished spans of an unfinished trace, as our tracer
/// does (off by default in `datadog-opentelemetry`, which then keeps them until the root ends).
fn datadog_opentelemetry_provider(
    url: String,
    partial_flush: bool,
) -> opentelemetry_sdk::trace::SdkTracerProvider {
    datadog_opentelemetry_stack(url, partial_flush).0
}

/// The official SDK's provider and its propagator.
fn datadog_opentelemetry_stack(
    url: String,
    partial_flush: bool,
) -> (
    opentelemetry_sdk::trace::SdkTracerProvider,
    impl TextMapPropagator,
) {
    let mut config = datadog_opentelemetry::configuration::Config::builder();
    config
        .set_service("bench".to_owned())
        .set_telemetry_enabled(false)
        .set_remote_config_enabled(false)
        .set_trace_agent_url(url)
        .set_trace_partial_flush_enabled(partial_flush)
        .set_trace_partial_flush_min_spans(300);
    datadog_opentelemetry::tracing()
        .with_config(config.build())
        .init_local()
}

/// The upstream context of the request span: a kept Datadog trace with a 128-bit id.
fn upstream() -> SpanContext {
    let mut context = SpanContext::new(
        TraceId::from_parts(0x6553_a1b2_0000_0000, 0x1122_10f4_7de9_8115),
        SpanId::new(0x3ade_68b1),
    );
    context.sampling_priority = Some(SamplingPriority::AUTO_KEEP);
    context.propagation_tags.insert("_dd.p.dm", "-1");
    context
}

fn inject_current(c: &mut Criterion) {
    let mut group = c.benchmark_group("inject_current");

    let (layer, handle) = TracerConfig::new()
        .service("bench")
        .agent_url(&closed_port_url())
        .build();
    let propagator = Propagator::default();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let request = with_remote_parent(Some(Arc::new(upstream())), || {
            tracing::info_span!("http.request")
        });
        let _entered = request.enter();
        group.bench_function("datadog_subscriber+datadog_tower", |b| {
            b.iter(|| {
                let mut headers = HeaderMap::with_capacity(8);
                datadog_tower::inject_current_with(&propagator, &mut headers);
                headers
            });
        });
    });
    let _ = handle.shutdown(Duration::from_secs(1));

    let (provider, official) = datadog_opentelemetry_stack(closed_port_url(), false);
    let otel_layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    tracing::subscriber::with_default(tracing_subscriber::registry().with(otel_layer), || {
        let mut carrier = HeaderMap::new();
        carrier.insert(
            "traceparent",
            http::HeaderValue::from_static(
                "00-6553a1b200000000112210f47de98115-000000003ade68b1-01",
            ),
        );
        carrier.insert(
            "tracestate",
            http::HeaderValue::from_static("dd=s:1;p:000000003ade68b1;t.dm:-1"),
        );
        let parent = official.extract(&opentelemetry_http::HeaderExtractor(&carrier));
        let request = tracing::info_span!("http.request");
        let _ = request.set_parent(parent);
        let _entered = request.enter();
        group.bench_function("tracing_opentelemetry+datadog_opentelemetry", |b| {
            b.iter(|| {
                let mut headers = HeaderMap::with_capacity(8);
                let context = tracing::Span::current().context();
                official.inject_context(&context, &mut HeaderInjector(&mut headers));
                headers
            });
        });
    });
    let _ = provider.shutdown_with_timeout(Duration::from_secs(1));

    group.finish();
}

fn per_span(c: &mut Criterion) {
    let mut group = c.benchmark_group("tracer");

    let (layer, handle) = TracerConfig::new()
        .service("bench")
        .agent_url(&closed_port_url())
        .build();
    let provider = datadog_opentelemetry_provider(closed_port_url(), false);
    let otel_layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    let subscribers = [
        ("registry_only", Dispatch::new(bare_registry())),
        (
            "floor_layer",
            Dispatch::new(tracing_subscriber::registry().with(FloorLayer)),
        ),
        (
            "datadog_subscriber",
            Dispatch::new(tracing_subscriber::registry().with(layer)),
        ),
        (
            "tracing_opentelemetry+datadog_opentelemetry",
            Dispatch::new(tracing_subscriber::registry().with(otel_layer)),
        ),
    ];
    for (name, dispatch) in &subscribers {
        bench_with(&mut group, name, dispatch);
    }
    group.finish();
    interleaved(&subscribers);

    let _ = handle.shutdown(Duration::from_secs(1));
    let _ = provider.shutdown_with_timeout(Duration::from_secs(1));
}

/// Child spans per timed batch (each batch under a request span of its own), and batches per
/// subscriber, in [`interleaved`].
const BATCH: u32 = 1_000;
const ROUNDS: usize = 100;

/// Times batches of child spans under each subscriber in turn ([`interleaved_medians`]) and
/// prints each one's median time per span and its ratio to the last one (the OpenTelemetry path).
fn interleaved(subscribers: &[(&str, Dispatch)]) {
    let medians = interleaved_medians(subscribers.len(), ROUNDS, BATCH, |index| {
        tracing::dispatcher::with_default(&subscribers[index].1, || {
            let root = tracing::info_span!("http.request");
            let _root = root.enter();
            let started = Instant::now();
            for _ in 0..BATCH {
                child_span();
            }
            started.elapsed()
        })
    });
    let theirs = medians.last().expect("subscribers").as_secs_f64();
    for ((name, _), median) in subscribers.iter().zip(&medians) {
        println!(
            "tracer/interleaved/{name}/child_span: median {:.0} ns, {:.2} of the last",
            median.as_secs_f64() * 1e9,
            median.as_secs_f64() / theirs,
        );
    }
}

fn per_span_cpu(c: &mut Criterion) {
    let sink = AgentSink::start();
    let mut group = c.benchmark_group("tracer_cpu");

    bench_cpu_with(&mut group, "registry_only", &sink, bare_registry(), || {});

    let (layer, handle) = TracerConfig::new()
        .service("bench")
        .agent_url(sink.url())
        .build();
    bench_cpu_with(
        &mut group,
        "datadog_subscriber",
        &sink,
        tracing_subscriber::registry().with(layer),
        || assert!(handle.flush(Duration::from_secs(10)), "flush in time"),
    );
    let _ = handle.shutdown(Duration::from_secs(1));
    let stats = handle.stats();
    // (Nothing is sent when a filter on the command line skipped these benches.)
    assert_eq!(
        stats.traces_dropped, 0,
        "every trace reached the sink: {stats:?}"
    );

    let provider = datadog_opentelemetry_provider(sink.url().to_owned(), true);
    let otel_layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    bench_cpu_with(
        &mut group,
        "tracing_opentelemetry+datadog_opentelemetry",
        &sink,
        tracing_subscriber::registry().with(otel_layer),
        || provider.force_flush().expect("flush"),
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

criterion_group!(benches, per_span, inject_current, per_span_cpu, encoding);
criterion_main!(benches);
