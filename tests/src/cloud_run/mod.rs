//! A Cloud Run emulator on loopback: the platform as a container sees it, with the
//! `serverless-init` side played by real peers.
//!
//! - **Frontend** ([`front_proxy`]): every request reaches the container through a proxy that
//!   adds Google's `traceparent` and `X-Cloud-Trace-Context` (sampled for at most one request per
//!   10 s, the caller's trace continued when it sent a `traceparent`), `X-Forwarded-For` and
//!   `X-Forwarded-Proto`, and passes the caller's other headers through.
//! - **Environment**: `PORT`, `K_SERVICE`, `K_REVISION`, `K_CONFIGURATION`, and
//!   `GCE_METADATA_HOST` pointing at a [`MetadataServer`] stand-in.
//! - **`serverless-init`**: Datadog's APM test agent receives traces, the workspace's
//!   [`DogStatsdSink`] receives metrics, stdout/stderr are captured, and the sidecar's log file
//!   (under `DD_SERVERLESS_LOG_PATH`) can be read.
//! - **Lifecycle**: a TCP startup probe on `PORT`; SIGTERM, then SIGKILL 10 s later.
//! - **Request-based billing** (optional): the container is stopped (SIGSTOP) whenever no request
//!   is in flight and continued (SIGCONT) for each request.

mod container;
mod front_proxy;
mod metadata_server;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub use container::{SIGKILL_AFTER, Termination};
pub use front_proxy::{GOOGLE_TRACE_HEADER, GoogleTrace, SAMPLING_PERIOD, google_trace_of};
pub use metadata_server::{MetadataBehavior, MetadataServer};

use crate::dogstatsd_sink::DogStatsdSink;
use crate::test_agent::TestAgent;
use container::{Container, Freezer};
use front_proxy::FrontProxy;

/// The project the metadata stand-in reports.
pub const PROJECT: &str = "emulated-project";

/// How the emulated service is deployed.
#[derive(Clone, Debug)]
pub struct Deployment {
    /// The container's binary.
    pub binary: PathBuf,
    /// `K_SERVICE` (also the name of the configuration).
    pub service: String,
    /// Extra environment variables (`DD_*` and the like).
    pub env: Vec<(String, String)>,
    /// Request-based billing: freeze the container between requests.
    pub request_based_billing: bool,
    /// How the metadata server answers.
    pub metadata: MetadataBehavior,
    /// Sidecar mode: the shared volume's log directory (`DD_SERVERLESS_LOG_PATH=<dir>/*.log`).
    pub shared_log_dir: Option<PathBuf>,
}

impl Deployment {
    /// `binary` deployed as `service`, instance-based billing, a well-behaved metadata server.
    pub fn new(binary: &Path, service: &str) -> Deployment {
        Deployment {
            binary: binary.to_owned(),
            service: service.to_owned(),
            env: Vec::new(),
            request_based_billing: false,
            metadata: MetadataBehavior::Google,
            shared_log_dir: None,
        }
    }
}

/// One answer through the frontend.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Body text.
    pub body: String,
    /// The Google trace the frontend gave the request.
    pub google: GoogleTrace,
}

/// A running emulated Cloud Run instance with its `serverless-init` side.
pub struct CloudRun {
    // Dropped first: the container goes before its peers.
    container: Container,
    freezer: Option<Arc<Freezer>>,
    proxy: FrontProxy,
    agent: TestAgent,
    statsd: DogStatsdSink,
    metadata: MetadataServer,
    log_file: Option<PathBuf>,
    http: ureq::Agent,
}

