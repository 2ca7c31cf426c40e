//! The sidecar sample's `app.log` under faults: deleted, renamed, replaced, or its directory
//! removed while the app runs, it is back within about a second with every later line; a stdout
//! nobody reads does not hold it up; a failing file warns once and recovers.

mod examples_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use datadog_e2e_tests::fake_agent::{Behaviour, FakeAgent};
use datadog_e2e_tests::fault_app::{FaultApp, StdoutMode, load};
use examples_support::example_binary;

/// How soon after a fault new lines must reach a new `app.log` (tailers re-check about every
/// second; the writer checks every 250 ms; margin for a loaded machine).
const REOPEN_WITHIN: Duration = Duration::from_millis(1500);

struct Sidecar {
    app: FaultApp,
    /// Takes the traces (a port of its own: a free port could be taken by another test's Agent).
    _agent: FakeAgent,
    dir: PathBuf,
    next_id: u64,
}

impl Sidecar {
    fn start(name: &str, stdout: StdoutMode) -> Sidecar {
        let dir = std::env::temp_dir().join(format!("faults-logs-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let agent = FakeAgent::start(Behaviour::Accept);
        let app = FaultApp::start(
            &example_binary("sidecar"),
            &[
                (
                    "DD_SERVERLESS_LOG_PATH",
                    format!("{}/logs/*.log", dir.display()),
                ),
                ("DD_SERVICE", "faults-logs".into()),
                ("DD_TRACE_AGENT_URL", agent.url()),
                // No DogStatsD: its drops are counted, the logs are what is tested.
                (
                    "DD_DOGSTATSD_PORT",
                    datadog_e2e_tests::free_port().to_string(),
                ),
            ],
            stdout,
        );
        Sidecar {
            app,
            _agent: agent,
            dir,
            next_id: 1000,
        }
    }

    fn logs_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    fn app_log(&self) -> PathBuf {
        self.logs_dir().join("app.log")
    }

    /// One request whose log line carries a trace id of its own; returns the id.
    fn request(&mut self) -> u64 {
        self.next_id += 1;
        let id = self.next_id.to_string();
        let answered = load(
            self.app.port(),
            1,
            1,
            Duration::from_secs(10),
            &[("x-datadog-trace-id", &id), ("x-datadog-parent-id", "1")],
        );
        assert_eq!(answered, 1);
        self.next_id
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The trace ids of the `Hello world!` lines in `path` (none when it does not exist).
fn logged_ids(path: &Path) -> Vec<u64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["message"] == "Hello world!")
        .filter_map(|line| line["dd.trace_id"].as_str()?.parse().ok())
        .collect()
}

/// Requests every 50 ms after a fault until one reaches `app.log`; returns how long that took,
/// then checks that 20 more requests all reach it.
fn lines_come_back(sidecar: &mut Sidecar, fault: &str) -> Duration {
    let faulted = Instant::now();
    let mut sent = Vec::new();
    let back = loop {
        sent.push(sidecar.request());
        let logged = logged_ids(&sidecar.app_log());
        if sent.iter().any(|id| logged.contains(id)) {
            break faulted.elapsed();
        }
        assert!(
            faulted.elapsed() < Duration::from_secs(10),
            "{fault}: no line reached a new app.log in 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let later: Vec<u64> = (0..20).map(|_| sidecar.request()).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logged = logged_ids(&sidecar.app_log());
        let missing: Vec<_> = later.iter().filter(|id| !logged.contains(id)).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{fault}: lines after the reopen are missing: {missing:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "{fault}: app.log back after {} ms ({} requests in between); 20 of 20 later lines in it",
        back.as_millis(),
        sent.len()
    );
    back
}

#[test]
fn app_log_comes_back_after_deletion_rename_replacement_and_directory_removal() {
    let mut sidecar = Sidecar::start("follow", StdoutMode::Read);
    let first = sidecar.request();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !logged_ids(&sidecar.app_log()).contains(&first) {
        assert!(
            Instant::now() < deadline,
            "the first line never reached app.log"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let mut figures = Vec::new();
    std::fs::remove_file(sidecar.app_log()).unwrap();
    figures.push(("deleted", lines_come_back(&mut sidecar, "deleted")));

    std::fs::rename(sidecar.app_log(), sidecar.logs_dir().join("app.log.old")).unwrap();
    figures.push(("renamed", lines_come_back(&mut sidecar, "renamed")));

    std::fs::rename(sidecar.app_log(), sidecar.logs_dir().join("app.log.older")).unwrap();
    std::fs::write(sidecar.app_log(), b"").unwrap();
    figures.push(("replaced", lines_come_back(&mut sidecar, "replaced")));

    std::fs::remove_dir_all(sidecar.logs_dir()).unwrap();
    figures.push((
        "directory removed",
        lines_come_back(&mut sidecar, "directory removed"),
    ));

    let exit = sidecar.app.terminate();
    assert!(exit <= Duration::from_secs(5), "exit {exit:?}");
    for (fault, back) in figures {
        assert!(back <= REOPEN_WITHIN, "{fault}: back after {back:?}");
    }
}

#[test]
fn an_unread_stdout_does_not_hold_up_app_log() {
    let mut sidecar = Sidecar::start("stalled", StdoutMode::Stalled);
    // Far more than the 64 KiB a pipe holds: stdout is stuck after a few hundred lines.
    let answered = load(sidecar.app.port(), 4, 1000, Duration::from_secs(20), &[]);
    // Each client checks the total before its next request: a few more may be answered.
    assert!(answered >= 1000, "{answered}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let in_file = loop {
        let lines = std::fs::read_to_string(sidecar.app_log())
            .unwrap_or_default()
            .matches("\"Hello world!\"")
            .count();
        if lines >= answered || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let exit = sidecar.app.terminate();
    let shutdown_line = sidecar
        .app
        .diagnostics()
        .into_iter()
        .find(|line| line.starts_with("shutdown within"));
    eprintln!(
        "stdout unread: {in_file} of {answered} lines in app.log, exit {} ms, {shutdown_line:?}",
        exit.as_millis()
    );
    assert_eq!(in_file, answered);
    assert!(exit <= Duration::from_secs(5), "exit {exit:?}");
    assert!(
        shutdown_line.is_some_and(|line| !line.contains(" 0 log lines")),
        "the lines stdout never took are counted"
    );
}

#[test]
fn a_failing_log_file_warns_once_and_recovers() {
    let mut sidecar = Sidecar::start("failing", StdoutMode::Read);
    sidecar.request();
    // The directory becomes a regular file: app.log can be neither opened nor created.
    std::fs::remove_dir_all(sidecar.logs_dir()).unwrap();
    std::fs::write(sidecar.logs_dir(), b"in the way").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..10 {
        sidecar.request();
        std::thread::sleep(Duration::from_millis(30));
    }
    // Stdout keeps every line meanwhile.
    std::fs::remove_file(sidecar.logs_dir()).unwrap();
    let back = lines_come_back(&mut sidecar, "unwritable, then writable");
    let recovered = |line: &String| line.contains("writing logs to") && line.contains("again");
    let stderr = sidecar
        .app
        .stderr_when(|lines| lines.iter().any(recovered), Duration::from_secs(10));
    let failures: Vec<_> = stderr
        .iter()
        .filter(|line| line.contains("cannot write logs to"))
        .collect();
    let recoveries: Vec<_> = stderr.iter().filter(|line| recovered(line)).collect();
    assert_eq!(failures.len(), 1, "{stderr:#?}");
    assert!(
        failures[0].contains("app.log"),
        "the warning names the file: {}",
        failures[0]
    );
    assert_eq!(recoveries.len(), 1, "{stderr:#?}");
    assert!(back <= REOPEN_WITHIN, "back after {back:?}");
    let hellos = |lines: &[String]| {
        lines
            .iter()
            .filter(|line| line.contains("\"Hello world!\""))
            .count()
    };
    let stdout = sidecar
        .app
        .stdout_when(|lines| hellos(lines) >= 32, Duration::from_secs(10));
    let hello_on_stdout = hellos(&stdout);
    assert!(hello_on_stdout >= 32, "{hello_on_stdout} lines on stdout");
}
