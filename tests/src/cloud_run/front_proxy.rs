//! Google's frontend in front of a Cloud Run container: it forwards each request to the
//! container's `PORT` with the headers Google adds (`traceparent`, `X-Cloud-Trace-Context`,
//! `X-Forwarded-For`, `X-Forwarded-Proto`), keeps the caller's other headers, and, with
//! request-based billing, thaws the container for each request and freezes it when none is left.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::container::Freezer;

/// Google samples at most one request per this long per instance for Cloud Trace.
pub const SAMPLING_PERIOD: Duration = Duration::from_secs(10);

/// The Google trace context the frontend gave one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoogleTrace {
    /// The trace id (the caller's, when it sent a `traceparent`).
    pub trace_id: u128,
    /// The frontend's own span id, the request's parent in Google's trace.
    pub span_id: u64,
    /// Whether Google samples the request.
    pub sampled: bool,
}

impl GoogleTrace {
    /// 32 lower-case hex digits.
    pub fn trace_id_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }
}

/// The response header through which the emulator tells the test which Google trace a request
/// got (the real frontend logs it in the request log instead).
pub const GOOGLE_TRACE_HEADER: &str = "x-emulator-google-trace";

pub(super) struct FrontProxy {
    pub(super) port: u16,
    _runtime: tokio::runtime::Runtime,
}

struct Shared {
    upstream: String,
    client: Client<HttpConnector, Full<Bytes>>,
    freezer: Option<Arc<Freezer>>,
    last_sampled: Mutex<Option<Instant>>,
}

impl FrontProxy {
    pub(super) fn start(container_port: u16, freezer: Option<Arc<Freezer>>) -> FrontProxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("the proxy's runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind the front proxy");
        let port = listener.local_addr().expect("local address").port();
        let shared = Arc::new(Shared {
            upstream: format!("http://127.0.0.1:{container_port}"),
            client: Client::builder(TokioExecutor::new()).build_http(),
            freezer,
            last_sampled: Mutex::new(None),
        });
        runtime.spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    continue;
                };
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let shared = Arc::clone(&shared);
                        async move { Ok::<_, Infallible>(shared.forward(request, peer).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FrontProxy {
            port,
            _runtime: runtime,
        }
    }
}

impl Shared {
    async fn forward(&self, request: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        let google = self.google_trace(&request);
        let (mut parts, body) = request.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let headers = &mut parts.headers;
        let traceparent = format!(
            "00-{:032x}-{:016x}-{}",
            google.trace_id,
            google.span_id,
            if google.sampled { "01" } else { "00" }
        );
        headers.insert("traceparent", HeaderValue::from_str(&traceparent).unwrap());
        let cloud = format!(
            "{:032x}/{};o={}",
            google.trace_id,
            google.span_id,
            u8::from(google.sampled)
        );
        headers.insert(
            "x-cloud-trace-context",
            HeaderValue::from_str(&cloud).unwrap(),
        );
        let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(earlier) => format!("{earlier}, {}", peer.ip()),
            None => peer.ip().to_string(),
        };
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_str(&forwarded_for).unwrap(),
        );
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str);
        parts.uri = format!("{}{path}", self.upstream).parse().unwrap();
        let upstream = Request::from_parts(parts, Full::new(body));

        let _billed = self
            .freezer
            .as_ref()
            .map(|freezer| freezer.request_started());
        let answer = match self.client.request(upstream).await {
            Ok(response) => {
                let (parts, body) = response.into_parts();
                match body.collect().await {
                    Ok(body) => Response::from_parts(parts, Full::new(body.to_bytes())),
                    Err(_) => status(502),
                }
            }
            Err(_) => status(503),
        };
        let mut answer = answer;
        answer.headers_mut().insert(
            GOOGLE_TRACE_HEADER,
            HeaderValue::from_str(&traceparent).unwrap(),
        );
        answer
    }

    /// Continues the caller's `traceparent` trace (a new frontend span, the caller's flag), or
    /// starts a trace, sampled at most once per [`SAMPLING_PERIOD`].
    fn google_trace<B>(&self, request: &Request<B>) -> GoogleTrace {
        let span_id = fastrand::u64(1..);
        let caller = request
            .headers()
            .get("traceparent")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                let mut parts = value.split('-');
                let (_, trace, _, flags) =
                    (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
                Some((
                    u128::from_str_radix(trace, 16).ok()?,
                    u8::from_str_radix(flags, 16).ok()?,
                ))
            })
            .filter(|(trace, _)| *trace != 0);
        if let Some((trace_id, flags)) = caller {
            return GoogleTrace {
                trace_id,
                span_id,
                sampled: flags & 1 == 1,
            };
        }
        let now = Instant::now();
        let mut last = self.last_sampled.lock().unwrap();
        let sampled = last.is_none_or(|at| now.duration_since(at) >= SAMPLING_PERIOD);
        if sampled {
            *last = Some(now);
        }
        GoogleTrace {
            trace_id: fastrand::u128(1..),
            span_id,
            sampled,
        }
    }
}

fn status(code: u16) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = http::StatusCode::from_u16(code).unwrap();
    response
}

/// Parses the [`GOOGLE_TRACE_HEADER`] of a response.
pub fn google_trace_of(value: &str) -> Option<GoogleTrace> {
    let mut parts = value.split('-');
    let (_, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    Some(GoogleTrace {
        trace_id: u128::from_str_radix(trace, 16).ok()?,
        span_id: u64::from_str_radix(span, 16).ok()?,
        sampled: flags == "01",
    })
}
