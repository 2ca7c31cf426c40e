//! The sidecar Cloud Run sample: a `serverless-init` sidecar container receives this service's
//! traces on `localhost:8126`, its metrics on `127.0.0.1:8125` and its logs from a shared volume.

use axum::{Router, routing::get};

async fn hello() -> &'static str {
    tracing::info!("Hello world!");
    "Hello World!"
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().json().flatten_event(true).init();
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".to_owned());
    let app = Router::new().route("/", get(hello));
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port.parse().unwrap_or(8080))).await?;
    tracing::info!("starting server on port {port}");
    axum::serve(listener, app).await
}
