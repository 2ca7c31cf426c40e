//! Settings read from the environment; a bad value warns once and falls back, it never stops the
//! service from starting.

use std::ffi::OsStr;

/// The port Cloud Run sends requests to unless it sets `PORT`.
pub const DEFAULT_PORT: u16 = 8080;

/// The port to listen on: `$PORT`, or [`DEFAULT_PORT`] when it is unset or not a port number.
pub fn port() -> u16 {
    port_from(std::env::var_os("PORT").as_deref())
}

fn port_from(value: Option<&OsStr>) -> u16 {
    let Some(value) = value else {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_comes_from_the_variable() {
        assert_eq!(port_from(Some(OsStr::new("9090"))), 9090);
        assert_eq!(port_from(Some(OsStr::new(" 8081\n"))), 8081);
    }

    #[test]
    fn a_missing_or_bad_port_falls_back_to_8080() {
        for bad in ["", "abc", "0", "65536", "-1", "80 80"] {
            assert_eq!(port_from(Some(OsStr::new(bad))), DEFAULT_PORT, "{bad:?}");
        }
        assert_eq!(port_from(None), DEFAULT_PORT);
    }
}
