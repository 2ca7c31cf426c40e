//! Sockets to the Agent: UDP, and on Unix, Unix datagram and Unix stream (length-prefixed).
//!
//! UDP and Unix stream sends never wait: a full socket buffer, a refused port (the sidecar not
//! listening yet) or a vanished Unix socket is reported as a drop, and the socket is re-opened
//! later.
//!
//! A Unix datagram socket is different: its queue in the kernel is short (10 datagrams by
//! default on Linux), so a burst from concurrent requests fills it while the receiver is alive
//! and reading; dropping at once lost a tenth to a quarter of the values under 16 concurrent
//! clients. Like Datadog's Go client, a send then waits for room, at most
//! [`UDS_WRITE_TIMEOUT`]. A receiver that stays full that long is stalled, not busy: the socket
//! stops waiting (sends drop at once, counted) until one send goes through again, so a stalled
//! receiver costs one wait, not one per datagram.

use std::fmt;
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[cfg(unix)]
use std::io::Write;
#[cfg(unix)]
use std::os::unix::net::{UnixDatagram, UnixStream};
#[cfg(unix)]
use std::path::PathBuf;

/// Where the client sends its datagrams. The Unix socket variants exist on Unix only.
///
/// ```
/// use datadog_statsd::{Endpoint, StatsdBuilder};
///
/// let agent = Endpoint::Udp { host: "127.0.0.1".into(), port: 8125 };
/// assert_eq!(agent.to_string(), "udp://127.0.0.1:8125");
/// let statsd = StatsdBuilder::new().endpoint(agent).build();
/// # drop(statsd);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// UDP to a host (name or IP literal) and port.
    Udp {
        /// Host name or IP address.
        host: String,
        /// UDP port.
        port: u16,
    },
    /// A Unix datagram socket (`unix://` or `unixgram://`).
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    UnixDatagram(PathBuf),
    /// A Unix stream socket (`unixstream://`); every payload is prefixed with its length.
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    UnixStream(PathBuf),
}

impl Endpoint {
    /// The Agent's default: UDP to `127.0.0.1:8125`.
    pub fn default_udp() -> Endpoint {
        Endpoint::Udp {
            host: "127.0.0.1".to_owned(),
            port: 8125,
        }
    }

    /// The `client_transport` tag value of client telemetry.
    pub(crate) fn telemetry_name(&self) -> &'static str {
        match self {
            Endpoint::Udp { .. } => "udp",
            #[cfg(unix)]
            Endpoint::UnixDatagram(_) => "uds",
            #[cfg(unix)]
            Endpoint::UnixStream(_) => "uds-stream",
        }
    }

    /// Whether this is a Unix socket (re-opened inline: connecting to a path is one cheap
    /// syscall, where a UDP host name may need DNS).
    fn is_unix_socket(&self) -> bool {
        match self {
            Endpoint::Udp { .. } => false,
            #[cfg(unix)]
            Endpoint::UnixDatagram(_) | Endpoint::UnixStream(_) => true,
        }
    }

    /// The datagram limit the Agent reads in one go: 8192 bytes on loopback and Unix sockets
    /// (fragmentation cannot happen there), 1432 bytes for UDP over a network (Ethernet MTU).
    pub(crate) fn default_max_payload(&self) -> usize {
        match self {
            Endpoint::Udp { host, .. } if !is_loopback(host) => 1432,
            _ => 8192,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Udp { host, port } if host.contains(':') => {
                write!(f, "udp://[{host}]:{port}")
            }
            Endpoint::Udp { host, port } => write!(f, "udp://{host}:{port}"),
            #[cfg(unix)]
            Endpoint::UnixDatagram(path) => write!(f, "unixgram://{}", path.display()),
            #[cfg(unix)]
            Endpoint::UnixStream(path) => write!(f, "unixstream://{}", path.display()),
        }
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// How long a send on a Unix datagram socket waits for room in the receiver's queue.
#[cfg(unix)]
pub(crate) const UDS_WRITE_TIMEOUT: Duration = Duration::from_millis(50);

/// A payload that was not handed to the kernel: why, and the error that said so.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: Dropped,
    pub(crate) error: io::Error,
}

