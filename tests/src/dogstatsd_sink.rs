//! A DogStatsD sink that reads and judges datagrams the way the Datadog Agent does.
//!
//! No installable DogStatsD server follows the Agent's rules (the APM test agent has no
//! DogStatsD listener), so the workspace owns this one. It binds a free loopback UDP port or a
//! Unix datagram socket, reads with the Agent's 8192-byte buffer (flagging truncated datagrams),
//! splits lines on `\n`, strips one trailing `\r`, skips empty lines, and drops exactly what the
//! Agent's parser drops (metrics, events, service checks), keeping the reason. Raw datagrams and
//! parsed messages are kept for assertions.

use std::net::UdpSocket;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The Agent's default read buffer (`dogstatsd_buffer_size`).
pub const AGENT_BUFFER_SIZE: usize = 8192;

/// A metric line as the Agent parsed it.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricMessage {
    /// The name, as sent.
    pub name: String,
    /// The type field: `c`, `g`, `h`, `d`, `s` or `ms`.
    pub kind: String,
    /// The values: every packed value, or the one set member.
    pub values: Vec<String>,
    /// `@rate` (1 when absent).
    pub sample_rate: f64,
    /// `#` tags in order.
    pub tags: Vec<String>,
    /// `T` timestamp.
    pub timestamp: Option<u64>,
    /// `c:` local data (container id).
    pub container: Option<String>,
    /// `e:` external data.
    pub external: Option<String>,
    /// `card:` cardinality.
    pub cardinality: Option<String>,
}

impl MetricMessage {
    /// The numeric values (not meaningful for sets).
    pub fn float_values(&self) -> Vec<f64> {
        self.values
            .iter()
            .filter_map(|value| parse_go_float(value))
            .collect()
    }
}

/// An event as the Agent parsed it (`\n` escapes turned back into newlines).
#[derive(Clone, Debug, PartialEq)]
pub struct EventMessage {
    /// Title.
    pub title: String,
    /// Text.
    pub text: String,
    /// `d:` timestamp.
    pub timestamp: Option<i64>,
    /// `h:` host.
    pub hostname: Option<String>,
    /// `k:` aggregation key.
    pub aggregation_key: Option<String>,
    /// `p:` priority (`normal` unless a valid `low` was given).
    pub priority: String,
    /// `s:` source type.
    pub source_type: Option<String>,
    /// `t:` alert type (`info` unless a valid one was given).
    pub alert_type: String,
    /// Tags.
    pub tags: Vec<String>,
    /// `c:` local data.
    pub container: Option<String>,
}

/// A service check as the Agent parsed it.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceCheckMessage {
    /// Check name.
    pub name: String,
    /// 0 OK, 1 warning, 2 critical, 3 unknown.
    pub status: u8,
    /// `d:` timestamp.
    pub timestamp: Option<i64>,
    /// `h:` host.
    pub hostname: Option<String>,
    /// `m:` message (kept as sent; the Agent does not unescape it).
    pub message: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// `c:` local data.
    pub container: Option<String>,
}

/// One accepted line.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// A metric.
    Metric(MetricMessage),
    /// An event.
    Event(EventMessage),
    /// A service check.
    ServiceCheck(ServiceCheckMessage),
}

/// A line the Agent would drop, with the rule that drops it.
#[derive(Clone, Debug, PartialEq)]
pub struct Malformed {
    /// The line.
    pub line: String,
    /// Which rule.
    pub reason: &'static str,
}

/// Parser switches (the Agent's defaults unless changed).
#[derive(Clone, Copy, Debug)]
pub struct ParseOptions {
    /// `dogstatsd_eol_required`: drop a final line without `\n`.
    pub eol_required: bool,
    /// `dogstatsd_no_aggregation_pipeline`: read `T` timestamps (default true).
    pub read_timestamps: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            eol_required: false,
            read_timestamps: true,
        }
    }
}

/// Parses one datagram's payload into accepted messages and rejected lines.
pub fn parse_datagram(payload: &[u8], options: ParseOptions) -> (Vec<Message>, Vec<Malformed>) {
    let text = String::from_utf8_lossy(payload);
    let mut messages = Vec::new();
    let mut malformed = Vec::new();
    let ends_with_newline = text.ends_with('\n');
    let lines: Vec<&str> = text.split('\n').collect();
    let last = lines.len() - 1;
    for (index, line) in lines.into_iter().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if options.eol_required && index == last && !ends_with_newline {
            malformed.push(Malformed {
                line: line.to_owned(),
                reason: "final line without end of line",
            });
            continue;
        }
        match parse_line(line, options) {
            Ok(message) => messages.push(message),
            Err(reason) => malformed.push(Malformed {
                line: line.to_owned(),
                reason,
            }),
        }
    }
    (messages, malformed)
}

