//! Runs the example binaries (`examples/in-container`, `examples/sidecar`) as child processes
//! against real peers, for `examples_*.rs`.

// Each `examples_*.rs` test file uses its own part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Cloud Run kills a container 10 s after SIGTERM; the examples must be gone before that.
pub const CLOUD_RUN_SHUTDOWN_BUDGET: Duration = Duration::from_secs(10);

/// How long a test waits for the app to listen, or for telemetry to arrive.
pub const PATIENCE: Duration = Duration::from_secs(30);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace")
        .to_path_buf()
}

/// Builds the example `package` (once per test process; a no-op when up to date) into this
/// test's own target directory and profile, and returns the path of its binary. A binary of
/// another package has no `CARGO_BIN_EXE_*`, so this finds it next to the test executable.
pub fn example_binary(package: &str) -> PathBuf {
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, binary)) = built.iter().find(|(name, _)| name == package) {
        return binary.clone();
    }
    let binary = build(package);
    built.push((package.to_owned(), binary.clone()));
    binary
}

fn build(package: &str) -> PathBuf {
    let test_executable = std::env::current_exe().expect("the test executable's path");
    // <target>/<profile>/deps/<test>
    let profile_dir = test_executable
        .parent()
        .and_then(Path::parent)
        .expect("test executables live in <target>/<profile>/deps");
    let target_dir = profile_dir.parent().expect("<target>/<profile>");
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet", "-p", package])
        .current_dir(workspace())
        .env("CARGO_TARGET_DIR", target_dir);
    if profile_dir
        .file_name()
        .is_some_and(|name| name == "release")
    {
        build.arg("--release");
    }
    let status = build.status().expect("cargo should run");
    assert!(status.success(), "cargo build -p {package} failed");
    let binary = profile_dir.join(package);
    assert!(binary.exists(), "{} was not built", binary.display());
    binary
}

/// An example app running as a child process; its stdout lines are collected.
pub struct App {
    child: Child,
    port: u16,
    stdout: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl App {
    /// Starts `binary` on a free port with `env` (and no `DD_*`/`RUST_LOG` from the developer's
    /// shell), and waits for its "starting server on port <port>" line.
    pub fn start(binary: &Path, env: &[(&str, String)]) -> App {
        let port = datadog_e2e_tests::free_port();
        let mut command = datadog_e2e_tests::clean_command(binary);
        command
            .env("PORT", port.to_string())
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().expect("the example should start");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let pipe = child.stdout.take().expect("piped stdout");
        let lines = Arc::clone(&stdout);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let mut app = App {
            child,
            port,
            stdout,
            reader: Some(reader),
        };
        let started = format!("starting server on port {port}");
        app.wait_for_log(|line| line["message"] == started.as_str());
        app
    }

    /// `http://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// GETs `/` with `headers`; returns the status and body.
    pub fn get(&self, headers: &[(&str, &str)]) -> (u16, String) {
        self.get_path("/", headers)
    }

    /// GETs `path` (starting with `/`) with `headers`; returns the status and body.
    pub fn get_path(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        let http = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(PATIENCE))
            .build()
            .new_agent();
        let mut request = http.get(format!("http://127.0.0.1:{}{path}", self.port));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = request.call().expect("the example should answer");
        let status = response.status().as_u16();
        (status, response.body_mut().read_to_string().unwrap())
    }

    /// The stdout lines so far, each parsed as JSON (a line that is not JSON fails the test).
    pub fn logs(&self) -> Vec<Value> {
        self.stdout
            .lock()
            .unwrap()
            .iter()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|error| panic!("stdout line is not JSON ({error}): {line}"))
            })
            .collect()
    }

    /// Waits until a stdout line matches `predicate` and returns it.
    pub fn wait_for_log(&mut self, predicate: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(line) = self.logs().into_iter().find(|line| predicate(line)) {
                return line;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the example exited ({status}); stdout: {:#?}", self.logs());
            }
            assert!(
                Instant::now() < deadline,
                "no matching log line within {PATIENCE:?}; stdout: {:#?}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM (what Cloud Run sends), waits for the process to exit and for its stdout to
    /// close; returns the exit status and how long it took.
    pub fn terminate(&mut self) -> (ExitStatus, Duration) {
        let started = Instant::now();
        self.send_sigterm();
        let status = self.wait_for_exit(started);
        (status, started.elapsed())
    }

    /// Sends SIGTERM without waiting.
    pub fn send_sigterm(&self) {
        let kill = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill should run");
        assert!(kill.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit (failing the test if it is still running
    /// [`CLOUD_RUN_SHUTDOWN_BUDGET`] after `signalled`) and for its stdout to close.
    pub fn wait_for_exit(&mut self, signalled: Instant) -> ExitStatus {
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for the example") {
                break status;
            }
            assert!(
                signalled.elapsed() < CLOUD_RUN_SHUTDOWN_BUDGET,
                "the example was still running {CLOUD_RUN_SHUTDOWN_BUDGET:?} after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        status
    }

    /// The port the app listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `http.request` span of each trace (the server layer's root span of a request).
pub fn request_spans(traces: &[Vec<Value>]) -> Vec<Value> {
    traces
        .iter()
        .flatten()
        .filter(|span| span["name"] == "http.request")
        .cloned()
        .collect()
}

/// Whether the log line's `dd.trace_id` / `dd.span_id` name `span`: the span id in decimal, the
/// trace id in decimal (64-bit) or as 32 hex digits whose upper half is the span's `_dd.p.tid`.
pub fn log_matches_span(line: &Value, span: &Value) -> bool {
    let span_id = span["span_id"].as_u64().expect("span_id");
    let lower = span["trace_id"].as_u64().expect("trace_id");
    let Some(logged_trace) = line["dd.trace_id"].as_str() else {
        return false;
    };
    let trace_matches = if logged_trace.len() == 32 {
        let upper = span["meta"]["_dd.p.tid"]
            .as_str()
            .unwrap_or("0000000000000000");
        logged_trace == format!("{upper}{lower:016x}")
    } else {
        logged_trace == lower.to_string()
    };
    trace_matches && line["dd.span_id"].as_str() == Some(span_id.to_string().as_str())
}

/// A fresh directory under the system temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates `<tmp>/datadog-examples-<pid>-<name>`.
    pub fn new(name: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("datadog-examples-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
