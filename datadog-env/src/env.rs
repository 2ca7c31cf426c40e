//! [`Env`]: the one reader of the environment, with Datadog's vocabulary for every kind of value
//! and the OpenTelemetry variables Datadog's SDKs honour (Datadog's win when both are set).

use std::str::FromStr;

use crate::diagnostics::{DiagnosticLevel, warn_invalid};

/// Reads settings from the process environment or any other source (tests, files).
///
/// Values are trimmed; an empty value counts as unset. A value that does not parse warns once
/// (naming the variable, the value and the fallback) and counts as unset.
///
/// ```
/// use datadog_env::Env;
///
/// let vars = [("DD_TRACE_ENABLED", "FALSE"), ("OTEL_TRACES_SAMPLER", "traceidratio"),
///             ("OTEL_TRACES_SAMPLER_ARG", "0.25")];
/// let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
/// let env = Env::new(&lookup);
/// assert!(!env.trace_enabled());
/// assert_eq!(env.sample_rate(), Some(0.25));
/// assert_eq!(env.boolean("DD_TRACE_STARTUP_LOGS"), None);
/// ```
#[derive(Clone, Copy)]
pub struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env").finish_non_exhaustive()
    }
}

fn process_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

static PROCESS: fn(&str) -> Option<String> = process_lookup;