impl CloudRun {
    /// Starts the peers, then the container, and waits for its startup probe.
    pub fn start(deployment: &Deployment) -> CloudRun {
        let agent = TestAgent::start();
        let statsd = DogStatsdSink::udp();
        let metadata = MetadataServer::start(PROJECT, "europe-west1", deployment.metadata.clone());
        let port = crate::free_port();
        let service = &deployment.service;
        let mut env: Vec<(String, String)> = vec![
            ("PORT".into(), port.to_string()),
            ("K_SERVICE".into(), service.clone()),
            ("K_REVISION".into(), format!("{service}-00001-abc")),
            ("K_CONFIGURATION".into(), service.clone()),
            ("GCE_METADATA_HOST".into(), metadata.host().to_owned()),
            // Where serverless-init listens (localhost:8126 and :8125 in a real container).
            ("DD_TRACE_AGENT_URL".into(), agent.url()),
            ("DD_DOGSTATSD_URL".into(), statsd.url().to_owned()),
        ];
        let log_file = deployment.shared_log_dir.as_ref().map(|dir| {
            env.push((
                "DD_SERVERLESS_LOG_PATH".into(),
                dir.join("*.log").display().to_string(),
            ));
            dir.join("app.log")
        });
        env.extend(deployment.env.iter().cloned());
        let container = Container::start(&deployment.binary, &env, port);
        let freezer = deployment
            .request_based_billing
            .then(|| Arc::new(Freezer::new(container.pid())));
        let proxy = FrontProxy::start(port, freezer.clone());
        let http = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .new_agent();
        CloudRun {
            container,
            freezer,
            proxy,
            agent,
            statsd,
            metadata,
            log_file,
            http,
        }
    }

    /// GETs `path` through the frontend with the caller's `headers`.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut request = self
            .http
            .get(format!("http://127.0.0.1:{}{path}", self.proxy.port));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = request.call().expect("the frontend should answer");
        let google = response
            .headers()
            .get(GOOGLE_TRACE_HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(google_trace_of)
            .expect("the frontend names the request's Google trace");
        Answer {
            status: response.status().as_u16(),
            body: response.body_mut().read_to_string().unwrap_or_default(),
            google,
        }
    }

    /// The trace intake (`serverless-init`'s trace agent).
    pub fn agent(&self) -> &TestAgent {
        &self.agent
    }

    /// The DogStatsD intake.
    pub fn statsd(&self) -> &DogStatsdSink {
        &self.statsd
    }

    /// The metadata server stand-in.
    pub fn metadata(&self) -> &MetadataServer {
        &self.metadata
    }

    /// Whether request-based billing has the container frozen right now.
    pub fn is_frozen(&self) -> bool {
        self.freezer
            .as_ref()
            .is_some_and(|freezer| freezer.is_frozen())
    }

    /// The container's stdout lines so far, parsed as JSON (a line that is not JSON fails).
    pub fn stdout_json(&self) -> Vec<Value> {
        parse_json_lines(&self.container.stdout.lock().unwrap(), "stdout")
    }

    /// The container's stderr lines so far.
    pub fn stderr(&self) -> Vec<String> {
        self.container.stderr.lock().unwrap().clone()
    }

    /// The lines of the sidecar's `app.log` so far, parsed as JSON (none without the file).
    pub fn log_file_json(&self) -> Vec<Value> {
        let Some(path) = &self.log_file else {
            return Vec::new();
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        // The last line may still be being written.
        let complete: Vec<String> = text
            .split_inclusive('\n')
            .filter(|line| line.ends_with('\n'))
            .map(|line| line.trim_end().to_owned())
            .collect();
        parse_json_lines(&complete, "app.log")
    }

    /// Stops the instance as Cloud Run does: CPU back (with request-based billing), SIGTERM, and
    /// SIGKILL after [`SIGKILL_AFTER`].
    pub fn terminate(&mut self) -> Termination {
        if let Some(freezer) = &self.freezer {
            freezer.release();
        }
        self.container.terminate()
    }
}

fn parse_json_lines(lines: &[String], source: &str) -> Vec<Value> {
    lines
        .iter()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("{source} line is not JSON ({error}): {line}"))
        })
        .collect()
}

/// Polls `probe` every 20 ms until it returns `Some`, or `None` after `timeout`.
pub fn wait_for<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
