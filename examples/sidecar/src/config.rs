//! Settings read from the environment; a bad value warns once and falls back, it never stops the
//! service from starting.

/// The port Cloud Run sends requests to unless it sets `PORT`.
pub const DEFAULT_PORT: u16 = 8080;

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