/// Parses one line (without its `\n`) following the Agent's rules.
pub fn parse_line(line: &str, options: ParseOptions) -> Result<Message, &'static str> {
    if line.starts_with("_e{") {
        parse_event(line).map(Message::Event)
    } else if line.starts_with("_sc") {
        parse_service_check(line).map(Message::ServiceCheck)
    } else {
        parse_metric(line, options).map(Message::Metric)
    }
}

/// Go's `strconv.ParseFloat(s, 64)`: decimal and hex floats, `inf`/`infinity`/`nan` in any case,
/// an optional sign, `_` between digits only with a base prefix.
pub fn parse_go_float(text: &str) -> Option<f64> {
    let (sign, unsigned) = match text.as_bytes().first()? {
        b'+' => (1.0, &text[1..]),
        b'-' => (-1.0, &text[1..]),
        _ => (1.0, text),
    };
    let lower = unsigned.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity") {
        return Some(sign * f64::INFINITY);
    }
    if lower == "nan" {
        return Some(f64::NAN);
    }
    if let Some(hex) = lower.strip_prefix("0x") {
        return parse_hex_float(&hex.replace('_', "")).map(|v| sign * v);
    }
    if unsigned.is_empty()
        || !unsigned
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    unsigned.parse::<f64>().ok().map(|v| sign * v)
}

