//! One `/v0.4/traces` request to the Agent, over TCP or a Unix socket, with a timeout.
//!
//! The worker thread owns a private current-thread tokio runtime, so export works whether or not
//! the application runs tokio, and never touches the application's runtime.

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use crate::tracer::config::AgentAddress;

/// How one request ended.
pub(crate) enum Outcome {
    /// 2xx: the Agent's answer body (it carries `rate_by_service`).
    Delivered(Bytes),
    /// 4xx other than 408/429: retrying the same payload cannot help.
    Rejected(u16),
    /// Connection refused, timeout, 408/429/5xx, broken answer: worth retrying.
    Failed(String),
}

pub(crate) struct AgentClient {
    address: AgentAddress,
    timeout: Duration,
    runtime: tokio::runtime::Runtime,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

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
        match &self.address {
            AgentAddress::Http { authority } => format!("http://{authority}"),
            AgentAddress::Unix(path) => format!("unix://{}", path.display()),
        }
    }

    /// POSTs one payload holding `trace_count` traces.
    pub(crate) fn post_traces(&self, payload: Bytes, trace_count: usize) -> Outcome {
        let result = self.runtime.block_on(async {
            tokio::time::timeout(self.timeout, self.post(payload, trace_count)).await
        });
        match result {
            Err(_) => Outcome::Failed(format!("no answer within {:?}", self.timeout)),
            Ok(Err(error)) => Outcome::Failed(error.to_string()),
            Ok(Ok((status, body))) => match status {
                200..=299 => Outcome::Delivered(body),
                408 | 429 | 500..=599 => Outcome::Failed(format!("the Agent answered {status}")),
                _ => Outcome::Rejected(status),
            },
        }
    }

    async fn post(&self, payload: Bytes, trace_count: usize) -> Result<(u16, Bytes), BoxError> {
        match &self.address {
            AgentAddress::Http { authority } => {
                let stream = tokio::net::TcpStream::connect(authority.as_str()).await?;
                stream.set_nodelay(true)?;
                exchange(TokioIo::new(stream), authority, payload, trace_count).await
            }
            #[cfg(unix)]
            AgentAddress::Unix(path) => {
                let stream = tokio::net::UnixStream::connect(path).await?;
                exchange(TokioIo::new(stream), "localhost", payload, trace_count).await
            }
            #[cfg(not(unix))]
            AgentAddress::Unix(_) => Err("Unix sockets are not supported on this platform".into()),
        }
    }
}

async fn exchange<T>(
    io: T,
    host: &str,
    payload: Bytes,
    trace_count: usize,
) -> Result<(u16, Bytes), BoxError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
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
        .body(Full::new(payload))?;
    let exchange = async move {
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        // Dropping the sender lets the connection future finish.
        drop(sender);
        Ok::<_, BoxError>((status, body))
    };
    // The connection is driven alongside the exchange (no spawned task outlives the request).
    let (result, _) = tokio::join!(exchange, connection);
    result
}
