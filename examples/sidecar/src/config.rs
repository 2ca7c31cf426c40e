//! Settings read from the environment; a bad value warns once and falls back, it never stops the
//! service from starting.

use std::path::PathBuf;

/// The port Cloud Run sends requests to unless it sets `PORT`.
pub const DEFAULT_PORT: u16 = 8080;

/// Where the sidecar tails logs unless `DD_SERVERLESS_LOG_PATH` says otherwise.
pub const DEFAULT_LOG_PATH: &str = "/shared-volume/logs/*.log";

/// The port to listen on: `$PORT`, or [`DEFAULT_PORT`] when it is unset or not a port number.
pub fn port() -> u16 {
    let Some(value) = std::env::var_os("PORT") else {
        return DEFAULT_PORT;
    };
    match value.to_str().map(|text| text.trim().parse::<u16>()) {
        Some(Ok(port)) if port != 0 => port,
        _ => {
            tracing::warn!(
                "PORT={} is not a port number (1-65535); listening on {DEFAULT_PORT}",
                value.to_string_lossy()
            );
            DEFAULT_PORT
        }
    }
}

/// The file this app logs to: `DD_SERVERLESS_LOG_PATH` (the glob the sidecar tails, by default
/// [`DEFAULT_LOG_PATH`]) with `*.log` replaced by `app.log`, as every Datadog sidecar sample does.
pub fn log_file() -> PathBuf {
    let pattern = std::env::var("DD_SERVERLESS_LOG_PATH")
        .ok()
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_LOG_PATH.to_owned());
    PathBuf::from(pattern.trim().replace("*.log", "app.log"))
}
