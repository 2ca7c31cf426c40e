//! The one channel for the crates' own diagnostics: warnings about bad settings or unreachable
//! peers, and the startup report. Each is one JSON line on stderr with `status` and `severity`,
//! so Datadog (which reads the JSON status even on stderr, where `serverless-init` would mark a
//! plain line as an error) and Cloud Logging both show a warning as a warning, whether or not the
//! JSON log layer is installed. Diagnostics never go through `tracing`: the tracer is a
//! subscriber, and a warning about its own settings must not re-enter it or be filtered out by
//! the very filter it warns about.

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

use crate::Env;

/// How much of the crates' own diagnostics is printed (`DD_LOG_LEVEL`, `OTEL_LOG_LEVEL`,
/// `DD_TRACE_DEBUG`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DiagnosticLevel {
    /// Everything, the startup report included.
    Debug,
    /// The startup report when asked for, and warnings.
    Info,
    /// Warnings and errors (the default).
    Warn,
    /// Errors only.
    Error,
    /// Nothing.
    Off,
}

impl DiagnosticLevel {
    /// Parses `debug`, `info`, `warn`/`warning`, `error`, `off`/`none`, case-insensitively.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "debug" | "trace" => Some(DiagnosticLevel::Debug),
            "info" => Some(DiagnosticLevel::Info),
            "warn" | "warning" => Some(DiagnosticLevel::Warn),
            "error" | "critical" => Some(DiagnosticLevel::Error),
            "off" | "none" => Some(DiagnosticLevel::Off),
            _ => None,
        }
    }

    fn status(self) -> (&'static str, &'static str) {
        match self {
            DiagnosticLevel::Debug => ("debug", "DEBUG"),
            DiagnosticLevel::Info => ("info", "INFO"),
            DiagnosticLevel::Warn => ("warn", "WARNING"),
            DiagnosticLevel::Error | DiagnosticLevel::Off => ("error", "ERROR"),
        }
    }
}

/// The process's diagnostic level, read once from the process environment.
pub fn diagnostic_level() -> DiagnosticLevel {
    static LEVEL: OnceLock<DiagnosticLevel> = OnceLock::new();
    *LEVEL.get_or_init(|| Env::process().diagnostic_level())
}

/// Prints one diagnostic line at `level` (if the process's level lets it through).
pub fn report(level: DiagnosticLevel, message: &str) {
    report_with(level, message, &[]);
}

/// Like [`report`], with extra JSON fields (the startup report's configuration).
pub fn report_with(level: DiagnosticLevel, message: &str, fields: &[(&str, serde_json::Value)]) {
    if level >= diagnostic_level() {
        print_line(level, message, fields);
    }
}

fn print_line(level: DiagnosticLevel, message: &str, fields: &[(&str, serde_json::Value)]) {
    let (status, severity) = level.status();
    let mut line = serde_json::Map::new();
    line.insert("status".into(), status.into());
    line.insert("severity".into(), severity.into());
    line.insert("logger.name".into(), "datadog".into());
    line.insert("message".into(), crate::redact_urls(message).into());
    for (key, value) in fields {
        line.insert((*key).to_owned(), value.clone());
    }
    let mut text = serde_json::Value::Object(line).to_string();
    text.push('\n');
    // One write per line, so concurrent diagnostics never interleave.
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Prints the startup report (`DATADOG TRACER CONFIGURATION`, with the effective settings as
/// fields, at info status) when `DD_TRACE_STARTUP_LOGS` asks for it or the level is debug; never
/// when diagnostics are off.
pub fn startup_report(fields: &[(&str, serde_json::Value)]) {
    let env = Env::process();
    if env.startup_logs() && diagnostic_level() < DiagnosticLevel::Off {
        print_line(
            DiagnosticLevel::Info,
            "DATADOG TRACER CONFIGURATION",
            fields,
        );
    }
}

/// Prints a warning.
pub fn warn(message: &str) {
    report(DiagnosticLevel::Warn, message);
}

/// Prints a warning the first time `key` is seen in this process (at most 1024 distinct keys are
/// remembered; past that, nothing more is printed rather than flooding).
pub fn warn_once(key: &str, message: impl FnOnce() -> String) {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let first = SEEN
        .get_or_init(Mutex::default)
        .lock()
        .is_ok_and(|mut seen| seen.len() < 1024 && seen.insert(key.to_owned()));
    if first {
        warn(&message());
    }
}

/// Warns once about a bad value of `variable`: names the variable, the value (secrets redacted)
/// and what is used instead.
pub fn warn_invalid(variable: &str, value: &str, problem: &str, fallback: &str) {
    let shown = crate::redact_value(variable, value);
    warn_once(&format!("{variable}={shown}"), || {
        format!("{variable}={shown:?} {problem}; using {fallback}")
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_and_order() {
        assert_eq!(
            DiagnosticLevel::parse("WARNING"),
            Some(DiagnosticLevel::Warn)
        );
        assert_eq!(
            DiagnosticLevel::parse(" debug "),
            Some(DiagnosticLevel::Debug)
        );
        assert_eq!(DiagnosticLevel::parse("loud"), None);
        assert!(DiagnosticLevel::Debug < DiagnosticLevel::Warn);
        assert!(DiagnosticLevel::Error < DiagnosticLevel::Off);
    }
}
