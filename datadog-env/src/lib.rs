//! What Datadog's SDKs read from the environment, read the same way by the tracer, the log layer
//! and the DogStatsD client, so a span, a log line and a metric of one process always agree.
//!
//! ```
//! use datadog_env::ServiceIdentity;
//!
//! let vars = [("K_SERVICE", "checkout"), ("DD_ENV", "prod")];
//! let identity = ServiceIdentity::from_lookup(|name| {
//!     vars.iter().find(|(key, _)| *key == name).map(|(_, value)| value.to_string())
//! });
//! assert_eq!(identity.service, "checkout"); // Cloud Run's service name, without DD_SERVICE
//! assert_eq!(identity.env.as_deref(), Some("prod"));
//! assert_eq!(identity.version, None);
//! ```

/// Datadog's unified service tags: `service`, `env` and `version`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceIdentity {
    /// `DD_SERVICE`; else, on Cloud Run, `K_SERVICE` (the name `serverless-init` gives the
    /// service's logs and traces); else the executable's name.
    pub service: String,
    /// `DD_ENV`, if set.
    pub env: Option<String>,
    /// `DD_VERSION`, if set.
    pub version: Option<String>,
}

impl ServiceIdentity {
    /// Reads the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup` (tests, or settings kept elsewhere). Values are trimmed;
    /// an empty value counts as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let text = |name: &str| {
            lookup(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        ServiceIdentity {
            service: text("DD_SERVICE")
                .or_else(|| text("K_SERVICE"))
                .unwrap_or_else(executable_name),
            env: text("DD_ENV"),
            version: text("DD_VERSION"),
        }
    }
}

/// The executable's file name without extension, as Datadog's tracers default the service to
/// the program's name.
pub fn executable_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|path| {
            path.file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
        })
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unnamed-rust-service".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(vars: &[(&str, &str)]) -> ServiceIdentity {
        ServiceIdentity::from_lookup(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn dd_service_wins_then_cloud_run_then_the_executable() {
        let both = identity(&[("DD_SERVICE", "web"), ("K_SERVICE", "run-web")]);
        assert_eq!(both.service, "web");
        assert_eq!(identity(&[("K_SERVICE", " run-web ")]).service, "run-web");
        let bare = identity(&[("DD_SERVICE", "  ")]);
        assert_eq!(bare.service, executable_name());
        assert!(!bare.service.is_empty());
    }

    #[test]
    fn env_and_version_are_optional() {
        let set = identity(&[("DD_ENV", "prod"), ("DD_VERSION", "1.2")]);
        assert_eq!(set.env.as_deref(), Some("prod"));
        assert_eq!(set.version.as_deref(), Some("1.2"));
        let unset = identity(&[("DD_ENV", "")]);
        assert_eq!((unset.env, unset.version), (None, None));
    }
}
