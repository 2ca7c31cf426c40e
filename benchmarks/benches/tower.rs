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
use std::sync::Arc;
use std::time::{Duration, Instant};

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
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider;
use tower::ServiceExt;
use tracing::{Dispatch, Subscriber};
use tracing_subscriber::layer::SubscriberExt;

use benchmarks::{AgentSink, bare_registry, closed_port_url, interleaved_medians};

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

/// One stack under test: the app with its layer, and the subscriber its requests run under.
struct Stack {
    name: String,
    router: Router,
    dispatch: Option<Dispatch>,
    /// Makes this stack's propagator the global one (`tower-otel` reads the global one).
    activate: Option<Box<dyn Fn()>>,
}

impl Stack {
    fn new(name: &str, router: Router, subscriber: Option<Dispatch>) -> Self {
        Stack {
            name: name.to_owned(),
            // Routes made once, as `axum::serve` does: a router called before `with_state`
            // turns its handlers (and the layers over them) into routes again for every request.
            router: router.with_state(()),
            dispatch: subscriber,
            activate: None,
        }
    }

    /// Runs `work` under this stack's subscriber. The runtime is current-thread: requests run
    /// on the calling thread.
    fn run<R>(&self, work: impl FnOnce() -> R) -> R {
        if let Some(activate) = &self.activate {
            activate();
        }
        match &self.dispatch {
            Some(dispatch) => tracing::dispatcher::with_default(dispatch, work),
            None => work(),
        }
    }

    async fn one_request(&self) {
        let response = self
            .router
            .clone()
            .oneshot(request())
            .await
            .expect("infallible");
        let body = response.into_body().collect().await.expect("a body");
        black_box(body.to_bytes());
    }
}

/// A propagator that several stacks' turns can install as the global one: the official one is
/// tied to its own provider's trace registry, so each OpenTelemetry stack needs its own.
#[derive(Debug)]
struct SharedPropagator<P>(Arc<P>);

impl<P: TextMapPropagator> TextMapPropagator for SharedPropagator<P> {
    fn inject_context(&self, context: &opentelemetry::Context, injector: &mut dyn Injector) {
        self.0.inject_context(context, injector);
    }

    fn extract_with_context(
        &self,
        context: &opentelemetry::Context,
        extractor: &dyn Extractor,
    ) -> opentelemetry::Context {
        self.0.extract_with_context(context, extractor)
    }

    fn fields(&self) -> FieldIter<'_> {
        self.0.fields()
    }
}

fn dispatch(subscriber: impl Subscriber + Send + Sync + 'static) -> Option<Dispatch> {
    Some(Dispatch::new(subscriber))
}

/// Requests per timed batch (enough for a stack to warm its caches again after the others ran),
/// and batches per stack, in [`interleaved`].
const BATCH: u32 = 400;
const ROUNDS: usize = 100;

/// Times batches of requests of each stack in turn (bare, ours, theirs; bare, ours, theirs; ...)
/// ([`interleaved_medians`]) and prints each stack's median time per request, its cost over the
/// first stack (`bare`), and that cost as a share of the last stack's.
fn interleaved(runtime: &tokio::runtime::Runtime, stacks: &[&Stack]) {
    let medians = interleaved_medians(stacks.len(), ROUNDS, BATCH, |index| {
        let stack = stacks[index];
        stack.run(|| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..BATCH {
                    stack.one_request().await;
                }
                started.elapsed()
            })
        })
    });
    let bare = medians[0];
    let over_bare = |median: Duration| median.saturating_sub(bare).as_secs_f64();
    let last = over_bare(*medians.last().expect("stacks"));
    for (stack, median) in stacks.iter().zip(&medians) {
        println!(
            "tower/interleaved/{}: median {:.2} µs, over bare {:.2} µs ({:.3} of the last's)",
            stack.name,
            median.as_secs_f64() * 1e6,
            over_bare(*median) * 1e6,
            over_bare(*median) / last,
        );
    }
}

fn per_request(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");

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
    let tracer = |agent_url: &str| {
        TracerConfig::new()
            .service("bench")
            .agent_url(agent_url)
            .build()
    };
    let otel = |agent_url: String| {
        let mut config = datadog_opentelemetry::configuration::Config::builder();
        config
            .set_service("bench".to_owned())
            .set_telemetry_enabled(false)
            .set_remote_config_enabled(false)
            .set_trace_agent_url(agent_url);
        let (provider, propagator) = datadog_opentelemetry::tracing()
            .with_config(config.build())
            .init_local();
        let propagator = Arc::new(propagator);
        let activate = move || {
            opentelemetry::global::set_text_map_propagator(SharedPropagator(propagator.clone()));
        };
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
        let json = tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::sink);
        (
            tracing_subscriber::registry().with(layer).with(json),
            provider,
            activate,
        )
    };

    let sink = AgentSink::start();
    let mut handles = Vec::new();
    let mut providers = Vec::new();
    let mut stacks = vec![
        Stack::new("bare", app(), None),
        Stack::new(
            "tower_http_trace_layer",
            app().layer(tower_http::trace::TraceLayer::new_for_http()),
            dispatch(bare_registry()),
        ),
        // The parts of our stack on their own, to see where the cost goes.
        Stack::new(
            "parts/layer",
            app().layer(layer()),
            dispatch(bare_registry()),
        ),
        Stack::new(
            "parts/layer+logs",
            app().layer(layer()),
            dispatch(tracing_subscriber::registry().with(logs())),
        ),
    ];
    let (parts_tracer, handle) = tracer(&closed_port_url());
    handles.push(handle);
    stacks.push(Stack::new(
        "parts/layer+tracer",
        app().layer(layer()),
        dispatch(tracing_subscriber::registry().with(parts_tracer)),
    ));
    for (agent_url, suffix) in [
        (closed_port_url(), ""),
        (sink.url().to_owned(), "/healthy_agent"),
    ] {
        let (ours, handle) = tracer(&agent_url);
        handles.push(handle);
        stacks.push(Stack::new(
            &format!("datadog_tower{suffix}"),
            app().layer(layer()),
            dispatch(tracing_subscriber::registry().with(ours).with(logs())),
        ));
        let (subscriber, provider, activate) = otel(agent_url);
        providers.push(provider);
        stacks.push(Stack {
            activate: Some(Box::new(activate)),
            ..Stack::new(
                &format!("tower_otel+datadog_opentelemetry{suffix}"),
                app().layer(tower_otel::trace::HttpLayer::server(tracing::Level::INFO)),
                dispatch(subscriber),
            )
        });
    }

    for stack in &stacks {
        stack.run(|| {
            c.bench_function(&format!("tower/{}", stack.name), |b| {
                b.to_async(&runtime).iter(|| stack.one_request());
            });
        });
    }
    let stack = |name: &str| {
        stacks
            .iter()
            .find(|stack| stack.name == name)
            .expect("a stack of that name")
    };
    interleaved(
        &runtime,
        &[
            stack("bare"),
            stack("datadog_tower"),
            stack("tower_otel+datadog_opentelemetry"),
        ],
    );

    for handle in handles {
        let _ = handle.shutdown(Duration::from_secs(1));
    }
    for provider in providers {
        let _ = provider.shutdown_with_timeout(Duration::from_secs(1));
    }
}

criterion_group!(benches, per_request);
criterion_main!(benches);