impl<'a> Env<'a> {
    /// Reads through `lookup`.
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Env { lookup }
    }

    /// Reads the process environment.
    pub fn process() -> Env<'static> {
        Env { lookup: &PROCESS }
    }

    /// The value as set, untrimmed (`None` when unset).
    pub fn raw(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    /// The trimmed value; `None` when unset or empty.
    pub fn text(&self, name: &str) -> Option<String> {
        self.raw(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// A boolean in Datadog's vocabulary: `true`/`1` or `false`/`0`, case-insensitive. Anything
    /// else warns once and reads as unset (the caller keeps its default).
    pub fn boolean(&self, name: &str) -> Option<bool> {
        let value = self.text(name)?;
        let parsed = parse_bool(&value);
        if parsed.is_none() {
            warn_invalid(name, &value, "is not true/false/1/0", "the default");
        }
        parsed
    }

    /// A boolean with its default.
    pub fn flag(&self, name: &str, default: bool) -> bool {
        self.boolean(name).unwrap_or(default)
    }

    /// A value of type `T` that `valid` accepts; anything else warns once (`expected` says what
    /// was expected, `fallback` what is used instead) and reads as unset.
    pub fn parse<T: FromStr>(
        &self,
        name: &str,
        valid: impl Fn(&T) -> bool,
        expected: &str,
        fallback: &str,
    ) -> Option<T> {
        let value = self.text(name)?;
        let parsed = value.parse::<T>().ok().filter(|parsed| valid(parsed));
        if parsed.is_none() {
            warn_invalid(name, &value, &format!("is not {expected}"), fallback);
        }
        parsed
    }

    /// Whether the process runs on Cloud Run (`K_SERVICE` is set).
    pub fn on_cloud_run(&self) -> bool {
        self.text("K_SERVICE").is_some()
    }

    /// Whether traces are exported: `DD_TRACE_ENABLED`, else `false` when
    /// `OTEL_TRACES_EXPORTER=none` or `OTEL_SDK_DISABLED=true`.
    pub fn trace_enabled(&self) -> bool {
        if let Some(enabled) = self.boolean("DD_TRACE_ENABLED") {
            return enabled;
        }
        if let Some(exporter) = self.text("OTEL_TRACES_EXPORTER") {
            if exporter.eq_ignore_ascii_case("none") {
                return false;
            }
            warn_invalid(
                "OTEL_TRACES_EXPORTER",
                &exporter,
                "is not supported (only `none`; traces go to the Datadog Agent)",
                "the Datadog exporter",
            );
        }
        !self.otel_sdk_disabled()
    }

    /// Whether runtime metrics are sent: `DD_RUNTIME_METRICS_ENABLED`, else `false` when
    /// `OTEL_METRICS_EXPORTER=none` or `OTEL_SDK_DISABLED=true`, else `default`.
    pub fn runtime_metrics_enabled(&self, default: bool) -> bool {
        if let Some(enabled) = self.boolean("DD_RUNTIME_METRICS_ENABLED") {
            return enabled;
        }
        if let Some(exporter) = self.text("OTEL_METRICS_EXPORTER") {
            if exporter.eq_ignore_ascii_case("none") {
                return false;
            }
            warn_invalid(
                "OTEL_METRICS_EXPORTER",
                &exporter,
                "is not supported (only `none`; metrics go to DogStatsD)",
                "DogStatsD",
            );
        }
        default && !self.otel_sdk_disabled()
    }

    fn otel_sdk_disabled(&self) -> bool {
        self.boolean("OTEL_SDK_DISABLED").unwrap_or(false)
    }

    /// The catch-all trace sample rate: `DD_TRACE_SAMPLE_RATE`, else the `OTEL_TRACES_SAMPLER`
    /// mapping (`always_on` 1, `always_off` 0, `traceidratio` `OTEL_TRACES_SAMPLER_ARG`, each
    /// also `parentbased_`).
    pub fn sample_rate(&self) -> Option<f64> {
        let in_range = |rate: &f64| (0.0..=1.0).contains(rate);
        if self.text("DD_TRACE_SAMPLE_RATE").is_some() {
            return self.parse(
                "DD_TRACE_SAMPLE_RATE",
                in_range,
                "a number between 0 and 1",
                "no catch-all rate",
            );
        }
        let sampler = self.text("OTEL_TRACES_SAMPLER")?.to_ascii_lowercase();
        let sampler = sampler.strip_prefix("parentbased_").unwrap_or(&sampler);
        match sampler {
            "always_on" => Some(1.0),
            "always_off" => Some(0.0),
            "traceidratio" => Some(
                self.parse(
                    "OTEL_TRACES_SAMPLER_ARG",
                    in_range,
                    "a ratio between 0 and 1",
                    "1.0",
                )
                .unwrap_or(1.0),
            ),
            _ => {
                warn_invalid(
                    "OTEL_TRACES_SAMPLER",
                    sampler,
                    "is not always_on, always_off or traceidratio (optionally parentbased_)",
                    "Datadog's default sampling",
                );
                None
            }
        }
    }

    /// How much of the crates' own diagnostics is printed: `DD_TRACE_DEBUG=true` means debug;
    /// else `DD_LOG_LEVEL`, else `OTEL_LOG_LEVEL`; default warn.
    pub fn diagnostic_level(&self) -> DiagnosticLevel {
        if self.boolean("DD_TRACE_DEBUG") == Some(true) {
            return DiagnosticLevel::Debug;
        }
        for name in ["DD_LOG_LEVEL", "OTEL_LOG_LEVEL"] {
            if let Some(value) = self.text(name) {
                match DiagnosticLevel::parse(&value) {
                    Some(level) => return level,
                    None => warn_invalid(
                        name,
                        &value,
                        "is not debug, info, warn, error or off",
                        "warn",
                    ),
                }
            }
        }
        DiagnosticLevel::Warn
    }

    /// Whether the startup report is printed: `DD_TRACE_STARTUP_LOGS`, else at debug level.
    pub fn startup_logs(&self) -> bool {
        self.boolean("DD_TRACE_STARTUP_LOGS")
            .unwrap_or_else(|| self.diagnostic_level() == DiagnosticLevel::Debug)
    }
}

/// Whether `host` can name a peer: an IPv6 address (with or without brackets), or a host name or
/// IPv4 address (letters, digits, `-`, `_` and `.`, 1 to 253 bytes).
///
/// ```
/// use datadog_env::is_host;
///
/// assert!(is_host("agent.internal") && is_host("127.0.0.1") && is_host("[::1]"));
/// assert!(!is_host("") && !is_host("not a host") && !is_host("user@host"));
/// ```
pub fn is_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::Ipv6Addr>().is_ok() {
        return true;
    }
    !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
}

/// Datadog's boolean words: `true`/`1`, `false`/`0`, case-insensitive.
pub fn parse_bool(text: &str) -> Option<bool> {
    let text = text.trim();
    if text == "1" || text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text == "0" || text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<R>(vars: &[(&str, &str)], read: impl FnOnce(Env<'_>) -> R) -> R {
        let lookup = |name: &str| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        };
        read(Env::new(&lookup))
    }

    #[test]
    fn booleans_speak_datadogs_words_only() {
        for (text, expected) in [
            ("true", Some(true)),
            ("TRUE", Some(true)),
            (" 1 ", Some(true)),
            ("False", Some(false)),
            ("0", Some(false)),
            ("yes", None),
            ("on", None),
            ("2", None),
        ] {
            assert_eq!(
                with(&[("X", text)], |env| env.boolean("X")),
                expected,
                "{text}"
            );
        }
        assert!(with(&[("X", "yes")], |env| env.flag("X", true)));
        assert!(!with(&[], |env| env.flag("X", false)));
    }

    #[test]
    fn datadog_variables_win_over_opentelemetry() {
        let vars = [
            ("DD_TRACE_ENABLED", "true"),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("DD_TRACE_SAMPLE_RATE", "0.5"),
            ("OTEL_TRACES_SAMPLER", "always_off"),
        ];
        with(&vars, |env| {
            assert!(env.trace_enabled());
            assert_eq!(env.sample_rate(), Some(0.5));
        });
    }

    #[test]
    fn opentelemetry_switches_and_samplers() {
        with(&[("OTEL_TRACES_EXPORTER", "none")], |env| {
            assert!(!env.trace_enabled());
        });
        with(&[("OTEL_SDK_DISABLED", "true")], |env| {
            assert!(!env.trace_enabled());
            assert!(!env.runtime_metrics_enabled(true));
        });
        with(&[("OTEL_TRACES_EXPORTER", "otlp")], |env| {
            assert!(env.trace_enabled());
        });
        with(&[("OTEL_METRICS_EXPORTER", "none")], |env| {
            assert!(!env.runtime_metrics_enabled(true));
        });
        with(
            &[
                ("DD_RUNTIME_METRICS_ENABLED", "1"),
                ("OTEL_METRICS_EXPORTER", "none"),
            ],
            |env| {
                assert!(env.runtime_metrics_enabled(false));
            },
        );
        for (sampler, arg, rate) in [
            ("always_on", None, Some(1.0)),
            ("parentbased_always_off", None, Some(0.0)),
            ("parentbased_traceidratio", Some("0.1"), Some(0.1)),
            ("traceidratio", Some("7"), Some(1.0)),
            ("jaeger_remote", None, None),
        ] {
            let mut vars = vec![("OTEL_TRACES_SAMPLER", sampler)];
            vars.extend(arg.map(|arg| ("OTEL_TRACES_SAMPLER_ARG", arg)));
            assert_eq!(with(&vars, |env| env.sample_rate()), rate, "{sampler}");
        }
        assert_eq!(
            with(&[("DD_TRACE_SAMPLE_RATE", "1.5")], |env| env.sample_rate()),
            None
        );
    }

    #[test]
    fn diagnostic_levels() {
        let level = |vars: &[(&str, &str)]| with(vars, |env| env.diagnostic_level());
        assert_eq!(level(&[]), DiagnosticLevel::Warn);
        assert_eq!(
            level(&[("OTEL_LOG_LEVEL", "error")]),
            DiagnosticLevel::Error
        );
        assert_eq!(
            level(&[("DD_LOG_LEVEL", "info"), ("OTEL_LOG_LEVEL", "error")]),
            DiagnosticLevel::Info
        );
        assert_eq!(
            level(&[("DD_TRACE_DEBUG", "true"), ("DD_LOG_LEVEL", "error")]),
            DiagnosticLevel::Debug
        );
        assert!(with(&[("DD_TRACE_DEBUG", "1")], |env| env.startup_logs()));
        assert!(with(&[("DD_TRACE_STARTUP_LOGS", "true")], |env| env
            .startup_logs()));
        assert!(!with(&[], |env| env.startup_logs()));
    }
}
