//! The in-container Cloud Run sample: `serverless-init` wraps this process (it is the image's
//! `ENTRYPOINT`), reads its JSON logs from stdout and receives its traces on `localhost:8126`.
//!
//! Run it locally with `cargo run -p in-container`, then `curl localhost:8080/`, or
//! `curl localhost:8080/downstream` for a request that makes a traced outgoing call.

mod config;
mod downstream;
mod shutdown;

use std::net::Ipv4Addr;

use axum::{Router, routing::get};
use datadog_tower::DatadogServerLayer;
use downstream::Downstream;
use tokio::net::TcpListener;

async fn hello() -> &'static str {
    tracing::info!("Hello world!");
    "Hello World!"
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // The tracer and JSON logs on stdout, configured from the DD_* variables.
    let datadog = datadog_subscriber::init();
    let port = config::port();
    // `GET /downstream` calls `DOWNSTREAM_URL` (default: this service's `GET /`) in a client span
    // that carries the trace to the callee.
    let downstream = Downstream::new(config::downstream_url(port));
    // Every request continues its caller's trace (if any) in an `http.request` span.
    let app = Router::new()
        .route("/", get(hello))
        .route("/downstream", get(downstream::call))
        .with_state(downstream)
        .layer(DatadogServerLayer::from_env());
    // Listening for SIGTERM before the port opens: Cloud Run may send it right after its probe.
    let signals = shutdown::Signals::listen();
    let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).await?;
    tracing::info!("starting server on port {port}");
    let (served, signalled) = shutdown::serve(listener, app, signals).await;
    // serverless-init flushes only after this process has exited: hand it everything now, within
    // what is left of the shutdown budget (what cannot go is dropped, and one line says so).
    datadog.shutdown(shutdown::flush_timeout(signalled));
    served
}
