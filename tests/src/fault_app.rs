//! An example app run as a child process for fault tests: stdout read or left unread (a stalled
//! log collector), stderr collected, peak memory read from `/proc`, SIGTERM timed, and a
//! keep-alive HTTP load generator.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a test waits for the app to listen.
const STARTUP: Duration = Duration::from_secs(30);

/// After SIGTERM, how long before the app is killed and the test fails.
const KILL_AFTER: Duration = Duration::from_secs(15);

/// What happens to the app's stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StdoutMode {
    /// Read line by line (as a log collector would).
    Read,
    /// Piped but never read: once the pipe's buffer is full, every write to it blocks.
    Stalled,
    /// Stdout and stderr both piped and never read.
    StalledWithStderr,
}

/// The lines collected so far, once `done` holds for them or `within` has passed.
fn lines_when(
    collected: &Mutex<Vec<String>>,
    done: impl Fn(&[String]) -> bool,
    within: Duration,
) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let lines = collected.lock().unwrap().clone();
        if done(&lines) || Instant::now() >= deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running app; killed when dropped.
pub struct FaultApp {
    child: Child,
    port: u16,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
    /// Kept open and unread in [`StdoutMode::Stalled`].
    stalled_stdout: Option<ChildStdout>,
    /// Kept open and unread in [`StdoutMode::StalledWithStderr`].
    stalled_stderr: Option<ChildStderr>,
}

impl FaultApp {
    /// Starts `binary` on a free port with `env` (and no `DD_*`/`RUST_LOG` from the developer's
    /// shell), and waits until it listens. A free port can be taken by someone else before the
    /// app binds it (tests run concurrently): the app then exits, and is started again on
    /// another port.
    pub fn start(binary: &Path, env: &[(&str, String)], stdout: StdoutMode) -> FaultApp {
        for _ in 0..5 {
            if let Some(app) = Self::try_start(binary, env, stdout) {
                return app;
            }
        }
        panic!("the app could not listen on any of 5 free ports");
    }

    fn try_start(binary: &Path, env: &[(&str, String)], stdout: StdoutMode) -> Option<FaultApp> {
        let port = crate::free_port();
        let mut command = crate::clean_command(binary);
        command
            .env("PORT", port.to_string())
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the app should start");
        let stdout_lines = Arc::new(Mutex::new(Vec::new()));
        let stderr_lines = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let stderr_pipe = child.stderr.take().expect("piped stderr");
        let stalled_stderr = if stdout == StdoutMode::StalledWithStderr {
            Some(stderr_pipe)
        } else {
            readers.push(collect_lines(stderr_pipe, Arc::clone(&stderr_lines)));
            None
        };
        let pipe = child.stdout.take().expect("piped stdout");
        let stalled_stdout = match stdout {
            StdoutMode::Read => {
                readers.push(collect_lines(pipe, Arc::clone(&stdout_lines)));
                None
            }
            StdoutMode::Stalled | StdoutMode::StalledWithStderr => Some(pipe),
        };
        let mut app = FaultApp {
            child,
            port,
            stdout: stdout_lines,
            stderr: stderr_lines,
            readers,
            stalled_stdout,
            stalled_stderr,
        };
        app.wait_until_listening().then_some(app)
    }

