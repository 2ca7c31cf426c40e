//! Secrets never printed and bad addresses refused loudly: credentials and query strings in the
//! address variables never reach stdout or stderr, nor does `DD_API_KEY`; an invalid port, host
//! or scheme gets one warning naming the variable and the address used instead, and that
//! fallback works.

mod examples_support;

use std::time::Duration;

use datadog_e2e_tests::fake_agent::{Behaviour, FakeAgent};
use datadog_e2e_tests::fault_app::{FaultApp, StdoutMode, load};
use examples_support::example_binary;

const SECRETS: [&str; 5] = [
    "s3cret-trace-pass",
    "k3y-in-trace-query",
    "s3cret-dsd-pass",
    "k3y-in-dsd-query",
    "dd-api-key-s3cret",
];

#[test]
fn credentials_in_urls_and_the_api_key_never_appear() {
    let agent = FakeAgent::start(Behaviour::Accept);
    let mut app = FaultApp::start(
        &example_binary("sidecar"),
        &[
            (
                "DD_TRACE_AGENT_URL",
                format!(
                    "http://trace-user:{}@127.0.0.1:{}/?api_key={}",
                    SECRETS[0],
                    agent.port(),
                    SECRETS[1]
                ),
            ),
            (
                "DD_DOGSTATSD_URL",
                format!(
                    "udp://dsd-user:{}@127.0.0.1:8125?key={}",
                    SECRETS[2], SECRETS[3]
                ),
            ),
            ("DD_API_KEY", SECRETS[4].into()),
            ("DD_SERVICE", "faults-secrets".into()),
            (
                "DD_SERVERLESS_LOG_PATH",
                format!(
                    "{}/faults-secrets-{}/*.log",
                    std::env::temp_dir().display(),
                    std::process::id()
                ),
            ),
        ],
        StdoutMode::Read,
    );
    assert!(load(app.port(), 2, 20, Duration::from_secs(10), &[]) >= 20);
    app.terminate();
    let stdout = app.stdout();
    let stderr = app.stderr();
    for line in stdout.iter().chain(&stderr) {
        for secret in SECRETS {
            assert!(!line.contains(secret), "{secret} printed: {line}");
        }
    }
    // Warnings come on the one diagnostics channel (JSON lines on stderr).
    let diagnostics = app.diagnostics();
    let trace_warnings: Vec<_> = diagnostics
        .iter()
        .filter(|line| line.contains("DD_TRACE_AGENT_URL"))
        .collect();
    assert_eq!(trace_warnings.len(), 1, "{stderr:#?}");
    assert!(
        trace_warnings[0].contains("http://REDACTED@127.0.0.1")
            && trace_warnings[0].contains("?REDACTED")
            && trace_warnings[0].contains("user info")
            && trace_warnings[0].contains("using http://127.0.0.1:8126"),
        "{}",
        trace_warnings[0]
    );
    let statsd_warnings: Vec<_> = diagnostics
        .iter()
        .filter(|line| line.contains("DD_DOGSTATSD_URL"))
        .collect();
    assert_eq!(statsd_warnings.len(), 1, "{stderr:#?}");
    assert!(
        statsd_warnings[0].contains("user info"),
        "{}",
        statsd_warnings[0]
    );
    let _ = std::fs::remove_dir_all(
        std::env::temp_dir().join(format!("faults-secrets-{}", std::process::id())),
    );
}

#[test]
fn an_invalid_agent_port_warns_once_and_the_fallback_delivers() {
    let agent = FakeAgent::start(Behaviour::Accept);
    let mut app = FaultApp::start(
        &example_binary("in-container"),
        &[
            ("DD_TRACE_AGENT_URL", "http://127.0.0.1:99999".into()),
            // The fallback the warning names: where the Agent really is.
            ("DD_AGENT_HOST", "127.0.0.1".into()),
            ("DD_TRACE_AGENT_PORT", agent.port().to_string()),
            ("DD_SERVICE", "faults-invalid".into()),
        ],
        StdoutMode::Read,
    );
    let answered = load(app.port(), 1, 5, Duration::from_secs(10), &[]);
    let received = agent.wait_for(Duration::from_secs(10), |received| {
        received.span_ids.len() >= answered
    });
    app.terminate();
    let warnings: Vec<_> = app
        .diagnostics()
        .into_iter()
        .filter(|line| line.contains("DD_TRACE_AGENT_URL"))
        .collect();
    eprintln!(
        "{warnings:?}; {} spans delivered to the fallback",
        received.span_ids.len()
    );
    assert_eq!(warnings.len(), 1, "{:#?}", app.stderr());
    assert!(
        warnings[0].contains("\"99999\"")
            && warnings[0].contains(&format!("using http://127.0.0.1:{}", agent.port())),
        "{}",
        warnings[0]
    );
    assert_eq!(received.span_ids.len(), answered, "every trace delivered");
}

#[test]
fn an_invalid_dogstatsd_port_warns_once_naming_the_fallback() {
    let agent = FakeAgent::start(Behaviour::Accept);
    let mut app = FaultApp::start(
        &example_binary("sidecar"),
        &[
            ("DD_DOGSTATSD_PORT", "99999".into()),
            ("DD_AGENT_HOST", "not a host".into()),
            ("DD_TRACE_AGENT_URL", agent.url()),
            (
                "DD_SERVERLESS_LOG_PATH",
                format!(
                    "{}/faults-invalid-dsd-{}/*.log",
                    std::env::temp_dir().display(),
                    std::process::id()
                ),
            ),
        ],
        StdoutMode::Read,
    );
    app.terminate();
    let diagnostics = app.diagnostics();
    let port_warnings: Vec<_> = diagnostics
        .iter()
        .filter(|line| line.contains("DD_DOGSTATSD_PORT"))
        .collect();
    assert_eq!(port_warnings.len(), 1, "{diagnostics:#?}");
    assert!(
        port_warnings[0].contains("using 8125"),
        "{}",
        port_warnings[0]
    );
    // DogStatsD reads DD_AGENT_HOST (the tracer does not, its URL being valid): one warning.
    let host_warnings: Vec<_> = diagnostics
        .iter()
        .filter(|line| line.contains("DD_AGENT_HOST") && line.contains("127.0.0.1"))
        .collect();
    assert_eq!(host_warnings.len(), 1, "{diagnostics:#?}");
    let _ = std::fs::remove_dir_all(
        std::env::temp_dir().join(format!("faults-invalid-dsd-{}", std::process::id())),
    );
}
