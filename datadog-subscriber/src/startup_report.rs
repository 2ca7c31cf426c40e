//! The startup report: one line with the effective configuration, printed by [`crate::init`] when
//! `DD_TRACE_STARTUP_LOGS=true` or at debug level (`DD_TRACE_DEBUG`, `DD_LOG_LEVEL=debug`), as
//! Datadog's tracers print theirs. Secrets never appear: the Agent URL is printed without user
//! information or query string, and no key is read.

use serde_json::{Value, json};

use crate::logs::{Destination, LogConfig};
use crate::tracer::{AgentAddress, TracerConfig};

/// Prints the report if asked for.
pub(crate) fn print(tracer: &TracerConfig, logs: &LogConfig) {
    datadog_env::startup_report(&fields(tracer, logs));
}

fn fields(tracer: &TracerConfig, logs: &LogConfig) -> Vec<(&'static str, Value)> {
    let env = datadog_env::Env::process();
    let agent_url = match &tracer.agent {
        AgentAddress::Http { authority } => format!("http://{authority}"),
        AgentAddress::Unix(path) => format!("unix://{}", path.display()),
    };
    let styles = |specific: &str| {
        [specific, "DD_TRACE_PROPAGATION_STYLE", "OTEL_PROPAGATORS"]
            .iter()
            .find_map(|name| env.text(name))
            .unwrap_or_else(|| "datadog,tracecontext,baggage".to_owned())
    };
    let dogstatsd = env.text("DD_DOGSTATSD_URL").unwrap_or_else(|| {
        let host = env
            .text("DD_DOGSTATSD_HOST")
            .or_else(|| env.text("DD_AGENT_HOST"))
            .unwrap_or_else(|| "127.0.0.1".to_owned());
        let port = env
            .text("DD_DOGSTATSD_PORT")
            .unwrap_or_else(|| "8125".to_owned());
        format!("udp://{host}:{port}")
    });
    let destination = match &logs.destination {
        Destination::Stdout => "stdout".to_owned(),
        Destination::File(path) => path.display().to_string(),
        Destination::Both(path) => format!("stdout and {}", path.display()),
    };
    let tags: Vec<String> = tracer
        .tags
        .iter()
        .map(|(key, value)| format!("{key}:{value}"))
        .collect();
    vec![
        ("lang", json!("rust")),
        ("tracer_version", json!(env!("CARGO_PKG_VERSION"))),
        ("service", json!(tracer.service)),
        ("env", json!(tracer.env)),
        ("dd_version", json!(tracer.version)),
        ("tags", json!(tags)),
        ("enabled", json!(tracer.enabled)),
        ("agent_url", json!(datadog_env::redact_urls(&agent_url))),
        (
            "agent_timeout_seconds",
            json!(tracer.request_timeout.as_secs_f64()),
        ),
        ("sample_rate", json!(tracer.sample_rate)),
        ("sampling_rules", json!(tracer.sampling_rules.len())),
        (
            "span_sampling_rules",
            json!(tracer.span_sampling_rules.len()),
        ),
        ("rate_limit", json!(tracer.rate_limit)),
        (
            "partial_flush_min_spans",
            json!(
                (tracer.partial_flush_min_spans != usize::MAX)
                    .then_some(tracer.partial_flush_min_spans)
            ),
        ),
        ("send_when_idle", json!(tracer.send_when_idle)),
        (
            "propagation_style_extract",
            json!(styles("DD_TRACE_PROPAGATION_STYLE_EXTRACT")),
        ),
        (
            "propagation_style_inject",
            json!(styles("DD_TRACE_PROPAGATION_STYLE_INJECT")),
        ),
        ("log_injection_enabled", json!(logs.injection)),
        ("log_destination", json!(destination)),
        ("gcp_project", json!(logs.gcp_project)),
        (
            "dogstatsd_url",
            json!(datadog_env::redact_value("DD_DOGSTATSD_URL", &dogstatsd)),
        ),
        (
            "diagnostic_level",
            json!(format!("{:?}", datadog_env::diagnostic_level()).to_ascii_lowercase()),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_names_the_effective_settings_without_secrets() {
        let tracer = TracerConfig::from_lookup(|name| match name {
            "DD_SERVICE" => Some("checkout".into()),
            "DD_TRACE_AGENT_URL" => Some("http://user:secret@agent:8126".into()),
            "DD_TRACE_PARTIAL_FLUSH_ENABLED" => Some("false".into()),
            _ => None,
        });
        let logs = LogConfig::default();
        let fields = fields(&tracer, &logs);
        let field = |key: &str| {
            fields
                .iter()
                .find(|(name, _)| *name == key)
                .map(|(_, value)| value.clone())
                .unwrap()
        };
        assert_eq!(field("service"), "checkout");
        assert_eq!(field("enabled"), true);
        assert_eq!(field("partial_flush_min_spans"), Value::Null);
        assert_eq!(field("log_destination"), "stdout");
        let text = serde_json::to_string(&fields.iter().map(|(k, v)| (*k, v)).collect::<Vec<_>>())
            .unwrap();
        assert!(!text.contains("secret"), "{text}");
    }
}