impl Failure {
    fn unreachable(error: io::Error) -> Failure {
        Failure {
            kind: Dropped::Unreachable,
            error,
        }
    }
}

/// Why a payload was not handed to the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dropped {
    /// The socket buffer is full (`EAGAIN`, `ENOBUFS`).
    Full,
    /// Nobody listens (`ECONNREFUSED`, missing socket file), or the socket is being re-opened.
    Unreachable,
    /// Any other error.
    Failed,
}

enum Socket {
    Udp(UdpSocket),
    #[cfg(unix)]
    Datagram {
        socket: UnixDatagram,
        /// The receiver stayed full for a whole [`UDS_WRITE_TIMEOUT`]: sends do not wait (the
        /// socket is non-blocking) until one goes through.
        stalled: bool,
    },
    #[cfg(unix)]
    Stream {
        stream: UnixStream,
        /// The unwritten tail of a frame: it must go out before the next frame, or the stream
        /// would be corrupted.
        pending: Vec<u8>,
    },
}

struct Connection {
    socket: Option<Socket>,
    last_attempt: Option<Instant>,
    /// Why the socket could not be opened, for the first send's report.
    open_error: Option<io::Error>,
}

/// The client's socket, behind a lock held only for one non-blocking send.
pub(crate) struct Transport {
    endpoint: Endpoint,
    reconnect_interval: Duration,
    connection: Mutex<Connection>,
}

impl Transport {
    /// Opens the socket (resolving a UDP host name once here, off the request path). Failure is
    /// not an error: sends are counted as drops until a later attempt succeeds.
    pub(crate) fn new(endpoint: Endpoint, reconnect_interval: Duration) -> Transport {
        let (socket, open_error) = match open(&endpoint) {
            Ok(socket) => (Some(socket), None),
            Err(error) => (None, Some(error)),
        };
        Transport {
            endpoint,
            reconnect_interval,
            connection: Mutex::new(Connection {
                socket,
                last_attempt: Some(Instant::now()),
                open_error,
            }),
        }
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Sends one payload; only a Unix datagram socket may wait, at most [`UDS_WRITE_TIMEOUT`].
    pub(crate) fn send(&self, payload: &[u8]) -> Result<(), Failure> {
        let mut connection = self
            .connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if connection.socket.is_none() {
            // Unix sockets re-open inline: connecting to a path is one cheap syscall. A UDP
            // host name may need DNS, so that waits for `maintain` on the background thread.
            if self.endpoint.is_unix_socket() && self.reconnect_due(&connection) {
                connection.last_attempt = Some(Instant::now());
                match open(&self.endpoint) {
                    Ok(socket) => connection.socket = Some(socket),
                    Err(error) => connection.open_error = Some(error),
                }
            }
        }
        let Some(socket) = connection.socket.as_mut() else {
            let error = connection.open_error.take().unwrap_or_else(|| {
                io::Error::new(ErrorKind::NotConnected, "the socket is not open yet")
            });
            let failure = Failure::unreachable(io::Error::new(error.kind(), error.to_string()));
            connection.open_error = Some(error);
            return Err(failure);
        };
        let result = match socket {
            Socket::Udp(socket) => socket.send(payload).map(drop),
            #[cfg(unix)]
            Socket::Datagram { socket, stalled } => send_datagram(socket, stalled, payload),
            #[cfg(unix)]
            Socket::Stream { stream, pending } => send_frame(stream, pending, payload),
        };
        match result {
            Ok(()) => Ok(()),
            Err(error) => {
                let kind = classify(&error);
                // A refused UDP send only reports an earlier ICMP error; the socket stays
                // usable. A Unix socket whose peer went away must be re-opened.
                let keep = socket.is_udp() || kind == Dropped::Full;
                if !keep {
                    connection.socket = None;
                }
                Err(Failure { kind, error })
            }
        }
    }

    /// Re-opens a socket that could not be opened yet (e.g. a host name that did not resolve);
    /// called from the background thread, where waiting on DNS harms nobody.
    pub(crate) fn maintain(&self) {
        let due = {
            let connection = self
                .connection
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            connection.socket.is_none() && self.reconnect_due(&connection)
        };
        if due {
            let opened = open(&self.endpoint);
            let mut connection = self
                .connection
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            connection.last_attempt = Some(Instant::now());
            if connection.socket.is_none() {
                match opened {
                    Ok(socket) => connection.socket = Some(socket),
                    Err(error) => connection.open_error = Some(error),
                }
            }
        }
    }

    fn reconnect_due(&self, connection: &Connection) -> bool {
        connection
            .last_attempt
            .is_none_or(|at| at.elapsed() >= self.reconnect_interval)
    }
}

impl Socket {
    fn is_udp(&self) -> bool {
        match self {
            Socket::Udp(_) => true,
            #[cfg(unix)]
            Socket::Datagram { .. } | Socket::Stream { .. } => false,
        }
    }
}

fn classify(error: &io::Error) -> Dropped {
    match error.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => Dropped::Full,
        ErrorKind::ConnectionRefused
        | ErrorKind::NotFound
        | ErrorKind::NotConnected
        | ErrorKind::BrokenPipe
        | ErrorKind::ConnectionReset => Dropped::Unreachable,
        _ if error.raw_os_error() == Some(no_buffer_space()) => Dropped::Full,
        _ => Dropped::Failed,
    }
}