fn parse_hex_float(hex: &str) -> Option<f64> {
    let (mantissa, exponent) = match hex.split_once('p') {
        Some((mantissa, exponent)) => (mantissa, exponent.parse::<i32>().ok()?),
        None => (hex, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let mut value = 0.0f64;
    for digit in whole.chars() {
        value = value * 16.0 + f64::from(digit.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for digit in fraction.chars() {
        value += f64::from(digit.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some(value * 2f64.powi(exponent))
}

fn parse_tags(field: &str) -> Vec<String> {
    field.split(',').map(str::to_owned).collect()
}

fn parse_metric(line: &str, options: ParseOptions) -> Result<MetricMessage, &'static str> {
    let mut fields = line.split('|');
    let first = fields.next().unwrap_or_default();
    let kind = fields.next().ok_or("metric without `|`")?;
    let (name, raw_values) = first
        .split_once(':')
        .ok_or("metric without `:` before the type")?;
    if name.is_empty() {
        return Err("empty metric name");
    }
    if raw_values.is_empty() {
        return Err("empty metric value");
    }
    if !matches!(kind, "c" | "g" | "h" | "d" | "s" | "ms") {
        return Err("unknown metric type");
    }
    let values = if kind == "s" {
        vec![raw_values.to_owned()]
    } else {
        let mut values = Vec::new();
        for value in raw_values.split(':').filter(|value| !value.is_empty()) {
            parse_go_float(value).ok_or("value is not a float")?;
            values.push(value.to_owned());
        }
        if values.is_empty() {
            return Err("no value left after unpacking");
        }
        values
    };
    let mut message = MetricMessage {
        name: name.to_owned(),
        kind: kind.to_owned(),
        values,
        sample_rate: 1.0,
        tags: Vec::new(),
        timestamp: None,
        container: None,
        external: None,
        cardinality: None,
    };
    for field in fields {
        if let Some(rate) = field.strip_prefix('@') {
            message.sample_rate = parse_go_float(rate).ok_or("sample rate is not a float")?;
        } else if let Some(tags) = field.strip_prefix('#') {
            message.tags = parse_tags(tags);
        } else if let Some(container) = field.strip_prefix("c:") {
            message.container = Some(container.to_owned());
        } else if let Some(external) = field.strip_prefix("e:") {
            message.external = Some(external.to_owned());
        } else if let Some(card) = field.strip_prefix("card:") {
            message.cardinality = Some(card.to_owned());
        } else if let Some(timestamp) = field.strip_prefix('T')
            && options.read_timestamps
        {
            let timestamp = timestamp
                .parse::<i64>()
                .ok()
                .filter(|t| *t >= 1)
                .ok_or("timestamp is not an integer >= 1")?;
            message.timestamp = Some(timestamp as u64);
        }
        // Anything else is a field from a newer protocol version: ignored.
    }
    Ok(message)
}

fn unescape(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace("\\n", "\n")
}

fn parse_event(line: &str) -> Result<EventMessage, &'static str> {
    let bytes = line.as_bytes();
    if bytes.len() < "_e{1,0}".len() {
        return Err("event header too short");
    }
    let close = line.find('}').ok_or("event header without `}`")?;
    let (title_len, text_len) = line[3..close]
        .split_once(',')
        .ok_or("event header without `,`")?;
    let title_len: usize = title_len
        .parse()
        .map_err(|_| "event title length is not a length")?;
    let text_len: usize = text_len
        .parse()
        .map_err(|_| "event text length is not a length")?;
    if title_len == 0 {
        return Err("event with an empty title");
    }
    let body = bytes
        .get(close + 1..)
        .and_then(|rest| rest.strip_prefix(b":"))
        .ok_or("event header without `:`")?;
    let needed = title_len
        .checked_add(1)
        .and_then(|n| n.checked_add(text_len))
        .ok_or("event lengths overflow")?;
    if body.len() < needed {
        return Err("event shorter than its lengths");
    }
    let mut event = EventMessage {
        title: unescape(&body[..title_len]),
        text: unescape(&body[title_len + 1..needed]),
        timestamp: None,
        hostname: None,
        aggregation_key: None,
        priority: "normal".into(),
        source_type: None,
        alert_type: "info".into(),
        tags: Vec::new(),
        container: None,
    };
    let rest = String::from_utf8_lossy(&body[needed..]).into_owned();
    for field in rest.split('|').skip(1) {
        if let Some(value) = field.strip_prefix("d:") {
            event.timestamp = value.parse().ok();
        } else if let Some(value) = field.strip_prefix("h:") {
            event.hostname = Some(value.to_owned());
        } else if let Some(value) = field.strip_prefix("k:") {
            event.aggregation_key = Some(value.to_owned());
        } else if let Some(value) = field.strip_prefix("p:") {
            if matches!(value, "normal" | "low") {
                value.clone_into(&mut event.priority);
            }
        } else if let Some(value) = field.strip_prefix("s:") {
            event.source_type = Some(value.to_owned());
        } else if let Some(value) = field.strip_prefix("t:") {
            if matches!(value, "error" | "warning" | "info" | "success") {
                value.clone_into(&mut event.alert_type);
            }
        } else if let Some(tags) = field.strip_prefix('#') {
            event.tags = parse_tags(tags);
        } else if let Some(value) = field.strip_prefix("c:") {
            event.container = Some(value.to_owned());
        }
    }
    Ok(event)
}

fn parse_service_check(line: &str) -> Result<ServiceCheckMessage, &'static str> {
    let fields: Vec<&str> = line.split('|').collect();
    if fields.len() < 3 {
        return Err("service check with fewer than two `|`");
    }
    if fields[1].is_empty() {
        return Err("service check with an empty name");
    }
    let status = match fields[2] {
        "0" => 0,
        "1" => 1,
        "2" => 2,
        "3" => 3,
        _ => return Err("service check status not 0, 1, 2 or 3"),
    };
    let mut check = ServiceCheckMessage {
        name: fields[1].to_owned(),
        status,
        timestamp: None,
        hostname: None,
        message: None,
        tags: Vec::new(),
        container: None,
    };
    for field in &fields[3..] {
        if let Some(value) = field.strip_prefix("d:") {
            check.timestamp = value.parse().ok();
        } else if let Some(value) = field.strip_prefix("h:") {
            check.hostname = Some(value.to_owned());
        } else if let Some(value) = field.strip_prefix("m:") {
            check.message = Some(value.to_owned());
        } else if let Some(tags) = field.strip_prefix('#') {
            check.tags = parse_tags(tags);
        } else if let Some(value) = field.strip_prefix("c:") {
            check.container = Some(value.to_owned());
        }
    }
    Ok(check)
}

enum Receiver {
    Udp(UdpSocket),
    Unix(UnixDatagram),
    /// A listener and the connection being read (one at a time, like a single client).
    Stream(UnixListener, Option<UnixStream>),
}

impl Receiver {
    /// One payload: a datagram, or one length-prefixed frame of the stream.
    fn recv(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Receiver::Udp(socket) => socket.recv(buf),
            Receiver::Unix(socket) => socket.recv(buf),
            Receiver::Stream(listener, connection) => {
                if connection.is_none() {
                    let (stream, _) = listener.accept()?;
                    stream.set_read_timeout(Some(Duration::from_millis(20)))?;
                    *connection = Some(stream);
                }
                let stream = connection.as_mut().expect("connected above");
                let mut prefix = [0u8; 4];
                let result = read_frame(stream, &mut prefix, buf);
                if matches!(&result, Err(error) if error.kind() != std::io::ErrorKind::WouldBlock
                    && error.kind() != std::io::ErrorKind::TimedOut)
                {
                    *connection = None;
                }
                result
            }
        }
    }
}

fn read_frame(
    stream: &mut UnixStream,
    prefix: &mut [u8; 4],
    buf: &mut [u8],
) -> std::io::Result<usize> {
    use std::io::Read;
    // Wait (with the read timeout) for the first byte only; once a frame started, read it whole.
    let first = stream.read(&mut prefix[..1])?;
    if first == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    stream.set_read_timeout(None)?;
    let result = (|| {
        stream.read_exact(&mut prefix[1..])?;
        let len = u32::from_le_bytes(*prefix) as usize;
        let mut frame = vec![0u8; len];
        stream.read_exact(&mut frame)?;
        let kept = len.min(buf.len());
        buf[..kept].copy_from_slice(&frame[..kept]);
        Ok(len)
    })();
    stream.set_read_timeout(Some(Duration::from_millis(20)))?;
    result
}

#[derive(Default)]
struct Received {
    datagrams: Vec<Vec<u8>>,
    messages: Vec<Message>,
    malformed: Vec<Malformed>,
    truncated: usize,
}

#[derive(Default)]
struct Shared {
    received: Mutex<Received>,
    arrived: Condvar,
    paused: Mutex<bool>,
    resumed: Condvar,
    stop: AtomicBool,
}

/// A running sink. Dropping it stops the reader and removes its Unix socket file.
pub struct DogStatsdSink {
    shared: Arc<Shared>,
    address: String,
    port: Option<u16>,
    path: Option<PathBuf>,
    reader: Option<JoinHandle<()>>,
}

impl DogStatsdSink {
    /// A sink on a free loopback UDP port.
    pub fn udp() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a loopback UDP port");
        let port = socket.local_addr().expect("local address").port();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("read timeout");
        Self::start(
            Receiver::Udp(socket),
            format!("udp://127.0.0.1:{port}"),
            Some(port),
            None,
        )
    }

    /// A sink on a Unix datagram socket at `path` (an existing file there is replaced).
    pub fn unix(path: &Path) -> Self {
        let _ = std::fs::remove_file(path);
        let socket = UnixDatagram::bind(path).expect("bind a Unix datagram socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("read timeout");
        Self::start(
            Receiver::Unix(socket),
            format!("unixgram://{}", path.display()),
            None,
            Some(path.to_owned()),
        )
    }

    fn start(
        receiver: Receiver,
        address: String,
        port: Option<u16>,
        path: Option<PathBuf>,
    ) -> Self {
        let shared = Arc::new(Shared::default());
        let reader_shared = Arc::clone(&shared);
        let reader = std::thread::Builder::new()
            .name("dogstatsd-sink".into())
            .spawn(move || read_loop(receiver, &reader_shared))
            .expect("spawn the sink reader");
        DogStatsdSink {
            shared,
            address,
            port,
            path,
            reader: Some(reader),
        }
    }

    /// The UDP port (panics for a Unix sink).
    pub fn port(&self) -> u16 {
        self.port.expect("a UDP sink")
    }

    /// A sink on a Unix stream socket at `path` (`unixstream://`, length-prefixed frames).
    pub fn unix_stream(path: &Path) -> Self {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).expect("bind a Unix stream socket");
        listener.set_nonblocking(true).expect("non-blocking accept");
        Self::start(
            Receiver::Stream(listener, None),
            format!("unixstream://{}", path.display()),
            None,
            Some(path.to_owned()),
        )
    }

    /// A sink on the given loopback UDP port (to start listening where a client already sends).
    pub fn udp_at(port: u16) -> Self {
        let socket = UdpSocket::bind(("127.0.0.1", port)).expect("bind the loopback UDP port");
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("read timeout");
        Self::start(
            Receiver::Udp(socket),
            format!("udp://127.0.0.1:{port}"),
            Some(port),
            None,
        )
    }

    /// The socket path (panics for a UDP sink).
    pub fn path(&self) -> &Path {
        self.path.as_deref().expect("a Unix sink")
    }

    /// The address as a `DD_DOGSTATSD_URL` value.
    pub fn url(&self) -> &str {
        &self.address
    }

    /// Stops reading: datagrams pile up in the kernel buffer until [`DogStatsdSink::resume`]
    /// (a sink slower than the sender).
    pub fn pause(&self) {
        *lock(&self.shared.paused) = true;
    }

    /// Starts reading again.
    pub fn resume(&self) {
        *lock(&self.shared.paused) = false;
        self.shared.resumed.notify_all();
    }

    /// Every datagram received, as read (at most 8192 bytes each).
    pub fn datagrams(&self) -> Vec<Vec<u8>> {
        lock(&self.shared.received).datagrams.clone()
    }

    /// Every accepted message, in arrival order.
    pub fn messages(&self) -> Vec<Message> {
        lock(&self.shared.received).messages.clone()
    }

    /// The accepted metrics.
    pub fn metrics(&self) -> Vec<MetricMessage> {
        self.messages()
            .into_iter()
            .filter_map(|message| match message {
                Message::Metric(metric) => Some(metric),
                _ => None,
            })
            .collect()
    }

    /// The accepted events.
    pub fn events(&self) -> Vec<EventMessage> {
        self.messages()
            .into_iter()
            .filter_map(|message| match message {
                Message::Event(event) => Some(event),
                _ => None,
            })
            .collect()
    }

    /// The accepted service checks.
    pub fn service_checks(&self) -> Vec<ServiceCheckMessage> {
        self.messages()
            .into_iter()
            .filter_map(|message| match message {
                Message::ServiceCheck(check) => Some(check),
                _ => None,
            })
            .collect()
    }

    /// Lines the Agent would have dropped.
    pub fn malformed(&self) -> Vec<Malformed> {
        lock(&self.shared.received).malformed.clone()
    }

    /// Datagrams longer than the Agent's buffer (the Agent would have cut them).
    pub fn truncated(&self) -> usize {
        lock(&self.shared.received).truncated
    }

    /// Forgets everything received so far.
    pub fn clear(&self) {
        *lock(&self.shared.received) = Received::default();
    }

    /// Waits until at least `count` messages were accepted and returns them all; panics after
    /// `timeout`, showing what did arrive.
    pub fn wait_for_messages(&self, count: usize, timeout: Duration) -> Vec<Message> {
        self.wait_until(timeout, |received| received.messages.len() >= count)
            .unwrap_or_else(|received| {
                panic!(
                    "expected {count} DogStatsD messages within {timeout:?}, got {}: {:#?}\nmalformed: {:#?}",
                    received.messages.len(),
                    received.messages,
                    received.malformed
                )
            })
    }

    /// Waits until `done` holds for the messages received so far; returns them, or `None`
    /// after `timeout`.
    pub fn wait_for(
        &self,
        timeout: Duration,
        done: impl Fn(&[Message]) -> bool,
    ) -> Option<Vec<Message>> {
        self.wait_until(timeout, |received| done(&received.messages))
            .ok()
    }

    fn wait_until(
        &self,
        timeout: Duration,
        done: impl Fn(&Received) -> bool,
    ) -> Result<Vec<Message>, Received> {
        let deadline = Instant::now() + timeout;
        let mut received = lock(&self.shared.received);
        loop {
            if done(&received) {
                return Ok(received.messages.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Received {
                    datagrams: received.datagrams.clone(),
                    messages: received.messages.clone(),
                    malformed: received.malformed.clone(),
                    truncated: received.truncated,
                });
            }
            received = self
                .shared
                .arrived
                .wait_timeout(received, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for DogStatsdSink {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.resume();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read_loop(mut receiver: Receiver, shared: &Shared) {
    // One byte more than the Agent reads, to notice datagrams it would cut.
    let mut buf = vec![0u8; AGENT_BUFFER_SIZE + 1];
    while !shared.stop.load(Ordering::Relaxed) {
        {
            let mut paused = lock(&shared.paused);
            while *paused && !shared.stop.load(Ordering::Relaxed) {
                paused = shared
                    .resumed
                    .wait_timeout(paused, Duration::from_millis(20))
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0;
            }
        }
        let Ok(len) = receiver.recv(&mut buf) else {
            // Nothing to read yet (timeouts, a listener without a client): look again shortly.
            if matches!(receiver, Receiver::Stream(..)) {
                std::thread::sleep(Duration::from_millis(5));
            }
            continue;
        };
        let truncated = len > AGENT_BUFFER_SIZE;
        let payload = &buf[..len.min(AGENT_BUFFER_SIZE)];
        let (messages, malformed) = parse_datagram(payload, ParseOptions::default());
        let mut received = lock(&shared.received);
        received.datagrams.push(payload.to_vec());
        received.messages.extend(messages);
        received.malformed.extend(malformed);
        received.truncated += usize::from(truncated);
        drop(received);
        shared.arrived.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Message, &'static str> {
        parse_line(line, ParseOptions::default())
    }

    #[test]
    fn metrics_follow_the_agent_rules() {
        let Ok(Message::Metric(metric)) = parse(
            "page.views:1:2::3|d|@0.5|#a:b,c|T1656581400|c:ci-1|e:it-false|card:low|x:future",
        ) else {
            panic!("valid line refused");
        };
        assert_eq!(metric.values, ["1", "2", "3"]);
        assert_eq!(metric.sample_rate, 0.5);
        assert_eq!(metric.tags, ["a:b", "c"]);
        assert_eq!(metric.timestamp, Some(1_656_581_400));
        assert_eq!(metric.container.as_deref(), Some("ci-1"));
        assert_eq!(metric.cardinality.as_deref(), Some("low"));
        for (line, reason) in [
            ("page.views", "metric without `|`"),
            ("page.views|c", "metric without `:` before the type"),
            (":1|c", "empty metric name"),
            ("a:|c", "empty metric value"),
            ("a:1|m", "unknown metric type"),
            ("a:1|C", "unknown metric type"),
            ("a:1:x|d", "value is not a float"),
            ("a:::|d", "no value left after unpacking"),
            ("a:1|c|@half", "sample rate is not a float"),
            ("a:1|g|T0", "timestamp is not an integer >= 1"),
            ("a:1|g|T1.5", "timestamp is not an integer >= 1"),
        ] {
            assert_eq!(parse(line), Err(reason), "{line}");
        }
        assert!(parse("a:0x1p-2|g").is_ok());
        assert!(parse("a:1e3|g").is_ok());
        assert!(parse("users:a:b|s").is_ok());
    }

    #[test]
    fn events_and_service_checks_follow_the_agent_rules() {
        let Ok(Message::Event(event)) =
            parse("_e{6,12}:Tïtle|line1\\nline2|t:warning|p:urgent|#a:b")
        else {
            panic!("valid event refused");
        };
        assert_eq!(event.title, "Tïtle");
        assert_eq!(event.text, "line1\nline2");
        assert_eq!(event.alert_type, "warning");
        assert_eq!(event.priority, "normal", "an invalid priority is ignored");
        assert_eq!(event.tags, ["a:b"]);
        for line in [
            "_e{1,0",
            "_e{10}:t|x",
            "_e{0,1}:|x",
            "_e{5,5}:short|x",
            "_e{-1,1}:x|y",
        ] {
            assert!(parse(line).is_err(), "{line}");
        }
        let Ok(Message::ServiceCheck(check)) = parse("_sc|svc|2|#a:b|m:m\\:boom") else {
            panic!("valid check refused");
        };
        assert_eq!(
            (check.status, check.message.as_deref()),
            (2, Some("m\\:boom"))
        );
        for line in ["_sc|svc", "_sc||0", "_sc|svc|4", "_sc|svc|OK"] {
            assert!(parse(line).is_err(), "{line}");
        }
    }

    #[test]
    fn datagrams_split_lines_strip_cr_and_can_require_eol() {
        let (messages, malformed) = parse_datagram(b"a:1|c\r\n\nb:2|c", ParseOptions::default());
        assert_eq!((messages.len(), malformed.len()), (2, 0));
        let options = ParseOptions {
            eol_required: true,
            ..ParseOptions::default()
        };
        let (messages, malformed) = parse_datagram(b"a:1|c\nb:2|c", options);
        assert_eq!((messages.len(), malformed.len()), (1, 1));
    }
}
