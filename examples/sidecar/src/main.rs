//! The sidecar Cloud Run sample: a `serverless-init` sidecar container receives this service's
//! traces on `localhost:8126`, its metrics on `127.0.0.1:8125` and its logs from a shared volume.
//!
//! Run it locally with `cargo run -p sidecar`, then `curl localhost:8080/`.

mod config;
mod shutdown;
mod telemetry;

use std::net::Ipv4Addr;

use axum::{Router, routing::get};
use tokio::net::TcpListener;

async fn hello() -> &'static str {
    tracing::info!("Hello world!");
    "Hello World!"
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    telemetry::init(&config::log_file());
    let port = config::port();
    let app = Router::new().route("/", get(hello));
    let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).await?;
    tracing::info!("starting server on port {port}");
    shutdown::serve(listener, app).await
}
