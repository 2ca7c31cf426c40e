//! Logs as JSON lines on stdout, where `serverless-init` picks them up.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber (`RUST_LOG` filters, `info` by default).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_env_filter(filter)
        .init();
}
