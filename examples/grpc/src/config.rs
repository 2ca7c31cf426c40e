//! Settings read from the environment; a bad value warns and falls back, it never stops the
//! service from starting.

/// The port Cloud Run sends requests to unless it sets `PORT`.
pub const DEFAULT_PORT: u16 = 8080;

/// The port to listen on: `$PORT`, or [`DEFAULT_PORT`] when it is unset or not a port number.
pub fn port() -> u16 {
    port_from(std::env::var("PORT").ok().as_deref())
}

fn port_from(value: Option<&str>) -> u16 {
    let Some(value) = value else {
        return DEFAULT_PORT;
    };
    match value.trim().parse::<u16>() {
        Ok(port) if port != 0 => port,
        _ => {
            tracing::warn!(
                "PORT={value:?} is not a port number (1-65535); listening on {DEFAULT_PORT}"
            );
            DEFAULT_PORT
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_comes_from_the_variable_or_falls_back() {
        assert_eq!(port_from(Some("9090")), 9090);
        for bad in ["", "abc", "0", "65536"] {
            assert_eq!(port_from(Some(bad)), DEFAULT_PORT, "{bad:?}");
        }
        assert_eq!(port_from(None), DEFAULT_PORT);
    }
}
