//! The sidecar Cloud Run sample: a `serverless-init` sidecar container receives this service's
//! traces on `localhost:8126`, its metrics on `127.0.0.1:8125` and its logs from the file it
//! tails on a shared volume.
//!
//! Run it locally with `cargo run -p sidecar`, then `curl localhost:8080/`.

mod config;
mod shutdown;

use std::net::Ipv4Addr;

use axum::{Router, extract::State, routing::get};
use datadog_statsd::Statsd;
use datadog_subscriber::logs::Destination;
use datadog_tower::DatadogServerLayer;
use tokio::net::TcpListener;

async fn hello(State(statsd): State<Statsd>) -> &'static str {
    tracing::info!("Hello world!");
    // Serverless custom metrics must be distributions.
    statsd.distribution("our-sample-app.sample-metric", 1.0);
    // Cloud Run gives CPU only while a request runs (request-based billing), so the client's
    // background flush may not run for a while: send now (a non-blocking UDP send).
    statsd.flush();
    "Hello World!"
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // The tracer and JSON logs, configured from the DD_* variables. The logs go to stdout (for
    // Cloud Logging) and to the file the sidecar tails: DD_SERVERLESS_LOG_PATH with `*.log`
    // replaced by `app.log` (default /shared-volume/logs/app.log).
    let datadog = datadog_subscriber::builder()
        .logs(|logs| logs.destination(Destination::sidecar()))
        .init();
    // DogStatsD to the sidecar (127.0.0.1:8125 unless DD_DOGSTATSD_URL or DD_AGENT_HOST and
    // DD_DOGSTATSD_PORT say otherwise), tagged with DD_ENV, DD_SERVICE and DD_VERSION.
    let statsd = Statsd::from_env();
    let port = config::port();
    let app = Router::new()
        .route("/", get(hello))
        .with_state(statsd.clone())
        .layer(DatadogServerLayer::from_env());
    // Listening for SIGTERM before the port opens: Cloud Run may send it right after its probe.
    let signals = shutdown::Signals::listen();
    let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).await?;
    tracing::info!("starting server on port {port}");
    let (served, signalled) = shutdown::serve(listener, app, signals).await;
    statsd.shutdown();
    let dropped = statsd.stats().packets_dropped;
    if dropped > 0 {
        // A log line, not stderr: the log writer never blocks, whoever reads (or not).
        tracing::warn!("{dropped} DogStatsD datagrams could not be sent since start");
    }
    // Within what is left of the shutdown budget (what cannot go is dropped, and one line says so).
    datadog.shutdown(shutdown::flush_timeout(signalled));
    served
}
