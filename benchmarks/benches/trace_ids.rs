//! Cost of generating Datadog ids: every new span draws a span id, every new trace a trace id.

use criterion::{Criterion, criterion_group, criterion_main};
use datadog_subscriber::context::{SpanId, TraceId};
use std::hint::black_box;

fn id_generation(c: &mut Criterion) {
    let mut group = c.benchmark_group("id_generation");
    group.bench_function("span_id", |b| b.iter(|| black_box(SpanId::generate())));
    group.bench_function("trace_id_128", |b| {
        b.iter(|| black_box(TraceId::generate_128()))
    });
    group.finish();
}

criterion_group!(benches, id_generation);
criterion_main!(benches);
