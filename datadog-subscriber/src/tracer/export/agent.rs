//! One `/v0.4/traces` request to the Agent, over TCP or a Unix socket, with a deadline.
//!
//! The worker thread owns a private current-thread tokio runtime, so export works whether or not
//! the application runs tokio, and never touches the application's runtime.
//!
//! What comes back is read only up to [`MAX_REPLY_BYTES`]: the Agent's answer is a small JSON
//! object (`rate_by_service`), and a broken or hostile peer answering hundreds of megabytes must
//! not cost the application that much memory.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use crate::tracer::config::AgentAddress;

/// The most of an Agent reply that is read; the rest is never read (the connection is closed).
pub(crate) const MAX_REPLY_BYTES: usize = 64 * 1024;

/// How one request ended, sorted by what the Agent may have done with the payload.
pub(crate) enum Outcome {
    /// 2xx: the Agent's answer body (at most [`MAX_REPLY_BYTES`]; empty when it was longer).
    Delivered(Bytes),
    /// The Agent cannot have kept the payload: no connection could be made, or it answered that
    /// it did not take it (408, 429, 5xx). Safe to send again.
    NotTaken(String),
    /// The Agent may have received the payload (timeout or broken exchange after the request
    /// was sent) or refused it for good (4xx): sending it again could duplicate spans or cannot
    /// help.
    Lost(String),
}

pub(crate) struct AgentClient {
    address: AgentAddress,
    timeout: Duration,
    runtime: tokio::runtime::Runtime,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where an exchange failed.
enum Failure {
    /// Before any byte of the request left: nothing can have been received.
    Connect(BoxError),
    /// After the request was (perhaps partly) sent.
    Exchange(BoxError),
}

impl AgentClient {
    pub(crate) fn new(address: AgentAddress, timeout: Duration) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        Ok(AgentClient {
            address,
            timeout,
            runtime,
        })
    }

    /// Where traces go, for messages.
    pub(crate) fn describe(&self) -> String {
        self.address.to_string()
    }

    /// POSTs one payload holding `trace_count` traces; gives up at the request timeout
    /// (`DD_TRACE_AGENT_TIMEOUT_SECONDS`) or at `deadline`, whichever comes first.
    pub(crate) fn post_traces(
        &self,
        payload: Bytes,
        trace_count: usize,
        deadline: Option<Instant>,
    ) -> Outcome {
        let mut timeout = self.timeout;
        if let Some(deadline) = deadline {
            timeout = timeout.min(deadline.saturating_duration_since(Instant::now()));
        }
        if timeout.is_zero() {
            return Outcome::NotTaken("no time left before the flush deadline".into());
        }
        let connected = std::sync::atomic::AtomicBool::new(false);
        let result = self.runtime.block_on(async {
            tokio::time::timeout(timeout, self.post(payload, trace_count, &connected)).await
        });
        match result {
            Err(_) if connected.load(std::sync::atomic::Ordering::Relaxed) => Outcome::Lost(
                format!("no answer within {timeout:?}; the payload is not sent again"),
            ),
            Err(_) => Outcome::NotTaken(format!("could not connect within {timeout:?}")),
            Ok(Err(Failure::Connect(error))) => Outcome::NotTaken(error.to_string()),
            Ok(Err(Failure::Exchange(error))) => Outcome::Lost(format!(
                "{error}; the Agent may have received the payload, so it is not sent again"
            )),
            Ok(Ok((status, body))) => match status {
                200..=299 => Outcome::Delivered(body),
                408 | 429 | 500..=599 => Outcome::NotTaken(format!("the Agent answered {status}")),
                _ => Outcome::Lost(format!("the Agent rejected the payload with {status}")),
            },
        }
    }

    async fn post(
        &self,
        payload: Bytes,
        trace_count: usize,
        connected: &std::sync::atomic::AtomicBool,
    ) -> Result<(u16, Bytes), Failure> {
        match &self.address {
            AgentAddress::Http { authority } => {
                let stream = tokio::net::TcpStream::connect(authority.as_str())
                    .await
                    .map_err(|error| Failure::Connect(error.into()))?;
                connected.store(true, std::sync::atomic::Ordering::Relaxed);
                let _ = stream.set_nodelay(true);
                exchange(TokioIo::new(stream), authority, payload, trace_count).await
            }
            #[cfg(unix)]
            AgentAddress::Unix(path) => {
                let stream = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(|error| Failure::Connect(error.into()))?;
                connected.store(true, std::sync::atomic::Ordering::Relaxed);
                exchange(TokioIo::new(stream), "localhost", payload, trace_count).await
            }
            #[cfg(not(unix))]
            AgentAddress::Unix(_) => Err(Failure::Connect(
                "Unix sockets are not supported on this platform".into(),
            )),
        }
    }
}

async fn exchange<T>(
    io: T,
    host: &str,
    payload: Bytes,
    trace_count: usize,
) -> Result<(u16, Bytes), Failure>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    // hyper's read buffer is bounded too (its default is ~400 KB).
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(MAX_REPLY_BYTES)
        .handshake(io)
        .await
        .map_err(|error| Failure::Connect(error.into()))?;
    let request = http::Request::post("/v0.4/traces")
        .header(HOST, host)
        .header(CONTENT_TYPE, "application/msgpack")
        .header("X-Datadog-Trace-Count", trace_count)
        .header("Datadog-Meta-Lang", "rust")
        .header(
            "Datadog-Meta-Lang-Version",
            env!("DATADOG_SUBSCRIBER_RUSTC_VERSION"),
        )
        .header("Datadog-Meta-Tracer-Version", env!("CARGO_PKG_VERSION"))
        .header("Datadog-Client-Computed-Top-Level", "yes")
        .body(Full::new(payload))
        .map_err(|error| Failure::Connect(error.into()))?;
    let exchange = async move {
        let response = sender
            .send_request(request)
            .await
            .map_err(|error| Failure::Exchange(error.into()))?;
        let status = response.status().as_u16();
        let body = read_capped(response.into_body())
            .await
            .map_err(Failure::Exchange)?;
        Ok::<_, Failure>((status, body))
    };
    // The connection is driven alongside the exchange, and dropped (closed) as soon as the
    // exchange is over: an unread remainder of an oversized reply is never read.
    let driven = async {
        let _ = connection.await;
        // Without a connection the exchange fails on its own; let that branch report why.
        std::future::pending::<Result<(u16, Bytes), Failure>>().await
    };
    tokio::select! {
        result = exchange => result,
        result = driven => result,
    }
}

/// Reads `body` up to [`MAX_REPLY_BYTES`]; a longer body gives an empty answer (it would not be
/// a valid `rate_by_service` document anyway).
async fn read_capped(mut body: hyper::body::Incoming) -> Result<Bytes, BoxError> {
    let mut collected = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        if collected.len() + data.len() > MAX_REPLY_BYTES {
            return Ok(Bytes::new());
        }
        collected.extend_from_slice(&data);
    }
    Ok(Bytes::from(collected))
}
