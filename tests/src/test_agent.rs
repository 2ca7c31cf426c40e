//! Datadog's APM test agent (`ddapm-test-agent`), run as a child process on free loopback ports.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{free_port, peers};

/// Checks the test agent runs on every trace payload. `--enabled-checks` is broken in 1.69.1, so
/// they are passed through the `ENABLED_CHECKS` environment variable.
pub const ENABLED_CHECKS: &str =
    "trace_count_header,meta_tracer_version_header,trace_content_length";

/// How a [`TestAgent`] is started.
#[derive(Clone, Debug, Default)]
pub struct TestAgentOptions {
    /// Listen on this port instead of a free one (to start an agent where a client already points).
    pub port: Option<u16>,
    /// `--trace-request-delay` in seconds: the agent stalls every trace request.
    pub trace_request_delay: Option<f64>,
    /// Extra environment variables for the agent process.
    pub env: Vec<(String, String)>,
}

/// Whether the agent exited because a port it was given was taken meanwhile: its HTTP server
/// says `address already in use`, its OTLP gRPC server `Address already in use` and
/// `Failed to bind to address`.
fn lost_a_port_race(stderr: &str) -> bool {
    let stderr = stderr.to_ascii_lowercase();
    stderr.contains("address already in use") || stderr.contains("failed to bind to address")
}

/// A running `ddapm-test-agent`; the process is killed when this is dropped.
pub struct TestAgent {
    child: Child,
    port: u16,
    http: ureq::Agent,
}

impl TestAgent {
    /// Starts an agent on a free port and waits until `/info` answers.
    pub fn start() -> TestAgent {
        Self::start_with(&TestAgentOptions::default())
    }

    /// Starts an agent with `options` and waits until `/info` answers. A free port can be taken
    /// by a concurrent test between being picked and being bound: then it starts again on other
    /// ports (a few times; never for a port the options fixed).
    pub fn start_with(options: &TestAgentOptions) -> TestAgent {
        const ATTEMPTS: usize = 4;
        for attempt in 1..=ATTEMPTS {
            match Self::try_start(options) {
                Ok(agent) => return agent,
                Err(stderr) if attempt < ATTEMPTS && lost_a_port_race(&stderr) => {}
                Err(stderr) => panic!("ddapm-test-agent exited before answering /info:\n{stderr}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    fn try_start(options: &TestAgentOptions) -> Result<TestAgent, String> {
        let executable = peers::venv_executable("ddapm-test-agent");
        let port = options.port.unwrap_or_else(free_port);
        // The OS may hand the port it just freed out again: the agent refuses equal ports.
        let mut taken = vec![port];
        let mut distinct_port = || loop {
            let candidate = free_port();
            if !taken.contains(&candidate) {
                taken.push(candidate);
                return candidate;
            }
        };
        let (otlp_http, otlp_grpc) = (distinct_port(), distinct_port());
        let mut command = Command::new(executable);
        command
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--otlp-http-port", &otlp_http.to_string()])
            .args(["--otlp-grpc-port", &otlp_grpc.to_string()])
            .args(["--web-ui-port", "0"])
            .env("ENABLED_CHECKS", ENABLED_CHECKS)
            // Never proxy to a real agent, whatever the developer's shell has set.
            .env_remove("DD_TRACE_AGENT_URL")
            .env_remove("DD_AGENT_URL")
            .env_remove("DD_API_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(delay) = options.trace_request_delay {
            // The delay is applied by the `trace_stall` check, which only runs when enabled.
            command
                .args(["--trace-request-delay", &delay.to_string()])
                .env("ENABLED_CHECKS", format!("{ENABLED_CHECKS},trace_stall"));
        }
        for (key, value) in &options.env {
            command.env(key, value);
        }
        let child = command.spawn().expect("ddapm-test-agent should start");
        let http = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .new_agent();
        let mut agent = TestAgent { child, port, http };
        agent.wait_until_ready(Duration::from_secs(60))?;
        Ok(agent)
    }

    /// Waits for `/info`; `Err` with the agent's stderr when it exited first.
    fn wait_until_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = self.child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                return Err(format!("exit status {status}\n{stderr}"));
            }
            if matches!(self.get("/info"), Ok((200, _))) {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "ddapm-test-agent did not answer /info on port {} within {timeout:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The port the agent listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The agent's base URL, e.g. `http://127.0.0.1:41234` (what `DD_TRACE_AGENT_URL` takes).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// GETs `path` and returns the status and body.
    pub fn get(&self, path: &str) -> Result<(u16, String), ureq::Error> {
        let mut response = self.http.get(format!("{}{path}", self.url())).call()?;
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string()?;
        Ok((status, body))
    }

    fn get_json(&self, path: &str) -> Value {
        let (status, body) = self
            .get(path)
            .unwrap_or_else(|error| panic!("GET {path} failed: {error}"));
        assert_eq!(status, 200, "GET {path} answered {status}: {body}");
        serde_json::from_str(&body)
            .unwrap_or_else(|error| panic!("GET {path} is not JSON ({error}): {body}"))
    }

    /// Starts a new test session; `rates` (a `rate_by_service` object) is what the agent will
    /// answer trace payloads with.
    pub fn start_session(&self, rates: Option<&Value>) {
        let mut path = String::from("/test/session/start");
        if let Some(rates) = rates {
            path.push_str("?agent_sample_rate_by_service=");
            path.push_str(&percent_encode(&rates.to_string()));
        }
        let (status, body) = self
            .get(&path)
            .unwrap_or_else(|error| panic!("GET {path} failed: {error}"));
        assert_eq!(status, 200, "starting a session answered {status}: {body}");
    }

    /// The traces received in the current session: one array of span objects per trace.
    pub fn traces(&self) -> Vec<Vec<Value>> {
        match self.get_json("/test/session/traces") {
            Value::Array(traces) => traces
                .into_iter()
                .map(|trace| match trace {
                    Value::Array(spans) => spans,
                    other => panic!("a trace should be an array of spans, got {other}"),
                })
                .collect(),
            other => panic!("/test/session/traces should be an array, got {other}"),
        }
    }

    /// Polls [`traces`](Self::traces) until `predicate` holds, or fails the test after `timeout`
    /// with what was received.
    pub fn wait_for_traces(
        &self,
        timeout: Duration,
        predicate: impl Fn(&[Vec<Value>]) -> bool,
    ) -> Vec<Vec<Value>> {
        let deadline = Instant::now() + timeout;
        loop {
            let traces = self.traces();
            if predicate(&traces) {
                return traces;
            }
            assert!(
                Instant::now() < deadline,
                "the expected traces did not arrive within {timeout:?}; received: {traces:#?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The raw requests received in the current session (headers, base64 body, url, method).
    pub fn requests(&self) -> Vec<Value> {
        match self.get_json("/test/session/requests") {
            Value::Array(requests) => requests,
            other => panic!("/test/session/requests should be an array, got {other}"),
        }
    }

    /// Kills the agent process now (to test a client whose Agent goes away).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        self.kill();
    }
}

fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}
