#![doc = include_str!("../README.md")]

mod diagnostics;
mod env;
mod redact;

pub use diagnostics::{
    DiagnosticLevel, diagnostic_level, report, report_with, startup_report, warn, warn_invalid,
    warn_once,
};
pub use env::{Env, is_host, parse_bool};
pub use redact::{redact_urls, redact_value};

/// Datadog's unified service tags and the process-wide tags.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceIdentity {
    /// `DD_SERVICE`; else `OTEL_SERVICE_NAME`; else `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES`; else, on Cloud Run, `K_SERVICE` (the name `serverless-init`
    /// gives the service's logs); else the executable's name.
    pub service: String,
    /// `DD_ENV`; else `deployment.environment.name` or `deployment.environment` in
    /// `OTEL_RESOURCE_ATTRIBUTES`.
    pub env: Option<String>,
    /// `DD_VERSION`; else `service.version` in `OTEL_RESOURCE_ATTRIBUTES`.
    pub version: Option<String>,
    /// The other `OTEL_RESOURCE_ATTRIBUTES`, then `DD_TAGS` (which wins for a key in both), as
    /// `(key, value)`; a bare `DD_TAGS` entry has an empty value.
    pub tags: Vec<(String, String)>,
}

impl ServiceIdentity {
    /// Reads the process environment.
    pub fn from_env() -> Self {
        Self::read(Env::process())
    }

    /// Reads variables through `lookup` (tests, or settings kept elsewhere).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        Self::read(Env::new(&lookup))
    }

    /// Reads through `env`.
    pub fn read(env: Env<'_>) -> Self {
        let resource = env
            .text("OTEL_RESOURCE_ATTRIBUTES")
            .map(|text| parse_resource_attributes(&text))
            .unwrap_or_default();
        let attribute = |key: &str| {
            resource
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, value)| value.clone())
        };
        let service = env
            .text("DD_SERVICE")
            .or_else(|| env.text("OTEL_SERVICE_NAME"))
            .or_else(|| attribute("service.name"))
            .or_else(|| env.text("K_SERVICE"))
            .unwrap_or_else(executable_name);
        let environment = env
            .text("DD_ENV")
            .or_else(|| attribute("deployment.environment.name"))
            .or_else(|| attribute("deployment.environment"));
        let version = env
            .text("DD_VERSION")
            .or_else(|| attribute("service.version"));
        let mut tags: Vec<(String, String)> = resource
            .into_iter()
            .filter(|(key, _)| {
                ![
                    "service.name",
                    "service.version",
                    "deployment.environment",
                    "deployment.environment.name",
                ]
                .contains(&key.as_str())
            })
            .collect();
        if let Some(text) = env.text("DD_TAGS").or_else(|| env.text("DATADOG_TAGS")) {
            for (key, value) in parse_tags(&text) {
                tags.retain(|(known, _)| *known != key);
                tags.push((key, value));
            }
        }
        ServiceIdentity {
            service,
            env: environment,
            version,
            tags,
        }
    }
}

/// `DD_TAGS` as the Agent reads it: entries separated by commas and/or spaces, each `key:value`
/// (split at the first `:`) or a bare `key` (empty value); empty keys are dropped.
///
/// ```
/// use datadog_env::parse_tags;
///
/// let tags = parse_tags("team:a, region:eu-1 bare,url:http://x");
/// assert_eq!(tags[0], ("team".to_owned(), "a".to_owned()));
/// assert_eq!(tags[2], ("bare".to_owned(), String::new()));
/// assert_eq!(tags[3], ("url".to_owned(), "http://x".to_owned()));
/// ```
pub fn parse_tags(text: &str) -> Vec<(String, String)> {
    text.split([',', ' ', '\t'])
        .filter(|entry| !entry.is_empty())
        .filter_map(|entry| {
            let (key, value) = entry.split_once(':').unwrap_or((entry, ""));
            (!key.is_empty()).then(|| (key.to_owned(), value.to_owned()))
        })
        .collect()
}

/// `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs separated by commas (values may be
/// percent-encoded, as the OpenTelemetry specification allows).
fn parse_resource_attributes(text: &str) -> Vec<(String, String)> {
    text.split(',')
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            let (key, value) = (key.trim(), percent_decode(value.trim()));
            (!key.is_empty() && !value.is_empty()).then(|| (key.to_owned(), value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| text.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if let Some(byte) = escaped {
            out.push(byte);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
    fn the_service_comes_from_datadog_then_opentelemetry_then_cloud_run_then_the_executable() {
        let all = [
            ("DD_SERVICE", "dd"),
            ("OTEL_SERVICE_NAME", "otel"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=resource"),
            ("K_SERVICE", "run"),
        ];
        for (skip, expected) in ["dd", "otel", "resource", "run"].into_iter().enumerate() {
            assert_eq!(identity(&all[skip..]).service, expected);
        }
        assert_eq!(identity(&[("DD_SERVICE", "  ")]).service, executable_name());
    }

    #[test]
    fn env_version_and_tags_from_both_vocabularies() {
        let otel = identity(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=prod, service.version=2.0,team=a%2Cb,deployment.environment=old,bad,=x",
        )]);
        assert_eq!(otel.env.as_deref(), Some("prod"));
        assert_eq!(otel.version.as_deref(), Some("2.0"));
        assert_eq!(otel.tags, [("team".to_owned(), "a,b".to_owned())]);

        let both = identity(&[
            ("DD_ENV", "staging"),
            ("DD_VERSION", "3"),
            ("DD_TAGS", "team:z region:eu"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=prod,team=a,host.arch=x86",
            ),
        ]);
        assert_eq!(both.env.as_deref(), Some("staging"));
        assert_eq!(both.version.as_deref(), Some("3"));
        let tags: Vec<String> = both.tags.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        assert_eq!(tags, ["host.arch:x86", "team:z", "region:eu"]);
    }

    #[test]
    fn dd_tags_in_both_spellings_read_alike() {
        let commas = identity(&[("DD_TAGS", "a:1,b:2")]).tags;
        let spaces = identity(&[("DD_TAGS", " a:1  b:2 ")]).tags;
        let mixed = identity(&[("DD_TAGS", "a:1, b:2")]).tags;
        assert_eq!(commas, spaces);
        assert_eq!(commas, mixed);
        assert_eq!(identity(&[("DATADOG_TAGS", "a:1")]).tags.len(), 1);
    }
}
