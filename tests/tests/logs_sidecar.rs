//! Sidecar mode end to end: an app using `datadog_subscriber::init()` with `DD_SERVERLESS_LOG_PATH`
//! writes the same JSON lines to `app.log` under the configured directory and to stdout, and their
//! `dd.trace_id`/`dd.span_id` are the ids of the span the test agent received.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use datadog_e2e_tests::test_agent::TestAgent;
use serde_json::{Map, Value};

fn parse_lines(text: &str) -> Vec<Map<String, Value>> {
    text.lines()
        .map(|line| match serde_json::from_str(line) {
            Ok(Value::Object(object)) => object,
            other => panic!("not a JSON object line ({other:?}): {line:?}"),
        })
        .collect()
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dd-logs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs the `logs_app` binary with `env` and returns its stdout.
fn run_app(env: &[(&str, String)]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_logs_app"));
    for key in [
        "RUST_LOG",
        "DD_SERVERLESS_LOG_PATH",
        "DD_LOGS_INJECTION",
        "DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED",
        "GOOGLE_CLOUD_PROJECT",
    ] {
        command.env_remove(key);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command
        .stdin(Stdio::null())
        .output()
        .expect("the logs_app binary runs");
    assert!(
        output.status.success(),
        "logs_app failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("stdout is UTF-8")
}

#[test]
fn sidecar_mode_writes_app_log_and_stdout_with_the_exported_ids() {
    let agent = TestAgent::start();
    agent.start_session(None);
    let dir = scratch_dir("sidecar");
    let stdout = run_app(&[
        (
            "DD_SERVERLESS_LOG_PATH",
            format!("{}/shared/logs/*.log", dir.display()),
        ),
        ("DD_TRACE_AGENT_URL", agent.url()),
        ("DD_SERVICE", "logs-e2e".into()),
        ("DD_ENV", "test".into()),
        ("DD_VERSION", "1.2.3".into()),
        ("GOOGLE_CLOUD_PROJECT", "my-project".into()),
    ]);

    // The `*.log` rule: the file is `app.log` in the configured (created) directory.
    let file = dir.join("shared/logs/app.log");
    let file_text = std::fs::read_to_string(&file)
        .unwrap_or_else(|error| panic!("{} should exist: {error}", file.display()));
    let from_file = parse_lines(&file_text);
    let from_stdout = parse_lines(&stdout);
    assert_eq!(from_file.len(), 3, "{file_text}");
    assert_eq!(
        from_file, from_stdout,
        "the same lines on both destinations"
    );

    let request_line = &from_file[0];
    assert_eq!(request_line["message"], "handled request");
    assert_eq!(request_line["status"], "info");
    assert_eq!(request_line["severity"], "INFO");
    assert_eq!(request_line["answer"], 42);
    assert_eq!(request_line["user.id"], 7);
    assert_eq!(request_line["dd.service"], "logs-e2e");
    assert_eq!(request_line["dd.env"], "test");
    assert_eq!(request_line["dd.version"], "1.2.3");
    assert_eq!(from_file[1]["detail"], "quote \" and newline \n");
    assert_eq!(from_file[1]["status"], "warn");
    assert_eq!(from_file[1]["dd.span_id"], request_line["dd.span_id"]);
    // Outside the request: no trace ids, still the service.
    assert_eq!(from_file[2]["message"], "shutting down");
    assert!(!from_file[2].contains_key("dd.trace_id"));
    assert_eq!(from_file[2]["dd.service"], "logs-e2e");

    let traces = agent.wait_for_traces(Duration::from_secs(30), |traces| {
        traces
            .iter()
            .flatten()
            .any(|span| span["name"] == "logs.e2e.request")
    });
    let span = traces
        .iter()
        .flatten()
        .find(|span| span["name"] == "logs.e2e.request")
        .unwrap();
    let low = span["trace_id"].as_u64().expect("numeric trace_id");
    let high = span["meta"]["_dd.p.tid"]
        .as_str()
        .expect("128-bit trace ids carry _dd.p.tid");
    let span_id = span["span_id"].as_u64().expect("numeric span_id");
    let expected_trace = format!("{high}{low:016x}");
    assert_eq!(request_line["dd.trace_id"], expected_trace.as_str());
    assert_eq!(request_line["dd.span_id"], span_id.to_string());
    assert_eq!(
        request_line["logging.googleapis.com/trace"],
        format!("projects/my-project/traces/{expected_trace}")
    );
    assert_eq!(
        request_line["logging.googleapis.com/spanId"],
        format!("{span_id:016x}")
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_unwritable_log_path_warns_once_and_keeps_stdout() {
    let dir = scratch_dir("unwritable");
    std::fs::create_dir_all(&dir).unwrap();
    // A regular file where the log directory should be: the file can never be created.
    let blocker = dir.join("not-a-directory");
    std::fs::write(&blocker, b"").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_logs_app"))
        .env_remove("RUST_LOG")
        .env(
            "DD_SERVERLESS_LOG_PATH",
            format!("{}/logs/*.log", blocker.display()),
        )
        .env("DD_TRACE_ENABLED", "false")
        .stdin(Stdio::null())
        .output()
        .expect("the logs_app binary runs");
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.matches("cannot open the log file").count(),
        1,
        "one warning: {stderr}"
    );
    let lines = parse_lines(&String::from_utf8(output.stdout).unwrap());
    assert_eq!(lines.len(), 3);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn injection_off_and_64_bit_logging_through_the_environment() {
    let agent = TestAgent::start();
    agent.start_session(None);
    let stdout = run_app(&[
        ("DD_TRACE_AGENT_URL", agent.url()),
        ("DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED", "false".into()),
    ]);
    let lines = parse_lines(&stdout);
    let span = agent
        .wait_for_traces(Duration::from_secs(30), |traces| !traces.is_empty())
        .into_iter()
        .flatten()
        .find(|span| span["name"] == "logs.e2e.request")
        .expect("the request span");
    assert_eq!(
        lines[0]["dd.trace_id"],
        span["trace_id"].as_u64().unwrap().to_string()
    );

    let stdout = run_app(&[
        ("DD_TRACE_ENABLED", "false".into()),
        ("DD_LOGS_INJECTION", "false".into()),
        ("DD_SERVICE", "quiet".into()),
    ]);
    for line in parse_lines(&stdout) {
        assert!(
            line.keys().all(|key| !key.starts_with("dd.")),
            "no dd.* fields: {line:?}"
        );
    }
}
