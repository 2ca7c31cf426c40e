//! A misbehaving Datadog Agent on loopback, for fault tests: it hangs, answers errors, garbage or
//! hundreds of megabytes, answers slowly, or closes the connection, and records every span id it
//! received so tests can count deliveries and duplicates.
//!
//! The real test agent (`ddapm-test-agent`) cannot misbehave in these ways; this one speaks just
//! enough HTTP/1.1 for `/v0.4/traces` and decodes each MessagePack payload it reads.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the fake Agent does with each trace request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Answers 200 with an empty `rate_by_service`.
    Accept,
    /// Reads the request, then never answers (until the client leaves or the agent stops).
    Hang,
    /// Answers this status with a short body.
    Status(u16),
    /// Answers bytes that are not HTTP, then closes.
    Garbage,
    /// Answers 200 with a body of this many bytes, streamed as long as the client reads.
    Huge(u64),
    /// Answers 200 after this delay (as an overloaded Agent that still processes the payload).
    Slow(Duration),
    /// Reads the request and closes the connection without answering.
    Close,
}

/// What the fake Agent saw.
#[derive(Clone, Debug, Default)]
pub struct Received {
    /// Trace requests read (whole body).
    pub requests: usize,
    /// The `span_id` of every span of every payload read, duplicates included.
    pub span_ids: Vec<u64>,
    /// For requests whose client left before the answer: how long after the request it left.
    pub client_left_after: Vec<Duration>,
}

impl Received {
    /// Span ids received more than once.
    pub fn duplicates(&self) -> usize {
        let mut ids = self.span_ids.clone();
        ids.sort_unstable();
        let total = ids.len();
        ids.dedup();
        total - ids.len()
    }
}

struct Shared {
    behaviour: Mutex<Behaviour>,
    received: Mutex<Received>,
    stop: AtomicBool,
    /// Bytes of answer bodies written (to see how much of a huge answer a client read).
    body_bytes_written: AtomicU64,
}

/// A running fake Agent; stops (closing every connection) when dropped.
pub struct FakeAgent {
    shared: Arc<Shared>,
    port: u16,
    acceptor: Option<JoinHandle<()>>,
}

impl FakeAgent {
    /// Starts on a free loopback port.
    pub fn start(behaviour: Behaviour) -> FakeAgent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let shared = Arc::new(Shared {
            behaviour: Mutex::new(behaviour),
            received: Mutex::new(Received::default()),
            stop: AtomicBool::new(false),
            body_bytes_written: AtomicU64::new(0),
        });
        let accepting = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new()
            .name("fake-agent".into())
            .spawn(move || accept_loop(&listener, &accepting))
            .expect("spawn the fake agent");
        FakeAgent {
            shared,
            port,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Changes what it does with the next requests.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *self.shared.behaviour.lock().unwrap() = behaviour;
    }

    /// What it received so far.
    pub fn received(&self) -> Received {
        self.shared.received.lock().unwrap().clone()
    }

    /// Bytes of answer bodies written so far.
    pub fn body_bytes_written(&self) -> u64 {
        self.shared.body_bytes_written.load(Ordering::Relaxed)
    }