/// `ENOBUFS` on Linux and the BSDs (a full Unix datagram queue on some kernels), `WSAENOBUFS` on
/// Windows.
fn no_buffer_space() -> i32 {
    if cfg!(target_os = "linux") {
        105
    } else if cfg!(windows) {
        10055
    } else {
        55
    }
}

/// One datagram on a Unix socket: waits up to [`UDS_WRITE_TIMEOUT`] for room unless the
/// receiver is known to be stalled; a timeout marks it stalled, a send that goes through clears it.
#[cfg(unix)]
fn send_datagram(socket: &UnixDatagram, stalled: &mut bool, payload: &[u8]) -> io::Result<()> {
    match socket.send(payload) {
        Ok(_) => {
            if *stalled {
                // Room again: back to waiting (briefly) for room.
                socket.set_nonblocking(false)?;
                *stalled = false;
            }
            Ok(())
        }
        Err(error) if !*stalled && matches!(classify(&error), Dropped::Full) => {
            // A whole timeout without room: stop waiting until the receiver catches up.
            socket.set_nonblocking(true)?;
            *stalled = true;
            Err(error)
        }
        Err(error) => Err(error),
    }
}

#[cfg(unix)]
fn send_frame(stream: &mut UnixStream, pending: &mut Vec<u8>, payload: &[u8]) -> io::Result<()> {
    if !pending.is_empty() {
        let written = stream.write(pending)?;
        pending.drain(..written);
        if !pending.is_empty() {
            return Err(ErrorKind::WouldBlock.into());
        }
    }
    let mut frame = Vec::with_capacity(4 + payload.len());
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(payload);
    let written = stream.write(&frame)?;
    if written < frame.len() {
        // Part of the frame is in the kernel: the rest must follow before anything else.
        pending.extend_from_slice(&frame[written..]);
    }
    Ok(())
}

