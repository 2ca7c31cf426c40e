//! Our `dd.*` correlation strings against Datadog's Python tracer: the same contexts given to
//! ddtrace's `tracer.get_log_correlation_context()` (script `tests/python/log_correlation.py`)
//! must give the same five strings as our log lines.

use std::io;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use datadog_e2e_tests::peers;
use datadog_subscriber::context::{SpanContext, SpanId, TraceId};
use datadog_subscriber::logs::LogConfig;
use datadog_subscriber::tracer::with_remote_parent;
use serde_json::{Map, Value};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

const KEYS: [&str; 5] = [
    "dd.trace_id",
    "dd.span_id",
    "dd.service",
    "dd.env",
    "dd.version",
];

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl MakeWriter<'_> for Capture {
    type Writer = Capture;
    fn make_writer(&self) -> Capture {
        self.clone()
    }
}

/// The five correlation strings of the line we write inside `(trace_id, span_id)`.
fn ours(config: LogConfig, trace_id: u128, span_id: u64) -> Map<String, Value> {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(config.build_with_writer(capture.clone()));
    let context = SpanContext::new(TraceId::from_u128(trace_id), SpanId::new(span_id));
    tracing::subscriber::with_default(subscriber, || {
        with_remote_parent(Some(Arc::new(context)), || tracing::info!("correlated"));
    });
    let line: Map<String, Value> = serde_json::from_slice(&capture.0.lock().unwrap()).unwrap();
    KEYS.iter()
        .map(|key| {
            (
                (*key).to_owned(),
                line.get(*key).cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// What ddtrace 4.16.0 returns for each `(trace_id, span_id)`.
fn ddtrace(contexts: &[(u128, u64)]) -> Vec<Map<String, Value>> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/log_correlation.py");
    let output = Command::new(peers::python())
        .arg(script)
        .args(
            contexts
                .iter()
                .map(|(trace, span)| format!("{trace}:{span}")),
        )
        .env("DD_SERVICE", "checkout")
        .env("DD_ENV", "prod")
        .env("DD_VERSION", "1.2.3")
        // Keep the Python tracer off the network: nothing here needs an Agent.
        .env("DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false")
        .env("DD_REMOTE_CONFIGURATION_ENABLED", "false")
        .env("DD_TRACE_AGENT_URL", "http://127.0.0.1:9")
        .env_remove("DD_TRACE_ENABLED")
        .stdin(Stdio::null())
        .output()
        .expect("the venv python runs");
    assert!(
        output.status.success(),
        "ddtrace script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let answers: Vec<Map<String, Value>> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(answers.len(), contexts.len(), "{stdout}");
    answers
}

fn config() -> LogConfig {
    LogConfig::default()
        .service("checkout")
        .env("prod")
        .version("1.2.3")
}

#[test]
fn correlation_strings_match_ddtrace_for_64_and_128_bit_trace_ids() {
    let contexts = [
        // A 64-bit trace id (upper half zero): decimal.
        (1_234_567_890_123_456_789_u128, 987_654_321_u64),
        (u128::from(u64::MAX), u64::MAX),
        (1, 1),
        // 128-bit ids in Datadog's layout (time prefix): 32 hex digits.
        (0x6553_a1b2_0000_0000_0123_4567_89ab_cdef, 42),
        (0x0000_0000_0000_0001_0000_0000_0000_0000, 7),
        (u128::MAX, 1 << 63),
    ];
    let expected = ddtrace(&contexts);
    for ((trace_id, span_id), theirs) in contexts.iter().zip(expected) {
        let ours = ours(config(), *trace_id, *span_id);
        assert_eq!(ours, theirs, "trace {trace_id:#x}, span {span_id}");
    }
}

#[test]
fn with_128_bit_logging_disabled_the_trace_id_is_ddtraces_64_bit_view() {
    // `DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED=false` logs the lower 64 bits in decimal: what
    // ddtrace writes for the same trace seen as a 64-bit id (the id older tracers propagate).
    let contexts = [
        (0x6553_a1b2_0000_0000_0123_4567_89ab_cdef_u128, 42_u64),
        (u128::MAX, 3),
    ];
    let lower_halves: Vec<(u128, u64)> = contexts
        .iter()
        .map(|(trace, span)| (u128::from(*trace as u64), *span))
        .collect();
    let expected = ddtrace(&lower_halves);
    for ((trace_id, span_id), theirs) in contexts.iter().zip(expected) {
        let ours = ours(config().trace_id_128_logging(false), *trace_id, *span_id);
        assert_eq!(ours, theirs, "trace {trace_id:#x}, span {span_id}");
    }
}
