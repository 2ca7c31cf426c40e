//! The container process: started with Cloud Run's environment, its stdout and stderr captured
//! (what `serverless-init` and Cloud Logging read), frozen between requests when billing is per
//! request, and stopped as Cloud Run stops it: SIGTERM, then SIGKILL 10 s later.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Cloud Run sends SIGKILL this long after SIGTERM.
pub const SIGKILL_AFTER: Duration = Duration::from_secs(10);

/// How long the startup probe waits for the container's port.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) struct Container {
    child: Child,
    pub(super) stdout: Lines,
    pub(super) stderr: Lines,
    readers: Vec<JoinHandle<()>>,
}

/// Lines a pipe delivered so far.
pub(super) type Lines = Arc<Mutex<Vec<String>>>;

/// How the container ended.
#[derive(Debug)]
pub struct Termination {
    /// The exit status.
    pub status: ExitStatus,
    /// From SIGTERM to exit.
    pub elapsed: Duration,
    /// Whether Cloud Run had to SIGKILL it.
    pub killed: bool,
}

impl Container {
    pub(super) fn start(binary: &Path, env: &[(String, String)], port: u16) -> Container {
        let mut command = crate::clean_command(binary);
        command
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the container should start");
        let stdout = Lines::default();
        let stderr = Lines::default();
        let readers = vec![
            read_lines(
                child.stdout.take().expect("piped stdout"),
                Arc::clone(&stdout),
            ),
            read_lines(
                child.stderr.take().expect("piped stderr"),
                Arc::clone(&stderr),
            ),
        ];
        let mut container = Container {
            child,
            stdout,
            stderr,
            readers,
        };
        container.wait_for_port(port);
        container
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Cloud Run's default startup probe: a TCP connection to `PORT`.
    fn wait_for_port(&mut self, port: u16) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the container exited ({status}) before listening; stderr: {:#?}",
                    self.stderr.lock().unwrap()
                );
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the container did not listen on {port} within {STARTUP_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then SIGKILL after [`SIGKILL_AFTER`]; waits for the pipes to close.
    pub(super) fn terminate(&mut self) -> Termination {
        let started = Instant::now();
        signal(self.pid(), "TERM");
        let mut killed = false;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for the container") {
                break status;
            }
            if !killed && started.elapsed() >= SIGKILL_AFTER {
                signal(self.pid(), "KILL");
                killed = true;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let elapsed = started.elapsed();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        Termination {
            status,
            elapsed,
            killed,
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        signal(self.pid(), "CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_lines(pipe: impl Read + Send + 'static, lines: Lines) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line);
        }
    })
}

/// Sends `SIG<name>` to `pid` (the `kill` command: the tests crate has no unsafe code).
pub(super) fn signal(pid: u32, name: &str) {
    // The process may be gone already (Drop after exit): that is not worth a message.
    let _ = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// Request-based billing: the container gets CPU only while a request is in flight. Between
/// requests the whole process is stopped (SIGSTOP), a little harsher than Cloud Run's throttling.
pub(super) struct Freezer {
    pid: u32,
    state: Mutex<FreezerState>,
}

struct FreezerState {
    in_flight: usize,
    frozen: bool,
    /// After SIGTERM the container keeps its CPU until it exits.
    released: bool,
}

impl Freezer {
    pub(super) fn new(pid: u32) -> Freezer {
        let freezer = Freezer {
            pid,
            state: Mutex::new(FreezerState {
                in_flight: 0,
                frozen: false,
                released: false,
            }),
        };
        // Idle from the start: no request yet.
        freezer.freeze_if_idle(&mut freezer.state.lock().unwrap());
        freezer
    }

    /// Thaws the container for a request; it is frozen again when the returned guard drops and
    /// no other request is in flight.
    pub(super) fn request_started(self: &Arc<Self>) -> Billed {
        let mut state = self.state.lock().unwrap();
        state.in_flight += 1;
        if state.frozen {
            signal(self.pid, "CONT");
            state.frozen = false;
        }
        Billed(Arc::clone(self))
    }

    fn freeze_if_idle(&self, state: &mut FreezerState) {
        if state.in_flight == 0 && !state.frozen && !state.released {
            signal(self.pid, "STOP");
            state.frozen = true;
        }
    }

    /// Gives the container its CPU back for good (shutdown).
    pub(super) fn release(&self) {
        let mut state = self.state.lock().unwrap();
        state.released = true;
        if state.frozen {
            signal(self.pid, "CONT");
            state.frozen = false;
        }
    }

    /// Whether the container is frozen now.
    pub(super) fn is_frozen(&self) -> bool {
        self.state.lock().unwrap().frozen
    }
}

/// One request's CPU allocation.
pub(super) struct Billed(Arc<Freezer>);

impl Drop for Billed {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap();
        state.in_flight -= 1;
        self.0.freeze_if_idle(&mut state);
    }
}
