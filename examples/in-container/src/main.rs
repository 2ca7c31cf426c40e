//! The in-container Cloud Run sample: `serverless-init` wraps this process, reads its JSON logs
//! from stdout and forwards its traces from `localhost:8126`.

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
