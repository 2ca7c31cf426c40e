//! Which gRPC status codes flag server and client spans as errors.

use super::GrpcCodes;
use crate::config::warn_once;

/// The gRPC settings of the server and client layers, read from the same variables as Datadog's
/// Java and Node.js tracers.
///
/// | Variable | Default | Meaning |
/// |---|---|---|
/// | `DD_GRPC_SERVER_ERROR_STATUSES` | `2-16` | server spans flagged as errors (not `OK`, not `CANCELLED`) |
/// | `DD_GRPC_CLIENT_ERROR_STATUSES` | `1-16` | client spans flagged as errors (not `OK`) |
///
/// ```
/// use datadog_tower::grpc::{GrpcCodes, GrpcConfig};
///
/// let config = GrpcConfig::from_env().server_error_codes("2-4,13".parse::<GrpcCodes>().unwrap());
/// # let _ = config;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrpcConfig {
    pub(crate) server_error_codes: GrpcCodes,
    pub(crate) client_error_codes: GrpcCodes,
}

impl Default for GrpcConfig {
    /// Datadog's defaults, ignoring the environment.
    fn default() -> Self {
        GrpcConfig {
            server_error_codes: GrpcCodes::server_default(),
            client_error_codes: GrpcCodes::client_default(),
        }
    }
}

impl GrpcConfig {
    /// Reads the variables listed above; a value that does not parse warns once and keeps the
    /// default.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let codes = |name: &str, default: GrpcCodes| match lookup(name) {
            None => default,
            Some(text) => text.parse().unwrap_or_else(|error| {
                warn_once(
                    name,
                    &format!("`{text}` is invalid ({error}); using the default"),
                );
                default
            }),
        };
        let defaults = GrpcConfig::default();
        GrpcConfig {
            server_error_codes: codes("DD_GRPC_SERVER_ERROR_STATUSES", defaults.server_error_codes),
            client_error_codes: codes("DD_GRPC_CLIENT_ERROR_STATUSES", defaults.client_error_codes),
        }
    }

    /// The codes that flag server spans as errors (`DD_GRPC_SERVER_ERROR_STATUSES`).
    pub fn server_error_codes(mut self, codes: GrpcCodes) -> Self {
        self.server_error_codes = codes;
        self
    }

    /// The codes that flag client spans as errors (`DD_GRPC_CLIENT_ERROR_STATUSES`).
    pub fn client_error_codes(mut self, codes: GrpcCodes) -> Self {
        self.client_error_codes = codes;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_read_and_bad_values_keep_the_defaults() {
        let config = GrpcConfig::from_lookup(|name| match name {
            "DD_GRPC_SERVER_ERROR_STATUSES" => Some("5".into()),
            "DD_GRPC_CLIENT_ERROR_STATUSES" => Some("one".into()),
            _ => None,
        });
        assert!(config.server_error_codes.contains(5) && !config.server_error_codes.contains(2));
        assert_eq!(config.client_error_codes, GrpcCodes::client_default());
        assert_eq!(GrpcConfig::from_lookup(|_| None), GrpcConfig::default());
    }
}
