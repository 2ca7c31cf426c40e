//! An outgoing call, traced: `GET /downstream` calls another HTTP service through
//! `DatadogClientLayer`, which opens a client span and sends the trace context along.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Request, StatusCode, Uri};
use datadog_tower::DatadogClientLayer;
use datadog_tower::client::DatadogClientService;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::{Layer, ServiceExt};

/// hyper's pooled HTTP/1 client wrapped by the Datadog client layer.
pub type TracedClient = DatadogClientService<Client<HttpConnector, Empty<Bytes>>>;

/// What `GET /downstream` calls and how.
#[derive(Clone)]
pub struct Downstream {
    client: TracedClient,
    url: Uri,
}

impl Downstream {
    /// A client for `url`, traced with the `DD_*` settings.
    pub fn new(url: Uri) -> Downstream {
        let client = Client::builder(TokioExecutor::new()).build_http();
        Downstream {
            client: DatadogClientLayer::from_env().layer(client),
            url,
        }
    }
}

/// Calls the downstream service and answers with what it said; `502 Bad Gateway` when it cannot
/// be reached or fails.
pub async fn call(State(downstream): State<Downstream>) -> (StatusCode, Body) {
    let request = Request::get(downstream.url.clone())
        .body(Empty::new())
        .expect("a GET of a parsed URI is a valid request");
    let response = match downstream.client.oneshot(request).await {
        Ok(response) => response,
        Err(error) => return bad_gateway(&downstream.url, &error),
    };
    let status = response.status();
    match response.into_body().collect().await {
        Ok(body) if status.is_success() => {
            tracing::info!("{} answered {status}", downstream.url);
            (StatusCode::OK, Body::from(body.to_bytes()))
        }
        Ok(_) => bad_gateway(&downstream.url, &format!("it answered {status}")),
        Err(error) => bad_gateway(&downstream.url, &error),
    }
}

fn bad_gateway(url: &Uri, error: &dyn std::fmt::Display) -> (StatusCode, Body) {
    tracing::warn!("calling {url} failed: {error}");
    (
        StatusCode::BAD_GATEWAY,
        Body::from(format!("calling {url} failed\n")),
    )
}