    /// Waits until `predicate` holds on what was received, or `timeout` passes; returns it.
    pub fn wait_for(&self, timeout: Duration, predicate: impl Fn(&Received) -> bool) -> Received {
        let deadline = Instant::now() + timeout;
        loop {
            let received = self.received();
            if predicate(&received) || Instant::now() >= deadline {
                return received;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut connections = Vec::new();
    while !shared.stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let shared = Arc::clone(shared);
                connections.push(std::thread::spawn(move || serve(stream, &shared)));
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
        connections.retain(|connection| !connection.is_finished());
    }
    for connection in connections {
        let _ = connection.join();
    }
}

/// Serves requests on one connection until it closes, the behaviour ends it, or the agent stops.
fn serve(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    let mut writer = writer;
    let mut reader = BufReader::new(stream);
    loop {
        let Some(body) = read_request(&mut reader, shared) else {
            return;
        };
        let requested = Instant::now();
        let span_ids = span_ids(&body);
        {
            let mut received = shared.received.lock().unwrap();
            received.requests += 1;
            received.span_ids.extend(span_ids);
        }
        let behaviour = *shared.behaviour.lock().unwrap();
        let keep_alive = match behaviour {
            Behaviour::Accept => answer(&mut writer, 200, b"{\"rate_by_service\":{}}"),
            Behaviour::Status(status) => answer(&mut writer, status, b"{\"error\":\"fault\"}"),
            Behaviour::Garbage => {
                let _ = writer.write_all(b"this is not HTTP at all\r\n\r\n\x00\xff");
                false
            }
            Behaviour::Close => false,
            Behaviour::Hang => {
                wait_for_client_to_leave(&mut reader, shared, None, requested);
                false
            }
            Behaviour::Slow(delay) => {
                if wait_for_client_to_leave(&mut reader, shared, Some(delay), requested) {
                    false
                } else {
                    answer(&mut writer, 200, b"{\"rate_by_service\":{}}")
                }
            }
            Behaviour::Huge(size) => {
                stream_huge_answer(&mut writer, size, shared);
                false
            }
        };
        if !keep_alive {
            return;
        }
    }
}

/// Reads one request (headers, then a `Content-Length` body); `None` when the connection ends
/// or the agent stops first.
fn read_request(reader: &mut BufReader<TcpStream>, shared: &Shared) -> Option<Vec<u8>> {
    let mut content_length = 0usize;
    let mut line = String::new();
    let mut in_headers = false;
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if shared.stop.load(Ordering::Relaxed) {
                    return None;
                }
                continue;
            }
            Err(_) => return None,
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            if in_headers {
                break;
            }
            continue;
        }
        in_headers = true;
        if let Some((name, value)) = trimmed.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            content_length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; content_length];
    let mut filled = 0;
    while filled < content_length {
        match reader.read(&mut body[filled..]) {
            Ok(0) => return None,
            Ok(read) => filled += read,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if shared.stop.load(Ordering::Relaxed) {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
    Some(body)
}

fn answer(writer: &mut TcpStream, status: u16, body: &[u8]) -> bool {
    let head = format!(
        "HTTP/1.1 {status} Fault\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    writer.write_all(head.as_bytes()).is_ok() && writer.write_all(body).is_ok()
}

/// Waits until the client closes its side (`true`, recorded), `delay` passes (`false`), or the
/// agent stops.
fn wait_for_client_to_leave(
    reader: &mut BufReader<TcpStream>,
    shared: &Shared,
    delay: Option<Duration>,
    requested: Instant,
) -> bool {
    let mut scratch = [0u8; 1024];
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return true;
        }
        if delay.is_some_and(|delay| requested.elapsed() >= delay) {
            return false;
        }
        match reader.read(&mut scratch) {
            Ok(0) => {
                shared
                    .received
                    .lock()
                    .unwrap()
                    .client_left_after
                    .push(requested.elapsed());
                return true;
            }
            // A client sending more (a retry on this connection) is ignored while hanging.
            Ok(_) => {}
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
}

fn stream_huge_answer(writer: &mut TcpStream, size: u64, shared: &Shared) {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    );
    if writer.write_all(head.as_bytes()).is_err() {
        return;
    }
    let _ = writer.set_write_timeout(Some(Duration::from_millis(200)));
    let chunk = vec![b' '; 64 * 1024];
    let mut left = size;
    while left > 0 && !shared.stop.load(Ordering::Relaxed) {
        let part = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        match writer.write(&chunk[..part]) {
            Ok(0) => return,
            Ok(written) => {
                left -= written as u64;
                shared
                    .body_bytes_written
                    .fetch_add(written as u64, Ordering::Relaxed);
            }
            // The client stopped reading but is still there: keep trying until it leaves.
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

/// The `span_id` of every span in a `/v0.4/traces` payload (an array of arrays of span maps);
/// nothing for a payload that does not decode.
fn span_ids(body: &[u8]) -> Vec<u64> {
    let Ok(rmpv::Value::Array(traces)) = rmpv::decode::read_value(&mut &body[..]) else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    for trace in traces {
        let rmpv::Value::Array(spans) = trace else {
            continue;
        };
        for span in spans {
            let rmpv::Value::Map(fields) = span else {
                continue;
            };
            if let Some(id) = fields
                .iter()
                .find(|(key, _)| key.as_str() == Some("span_id"))
                .and_then(|(_, value)| value.as_u64())
            {
                ids.push(id);
            }
        }
    }
    ids
}
