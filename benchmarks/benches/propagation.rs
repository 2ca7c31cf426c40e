//! Trace-context extraction and injection: `datadog_tower::propagation::Propagator` against
//! `datadog-opentelemetry` 0.6's `DatadogPropagator` (default styles
//! `datadog,tracecontext,baggage`) and `opentelemetry_sdk`'s `TraceContextPropagator` (W3C only),
//! on the same headers in the same run.
//!
//! Extract benches read the header set; inject benches write into an empty carrier, created and
//! dropped inside the measured loop for every contender (an `http::HeaderMap`, the carrier of an
//! HTTP client, and a `HashMap<String, String>`, the carrier of message headers). The peers use
//! `opentelemetry-http`'s `HeaderExtractor`/`HeaderInjector` over `HeaderMap`.
//!
//! `inject_*/*/propagator_only` measure the propagator's own work: the carrier reads every name
//! and value it is handed and keeps nothing, so what a `HeaderMap` costs by itself (hashing each
//! name, storing each value; see `header_map_floor`) is left out for both sides alike.
//!
//! Time is the calling thread's CPU time, not wall time: the build machine has 2 cores shared
//! with other jobs, so wall time mostly measures preemption. All the work measured here runs on
//! the calling thread, for every contender.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Bencher, Criterion, criterion_group, criterion_main};
use datadog_subscriber::context::{SpanContext, SpanId};
use datadog_tower::propagation::{Injector, Propagator, PropagatorBuilder, Style};
use http::HeaderMap;
use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;

/// What a request from an instrumented Datadog service looks like: Datadog headers, W3C headers
/// with a foreign tracestate member, and three baggage items.
const DEFAULT_HEADERS: [(&str, &str); 8] = [
    ("x-datadog-trace-id", "7277407061855694839"),
    ("x-datadog-parent-id", "67667974448284343"),
    ("x-datadog-sampling-priority", "1"),
    ("x-datadog-tags", "_dd.p.dm=-4,_dd.p.tid=80f198ee56343ba8"),
    (
        "traceparent",
        "00-80f198ee56343ba864fe8b2a57d3eff7-00f067aa0ba902b7-01",
    ),
    (
        "tracestate",
        "dd=s:1;p:00f067aa0ba902b7;t.dm:-4,congo=t61rcWkgMzE",
    ),
    ("baggage", "user.id=alice,session.id=s-1234,account.id=acme"),
    ("x-datadog-origin", "rum"),
];

/// Runs `routine` as `Bencher::iter` does (its output dropped inside the loop), timed with the
/// thread's CPU clock.
fn cpu_iter<O>(b: &mut Bencher<'_>, mut routine: impl FnMut() -> O) {
    b.iter_custom(|iterations| {
        let start = cpu_time::ThreadTime::now();
        for _ in 0..iterations {
            black_box(routine());
        }
        start.elapsed()
    });
}

