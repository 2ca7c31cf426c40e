//! JSON log lines per second: our `JsonLogLayer` (with Datadog correlation fields) against
//! `tracing_subscriber::fmt().json()` and the `json-subscriber` crate (without them), for the same
//! event: 3 fields, inside 2 spans with one field each, written to `io::sink`.
//!
//! Run: `cargo bench -p benchmarks --bench logs -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::io;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datadog_subscriber::context::{SpanId, TraceId};
use datadog_subscriber::correlation::CorrelationIds;
use datadog_subscriber::logs::{LogConfig, NonBlocking};
use tracing::Subscriber;
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// Hands every span correlation ids the way the tracer layer does, without the tracer's own cost
/// (which its benchmark measures), so this measures log formatting alone.
struct Correlation;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Correlation {
    fn on_new_span(&self, _: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(CorrelationIds::new(
                TraceId::from_parts(0x6553_a1b2_0000_0000, 0x1234_5678_9abc_def0),
                SpanId::new(id.into_u64()),
                true,
            ));
        }
    }
}

/// The measured work: one event with 3 fields inside two spans (entered once, outside the loop).
fn bench_in(c: &mut Criterion, name: &str, subscriber: impl Subscriber + Send + Sync) {
    tracing::subscriber::with_default(subscriber, || {
        let outer = tracing::info_span!("request", http.route = "/users/{id}");
        let _outer = outer.enter();
        let inner = tracing::info_span!("db.query", db.system = "postgresql");
        let _inner = inner.enter();
        let mut group = c.benchmark_group("logs");
        group.throughput(Throughput::Elements(1));
        group.bench_function(name, |b| {
            b.iter(|| {
                tracing::info!(
                    user_id = black_box(42_u64),
                    cache_hit = black_box(true),
                    region = black_box("europe-west1"),
                    "loaded user profile"
                );
            });
        });
        group.finish();
    });
}

fn logs(c: &mut Criterion) {
    let config = || {
        LogConfig::default()
            .service("checkout")
            .env("prod")
            .version("1.2.3")
    };
    bench_in(
        c,
        "datadog_subscriber (correlated, io::sink)",
        tracing_subscriber::registry()
            .with(Correlation)
            .with(config().build_with_writer(io::sink)),
    );
    let (writer, guard) = NonBlocking::new(vec![Box::new(io::sink())], 8 << 20);
    bench_in(
        c,
        "datadog_subscriber (correlated, non-blocking to io::sink)",
        tracing_subscriber::registry()
            .with(Correlation)
            .with(config().build_with_writer(writer)),
    );
    drop(guard);
    bench_in(
        c,
        "tracing_subscriber fmt().json() (io::sink)",
        tracing_subscriber::fmt()
            .json()
            .with_writer(io::sink)
            .finish(),
    );
    bench_in(
        c,
        "json-subscriber (io::sink)",
        json_subscriber::fmt().with_writer(io::sink).finish(),
    );
}

criterion_group!(benches, logs);
criterion_main!(benches);
