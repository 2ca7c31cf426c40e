//! A unary gRPC call (tonic-health's `/grpc.health.v1.Health/Check`) over loopback HTTP/2, from a
//! tonic client to a tonic server, in the same run:
//!
//! - `bare_tonic`: no layers, no subscriber;
//! - `parts/layers`: `DatadogClientLayer` around the channel and `DatadogServerLayer` on the
//!   server, over a bare `registry()` (spans and tags, no export);
//! - `datadog_tower`: the same layers under the `datadog-subscriber` tracer (two spans a call,
//!   encoded for export on the tracer's worker; traces go to a closed loopback port).
//!
//! Both traced setups filter at `INFO`, as `datadog_subscriber::init` does by default
//! (`RUST_LOG=info`): without a filter, every `trace!`/`debug!` span and event of h2, hyper and
//! tonic would be recorded too, which measures those crates' diagnostics, not our layers.
//!
//! The ratio `datadog_tower / bare_tonic` is what tracing a gRPC call costs end to end (client
//! and server side together, both on this thread). On a shared machine the load drifts between
//! criterion's groups, so the bench also prints that ratio from interleaved calls (one bare, one
//! traced, and so on), as the ratio of the medians.
//!
//! ```sh
//! cargo bench -p benchmarks --bench grpc -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use datadog_subscriber::tracer::TracerConfig;
use datadog_tower::config::HttpConfig;
use datadog_tower::grpc::GrpcConfig;
use datadog_tower::propagation::Propagator;
use datadog_tower::{DatadogClientLayer, DatadogServerLayer};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Channel, Server};
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tracing::Subscriber;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

use benchmarks::{bare_registry, closed_port_url};

const SERVICE: &str = "bench.Service";

/// Serves the health service, with or without the server layer, on a free loopback port.
async fn serve(traced: bool) -> SocketAddr {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status(SERVICE, ServingStatus::Serving)
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = listener.local_addr().expect("an address");
    let incoming = TcpListenerStream::new(listener);
    if traced {
        let layer = DatadogServerLayer::builder()
            .propagator(Propagator::default())
            .config(HttpConfig::default())
            .grpc(GrpcConfig::default())
            .build();
        tokio::spawn(
            Server::builder()
                .layer(layer)
                .add_service(health)
                .serve_with_incoming(incoming),
        );
    } else {
        tokio::spawn(
            Server::builder()
                .add_service(health)
                .serve_with_incoming(incoming),
        );
    }
    // Keep the reporter (its statuses) for the life of the process.
    std::mem::forget(reporter);
    address
}

async fn channel(address: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{address}"))
        .expect("a valid URI")
        .connect()
        .await
        .expect("the server accepts")
}

fn request() -> HealthCheckRequest {
    HealthCheckRequest {
        service: SERVICE.to_owned(),
    }
}

fn bench_calls<T>(
    c: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    name: &str,
    client: &HealthClient<T>,
    subscriber: Option<Box<dyn Subscriber + Send + Sync>>,
) where
    T: tonic::client::GrpcService<tonic::body::Body> + Clone,
    T::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<tonic::codegen::StdError> + Send,
    T::Error: Into<tonic::codegen::StdError>,
{
    let mut run = || {
        c.bench_function(&format!("grpc/{name}"), |b| {
            b.to_async(runtime).iter(|| {
                let mut client = client.clone();
                async move {
                    let answer = client.check(request()).await.expect("SERVING");
                    black_box(answer.into_inner().status);
                }
            });
        });
    };
    // The runtime is current-thread: client and server run on this thread, under this subscriber.
    match subscriber {
        Some(subscriber) => tracing::subscriber::with_default(subscriber, run),
        None => run(),
    }
}

fn unary_call(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");

    let bare = runtime.block_on(async { HealthClient::new(channel(serve(false).await).await) });
    let traced = runtime.block_on(async {
        let layer = DatadogClientLayer::builder()
            .propagator(Propagator::default())
            .config(HttpConfig::default())
            .grpc(GrpcConfig::default())
            .build();
        let channel = channel(serve(true).await).await;
        HealthClient::new(tower::ServiceBuilder::new().layer(layer).service(channel))
    });

    bench_calls(c, &runtime, "bare_tonic", &bare, None);
    bench_calls(
        c,
        &runtime,
        "parts/layers",
        &traced,
        Some(Box::new(bare_registry().with(LevelFilter::INFO))),
    );
    let traced_subscriber = || {
        let (tracer, handle) = TracerConfig::new()
            .service("bench")
            .agent_url(&closed_port_url())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(LevelFilter::INFO)
            .with(tracer);
        (subscriber, handle)
    };
    let (subscriber, handle) = traced_subscriber();
    bench_calls(
        c,
        &runtime,
        "datadog_tower",
        &traced,
        Some(Box::new(subscriber)),
    );
    let _ = handle.shutdown(Duration::from_secs(1));

    let (subscriber, handle) = traced_subscriber();
    interleaved_ratio(
        &runtime,
        &bare,
        &traced,
        &tracing::Dispatch::new(subscriber),
    );
    let _ = handle.shutdown(Duration::from_secs(1));
}

/// Calls alternately bare and traced, and prints the ratio of the median call times.
fn interleaved_ratio<B, T>(
    runtime: &tokio::runtime::Runtime,
    bare: &HealthClient<B>,
    traced: &HealthClient<T>,
    dispatch: &tracing::Dispatch,
) where
    B: tonic::client::GrpcService<tonic::body::Body> + Clone,
    B::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <B::ResponseBody as http_body::Body>::Error: Into<tonic::codegen::StdError> + Send,
    B::Error: Into<tonic::codegen::StdError>,
    T: tonic::client::GrpcService<tonic::body::Body> + Clone,
    T::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<tonic::codegen::StdError> + Send,
    T::Error: Into<tonic::codegen::StdError>,
{
    const CALLS: usize = 3000;
    let mut bare_times = Vec::with_capacity(CALLS);
    let mut traced_times = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let mut client = bare.clone();
        let started = Instant::now();
        runtime.block_on(async move { client.check(request()).await.expect("SERVING") });
        bare_times.push(started.elapsed());
        let mut client = traced.clone();
        let started = Instant::now();
        tracing::dispatcher::with_default(dispatch, || {
            runtime.block_on(async move { client.check(request()).await.expect("SERVING") })
        });
        traced_times.push(started.elapsed());
    }
    let median = |times: &mut Vec<Duration>| {
        times.sort_unstable();
        times[times.len() / 2]
    };
    let (bare, traced) = (median(&mut bare_times), median(&mut traced_times));
    println!(
        "grpc/interleaved: bare_tonic median {bare:?}, datadog_tower median {traced:?}, ratio {:.2}",
        traced.as_secs_f64() / bare.as_secs_f64()
    );
}

criterion_group!(benches, unary_call);
criterion_main!(benches);
