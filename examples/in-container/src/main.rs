//! The in-container Cloud Run sample: `serverless-init` wraps this process (it is the image's
//! `ENTRYPOINT`), reads its JSON logs from stdout and forwards its traces from `localhost:8126`.
//!
//! Run it locally with `cargo run -p in-container`, then `curl localhost:8080/`.

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
    telemetry::init();
    let port = config::port();
    let app = Router::new().route("/", get(hello));
    let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).await?;
    tracing::info!("starting server on port {port}");
    shutdown::serve(listener, app).await
}
