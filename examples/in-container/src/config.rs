//! Settings read from the environment; a bad value warns once and falls back, it never stops the
//! service from starting.

use std::ffi::OsStr;

use axum::http::Uri;

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

/// What `GET /downstream` calls: `$DOWNSTREAM_URL` (an `http://` URL), else this service's own
/// `GET /` on loopback, so the sample shows a traced outgoing call with nothing else running.
pub fn downstream_url(port: u16) -> Uri {
    downstream_url_from(std::env::var_os("DOWNSTREAM_URL").as_deref(), port)
}

fn downstream_url_from(value: Option<&OsStr>, port: u16) -> Uri {
    let own = || {
        Uri::try_from(format!("http://127.0.0.1:{port}/"))
            .expect("a loopback URL with a port number is a valid URI")
    };
    let Some(value) = value else {
        return own();
    };
    match value.to_str().map(|text| text.trim().parse::<Uri>()) {
        Some(Ok(url)) if url.scheme_str() == Some("http") && url.host().is_some() => url,
        _ => {
            let fallback = own();
            tracing::warn!(
                "DOWNSTREAM_URL={} is not an http:// URL; calling {fallback}",
                value.to_string_lossy()
            );
            fallback
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

    #[test]
    fn the_downstream_is_the_service_itself_unless_set() {
        assert_eq!(downstream_url_from(None, 9090), "http://127.0.0.1:9090/");
        assert_eq!(
            downstream_url_from(Some(OsStr::new("http://backend:8081/users")), 9090),
            "http://backend:8081/users"
        );
        for bad in ["", "backend:8081", "https://backend/", "not a url"] {
            assert_eq!(
                downstream_url_from(Some(OsStr::new(bad)), 8080),
                "http://127.0.0.1:8080/",
                "{bad:?}"
            );
        }
    }
}