const W3C_HEADERS: [(&str, &str); 2] = [
    (
        "traceparent",
        "00-80f198ee56343ba864fe8b2a57d3eff7-00f067aa0ba902b7-01",
    ),
    ("tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
];

/// A carrier that reads what it is given and keeps nothing (see the module doc), for both
/// propagator interfaces.
struct Discard;

impl Injector for Discard {
    fn set(&mut self, name: &str, value: &str) {
        black_box((name, value));
    }
}

impl opentelemetry::propagation::Injector for Discard {
    fn set(&mut self, key: &str, value: String) {
        black_box((key, value));
    }
}

fn hash_map(headers: &[(&str, &str)]) -> HashMap<String, String> {
    headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn header_map(headers: &[(&str, &str)]) -> HeaderMap {
    headers
        .iter()
        .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
        .collect()
}

fn ours(styles: &[Style]) -> Propagator {
    PropagatorBuilder::from_lookup(|_| None)
        .styles(styles.iter().copied())
        .build()
}

/// The official SDK's propagator with its tracer, so that injection finds the trace's
/// propagation data (origin, tags) in its registry, as it does in a real service.
fn datadog_opentelemetry() -> (
    opentelemetry_sdk::trace::SdkTracerProvider,
    impl TextMapPropagator,
) {
    let mut config = datadog_opentelemetry::configuration::Config::builder();
    config
        .set_telemetry_enabled(false)
        .set_remote_config_enabled(false)
        .set_trace_agent_url("http://127.0.0.1:9".to_owned());
    datadog_opentelemetry::tracing()
        .with_config(config.build())
        .init_local()
}

fn default_styles(c: &mut Criterion) {
    let propagator = ours(&[Style::Datadog, Style::TraceContext, Style::Baggage]);
    let (provider, official) = datadog_opentelemetry();
    let strings = hash_map(&DEFAULT_HEADERS);
    let headers = header_map(&DEFAULT_HEADERS);

    let mut group = c.benchmark_group("extract_default_styles");
    group.bench_function("datadog_tower/header_map", |b| {
        cpu_iter(b, || black_box(propagator.extract(black_box(&headers))));
    });
    group.bench_function("datadog_tower/header_map_scan", |b| {
        cpu_iter(b, || {
            black_box(propagator.extract_header_map(black_box(&headers)))
        });
    });
    group.bench_function("datadog_tower/hash_map", |b| {
        cpu_iter(b, || black_box(propagator.extract(black_box(&strings))));
    });
    group.bench_function("datadog_opentelemetry/header_map", |b| {
        cpu_iter(b, || {
            black_box(official.extract(&HeaderExtractor(black_box(&headers))))
        });
    });
    group.bench_function("datadog_opentelemetry/hash_map", |b| {
        cpu_iter(b, || black_box(official.extract(black_box(&strings))));
    });
    group.finish();

    // Inject from a local span of the extracted trace (origin, `_dd.p.*` tags, the foreign
    // tracestate member and the baggage all travel on). Nothing is cached between iterations:
    // every injection formats every header from the context.
    let mut context = propagator.extract(&headers).unwrap();
    context.span_id = SpanId::new(0x1234_5678_9abc_def0);
    let tracer = provider.tracer("bench");
    let parent = official.extract(&strings);
    let official_cx = parent.with_span(tracer.start_with_context("client", &parent));

    let mut group = c.benchmark_group("inject_default_styles");
    group.bench_function("datadog_tower/header_map", |b| {
        cpu_iter(b, || {
            let mut out = HeaderMap::with_capacity(8);
            propagator.inject(black_box(&context), &mut out);
            out
        });
    });
    // What the client layer and `inject_current` do: every value a slice of one shared buffer.
    group.bench_function("datadog_tower/header_map_shared", |b| {
        cpu_iter(b, || {
            let mut out = HeaderMap::with_capacity(8);
            propagator.inject_header_map(black_box(&context), &mut out);
            out
        });
    });
    group.bench_function("datadog_tower/hash_map", |b| {
        cpu_iter(b, || {
            let mut out: HashMap<String, String> = HashMap::with_capacity(8);
            propagator.inject(black_box(&context), &mut out);
            out
        });
    });
    group.bench_function("datadog_opentelemetry/header_map", |b| {
        cpu_iter(b, || {
            let mut out = HeaderMap::with_capacity(8);
            official.inject_context(black_box(&official_cx), &mut HeaderInjector(&mut out));
            out
        });
    });
    group.bench_function("datadog_opentelemetry/hash_map", |b| {
        cpu_iter(b, || {
            let mut out: HashMap<String, String> = HashMap::with_capacity(8);
            official.inject_context(black_box(&official_cx), &mut out);
            out
        });
    });
    group.bench_function("datadog_tower/propagator_only", |b| {
        cpu_iter(b, || propagator.inject(black_box(&context), &mut Discard));
    });
    group.bench_function("datadog_opentelemetry/propagator_only", |b| {
        cpu_iter(b, || {
            official.inject_context(black_box(&official_cx), &mut Discard)
        });
    });
    group.finish();
    let _ = provider.shutdown();

    header_map_floor(c, &headers);
}

/// What a `HeaderMap` costs by itself for the headers injected above: an empty map, and one
/// holding the same names with `'static` values (no formatting, no shared buffer).
fn header_map_floor(c: &mut Criterion, headers: &HeaderMap) {
    let names: Vec<http::HeaderName> = headers.keys().cloned().collect();
    let mut group = c.benchmark_group("header_map_floor");
    group.bench_function("empty", |b| {
        cpu_iter(b, || HeaderMap::<http::HeaderValue>::with_capacity(8));
    });
    group.bench_function("static_values", |b| {
        cpu_iter(b, || {
            let mut out = HeaderMap::with_capacity(8);
            for name in &names {
                out.insert(name.clone(), http::HeaderValue::from_static("1"));
            }
            out
        });
    });
    group.finish();
}

fn w3c_only(c: &mut Criterion) {
    let propagator = ours(&[Style::TraceContext]);
    let otel = TraceContextPropagator::new();
    let strings = hash_map(&W3C_HEADERS);
    let headers = header_map(&W3C_HEADERS);

    let mut group = c.benchmark_group("extract_w3c_only");
    group.bench_function("datadog_tower/header_map", |b| {
        cpu_iter(b, || black_box(propagator.extract(black_box(&headers))));
    });
    group.bench_function("datadog_tower/hash_map", |b| {
        cpu_iter(b, || black_box(propagator.extract(black_box(&strings))));
    });
    group.bench_function("opentelemetry_sdk/header_map", |b| {
        cpu_iter(b, || {
            black_box(otel.extract(&HeaderExtractor(black_box(&headers))))
        });
    });
    group.bench_function("opentelemetry_sdk/hash_map", |b| {
        cpu_iter(b, || black_box(otel.extract(black_box(&strings))));
    });
    group.finish();

    let context: SpanContext = propagator.extract(&strings).unwrap();
    let otel_cx: Context = otel.extract(&strings);
    let mut group = c.benchmark_group("inject_w3c_only");
    group.bench_function("datadog_tower/header_map", |b| {
        cpu_iter(b, || {
            let mut out = HeaderMap::with_capacity(2);
            propagator.inject(black_box(&context), &mut out);
            out
        });
    });
    group.bench_function("opentelemetry_sdk/header_map", |b| {
        cpu_iter(b, || {
            let mut out = HeaderMap::with_capacity(2);
            otel.inject_context(black_box(&otel_cx), &mut HeaderInjector(&mut out));
            out
        });
    });
    group.bench_function("datadog_tower/hash_map", |b| {
        cpu_iter(b, || {
            let mut out: HashMap<String, String> = HashMap::with_capacity(2);
            propagator.inject(black_box(&context), &mut out);
            out
        });
    });
    group.bench_function("opentelemetry_sdk/hash_map", |b| {
        cpu_iter(b, || {
            let mut out: HashMap<String, String> = HashMap::with_capacity(2);
            otel.inject_context(black_box(&otel_cx), &mut out);
            out
        });
    });
    group.finish();
}

criterion_group!(benches, default_styles, w3c_only);
criterion_main!(benches);