fn open(endpoint: &Endpoint) -> io::Result<Socket> {
    match endpoint {
        Endpoint::Udp { host, port } => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let address = (host, *port)
                .to_socket_addrs()?
                .next()
                .ok_or_else(|| io::Error::new(ErrorKind::NotFound, "host name without address"))?;
            let local: SocketAddr = if address.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                ([0u16; 8], 0).into()
            };
            let socket = UdpSocket::bind(local)?;
            socket.set_nonblocking(true)?;
            // Connected, so the kernel reports a refused port (sidecar not up yet) to us.
            socket.connect(address)?;
            Ok(Socket::Udp(socket))
        }
        #[cfg(unix)]
        Endpoint::UnixDatagram(path) => {
            let socket = UnixDatagram::unbound()?;
            // Blocking with a short timeout: see the module documentation.
            socket.set_write_timeout(Some(UDS_WRITE_TIMEOUT))?;
            socket.connect(path)?;
            Ok(Socket::Datagram {
                socket,
                stalled: false,
            })
        }
        #[cfg(unix)]
        Endpoint::UnixStream(path) => {
            // Non-blocking before connect, so a full listen backlog cannot stall the caller.
            let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
            socket.set_nonblocking(true)?;
            socket.connect(&socket2::SockAddr::unix(path)?)?;
            Ok(Socket::Stream {
                stream: socket.into(),
                pending: Vec::new(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_gets_the_agent_buffer_size_and_networks_the_mtu_size() {
        let udp = |host: &str| Endpoint::Udp {
            host: host.to_owned(),
            port: 8125,
        };
        assert_eq!(udp("127.0.0.1").default_max_payload(), 8192);
        assert_eq!(udp("localhost").default_max_payload(), 8192);
        assert_eq!(udp("[::1]").default_max_payload(), 8192);
        assert_eq!(udp("10.0.0.7").default_max_payload(), 1432);
        assert_eq!(udp("datadog-agent").default_max_payload(), 1432);
        #[cfg(unix)]
        assert_eq!(
            Endpoint::UnixDatagram("/tmp/dsd.socket".into()).default_max_payload(),
            8192
        );
    }

    #[test]
    fn a_refused_udp_port_is_a_drop_not_an_error() {
        // A port nobody listens on: bind, note it, close.
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let transport = Transport::new(
            Endpoint::Udp {
                host: "127.0.0.1".into(),
                port,
            },
            Duration::from_millis(10),
        );
        let outcomes: Vec<_> = (0..4)
            .map(|_| transport.send(b"a:1|c\n").map_err(|failure| failure.kind))
            .collect();
        assert!(
            outcomes.contains(&Err(Dropped::Unreachable)),
            "{outcomes:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_missing_unix_socket_is_unreachable() {
        let transport = Transport::new(
            Endpoint::UnixDatagram("/nonexistent/dsd.socket".into()),
            Duration::from_millis(10),
        );
        let failure = transport.send(b"a:1|c\n").unwrap_err();
        assert_eq!(failure.kind, Dropped::Unreachable);
        assert_eq!(failure.error.kind(), ErrorKind::NotFound, "{failure:?}");
        assert_eq!(transport.endpoint().telemetry_name(), "uds");
    }

    #[cfg(unix)]
    #[test]
    fn a_full_unix_datagram_queue_waits_once_then_drops_until_room() {
        let dir = std::env::temp_dir().join(format!("dsd-transport-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("full.socket");
        let _ = std::fs::remove_file(&path);
        let receiver = UnixDatagram::bind(&path).unwrap();
        let transport = Transport::new(
            Endpoint::UnixDatagram(path.clone()),
            Duration::from_millis(10),
        );
        // Nobody reads: the queue fills, one send waits for the timeout, the rest drop at once.
        let started = Instant::now();
        let mut full = 0;
        for _ in 0..2000 {
            if let Err(failure) = transport.send(&[b'x'; 512]) {
                assert_eq!(failure.kind, Dropped::Full);
                full += 1;
            }
        }
        let took = started.elapsed();
        assert!(full > 0);
        assert!(took < UDS_WRITE_TIMEOUT * 20, "{took:?}");
        // Room again: sends go through.
        let mut buffer = [0u8; 1024];
        receiver.set_nonblocking(true).unwrap();
        while receiver.recv(&mut buffer).is_ok() {}
        assert!(transport.send(b"a:1|c\n").is_ok());
        let _ = std::fs::remove_dir_all(dir);
    }
}