    /// Waits until the app itself listens on its port; `false` when it exited first.
    fn wait_until_listening(&mut self) -> bool {
        let deadline = Instant::now() + STARTUP;
        loop {
            if listens_on(self.child.id(), self.port) {
                return true;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            assert!(
                Instant::now() < deadline,
                "the app did not listen within {STARTUP:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The port the app listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stdout lines read so far (none in [`StdoutMode::Stalled`]).
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// Stdout lines read so far, once `done` holds for them or `within` has passed. The app's
    /// lines reach the reader thread some time after its response: a test that counts them
    /// right after a request can miss the last ones.
    pub fn stdout_when(&self, done: impl Fn(&[String]) -> bool, within: Duration) -> Vec<String> {
        lines_when(&self.stdout, done, within)
    }

    /// Stderr lines read so far, once `done` holds for them or `within` has passed (see
    /// [`FaultApp::stdout_when`]).
    pub fn stderr_when(&self, done: impl Fn(&[String]) -> bool, within: Duration) -> Vec<String> {
        lines_when(&self.stderr, done, within)
    }

    /// Stderr lines read so far (none in [`StdoutMode::StalledWithStderr`]).
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// The messages of the workspace's diagnostic lines on stderr (JSON lines with a
    /// `message`), in order.
    pub fn diagnostics(&self) -> Vec<String> {
        self.stderr()
            .iter()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter_map(|line| line["message"].as_str().map(str::to_owned))
            .collect()
    }

    /// The process's peak resident memory so far (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/<pid>/status of a running app");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| {
                value
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map(|kib| kib * 1024)
            .expect("VmHWM in /proc/<pid>/status")
    }

    /// Sends SIGTERM and waits for the process to exit; returns how long that took. Kills it
    /// (and fails) when it is still running [`KILL_AFTER`] later.
    pub fn terminate(&mut self) -> Duration {
        let signalled = Instant::now();
        let kill = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill should run");
        assert!(kill.success(), "kill -TERM failed");
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the app") {
                let took = signalled.elapsed();
                assert!(
                    status.success(),
                    "exit status {status}: {:#?}",
                    self.stderr()
                );
                // The pipes close with the process: collect the last lines.
                self.stalled_stdout = None;
                self.stalled_stderr = None;
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
                return took;
            }
            if signalled.elapsed() > KILL_AFTER {
                let _ = self.child.kill();
                panic!("the app was still running {KILL_AFTER:?} after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for FaultApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether process `pid` holds a TCP socket listening on `port` (from `/proc`: the listening
/// sockets' inodes in `/proc/net/tcp{,6}`, the process's sockets in `/proc/<pid>/fd`).
fn listens_on(pid: u32, port: u16) -> bool {
    let port = format!(":{port:04X}");
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address is field 1, st field 3 (0A = LISTEN), inode field 9.
            if fields.len() > 9 && fields[1].ends_with(&port) && fields[3] == "0A" {
                inodes.push(format!("socket:[{}]", fields[9]));
            }
        }
    }
    if inodes.is_empty() {
        return false;
    }
    let Ok(descriptors) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    descriptors.filter_map(Result::ok).any(|descriptor| {
        std::fs::read_link(descriptor.path()).is_ok_and(|target| {
            inodes
                .iter()
                .any(|inode| target.as_os_str() == inode.as_str())
        })
    })
}

fn collect_lines(
    pipe: impl Read + Send + 'static,
    lines: Arc<Mutex<Vec<String>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line);
        }
    })
}

/// `clients` keep-alive connections each sending `GET /` (with `headers`) until `requests`
/// answers arrived in total (a few more with several clients: each checks the total before its
/// next request) or `duration` passed; returns the answers with status 200.
pub fn load(
    port: u16,
    clients: usize,
    requests: usize,
    duration: Duration,
    headers: &[(&str, &str)],
) -> usize {
    let deadline = Instant::now() + duration;
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut extra = String::new();
    for (name, value) in headers {
        extra.push_str(&format!("{name}: {value}\r\n"));
    }
    let request = format!("GET / HTTP/1.1\r\nHost: fault-test\r\n{extra}\r\n");
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let answered = Arc::clone(&answered);
            let request = request.clone();
            std::thread::spawn(move || {
                let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) else {
                    return;
                };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut writer = stream.try_clone().expect("clone a TCP stream");
                let mut reader = BufReader::new(stream);
                while Instant::now() < deadline
                    && answered.load(std::sync::atomic::Ordering::Relaxed) < requests
                {
                    if writer.write_all(request.as_bytes()).is_err() {
                        return;
                    }
                    match read_response(&mut reader) {
                        Some(200) => {
                            answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        Some(_) => {}
                        None => return,
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    answered.load(std::sync::atomic::Ordering::Relaxed)
}

/// Reads one HTTP/1.1 response with a `Content-Length` body; its status.
fn read_response(reader: &mut BufReader<TcpStream>) -> Option<u16> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let status = line.split(' ').nth(1)?.parse().ok()?;
    let mut length = 0usize;
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(status)
}

/// Opens a connection and sends half a request (headers not finished), as a slow client whose
/// request the server has started reading when SIGTERM comes; keep it to hold it open.
pub fn half_sent_request(port: u16) -> TcpStream {
    let mut connection = TcpStream::connect(("127.0.0.1", port)).expect("connect to the app");
    connection
        .write_all(b"GET / HTTP/1.1\r\nHost: fault-test\r\n")
        .expect("send half a request");
    connection
}
