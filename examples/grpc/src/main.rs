//! A gRPC service on Cloud Run: tonic's `grpc.health.v1.Health` behind `DatadogServerLayer`, with
//! `serverless-init` in the same container (the in-container pattern). Every call continues its
//! caller's trace in a `grpc.server` span (resource `/grpc.health.v1.Health/Check`, the gRPC status
//! code, errors for the codes Datadog counts as errors).
//!
//! Run it locally with `cargo run -p grpc`, then call it with `cargo run -p grpc --bin check`.

mod config;
mod shutdown;

use std::net::Ipv4Addr;
use std::time::Duration;

use datadog_tower::DatadogServerLayer;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;
use tonic_health::ServingStatus;

/// The service this example reports healthy (besides the server as a whole, `""`).
pub const SERVICE: &str = "datadog.example.Hello";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // The tracer and JSON logs on stdout, configured from the DD_* variables (inside the
    // runtime, so that DD_RUNTIME_METRICS_ENABLED reports on it).
    let datadog = {
        let _runtime = runtime.enter();
        datadog_subscriber::init()
    };
    let served = runtime.block_on(serve());
    // tonic runs each connection in a task of its own: shutting the runtime down drops the
    // streams still open after the drain, which ends their spans (CANCELLED) before the flush.
    runtime.shutdown_timeout(Duration::from_millis(200));
    // serverless-init flushes only after this process has exited: hand it everything now.
    if !datadog.shutdown(shutdown::FLUSH_TIMEOUT) {
        eprintln!(
            "some traces or logs were not delivered within {:?}",
            shutdown::FLUSH_TIMEOUT
        );
    }
    served
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let port = config::port();
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status(SERVICE, ServingStatus::Serving)
        .await;
    // Listening for SIGTERM before the port opens: Cloud Run may send it right after its probe.
    let signals = shutdown::Signals::listen();
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).await?;
    tracing::info!("starting server on port {port}");
    let incoming = TcpListenerStream::new(listener);
    shutdown::serve(signals, |stopping| {
        Server::builder()
            // The same layer as for axum: it recognises gRPC by its content type.
            .layer(DatadogServerLayer::from_env())
            .add_service(health)
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stopping.await;
            })
    })
    .await?;
    Ok(())
}
