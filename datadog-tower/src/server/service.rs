use std::net::IpAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use datadog_subscriber::context::SpanContext;
use datadog_subscriber::tracer::with_remote_parent;
use http::{Request, Response};
use tower_service::Service;
use tracing::Span;
use tracing::field::Value;

use super::ResponseFuture;
use super::future::RequestState;
use super::layer::{ServerShared, SpanShape, field};
use crate::propagation::ScannedHeaders;
use crate::{client_ip, grpc, http_tags};

/// The service [`DatadogServerLayer`](super::DatadogServerLayer) wraps around an inner service.
#[derive(Clone, Debug)]
pub struct DatadogServerService<S> {
    inner: S,
    shared: Arc<ServerShared>,
}

impl<S> DatadogServerService<S> {
    pub(crate) fn new(inner: S, shared: Arc<ServerShared>) -> Self {
        DatadogServerService { inner, shared }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for DatadogServerService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: std::fmt::Display,
    ResBody: http_body::Body,
{
    type Response = Response<super::ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // One pass over the headers finds what extraction and Google's trace context read.
        let headers = ScannedHeaders::new(request.headers());
        let mut remote = self.shared.propagator.extract(&headers);
        if self.shared.cloud_trace
            && let Some(cloud) = crate::cloud_trace::from_carrier(&headers)
        {
            // With no Datadog context, a context without ids still carries it to the new trace.
            remote.get_or_insert_with(SpanContext::default).cloud_trace = Some(cloud);
        }
        let remote = remote.map(Arc::new);
        let grpc = grpc::call_kind(request.headers());
        let shape = self.shared.shape(grpc.is_some());
        // The span opens inside the remote context: the tracer continues the caller's trace
        // from it, once, as the span is created.
        let span = with_remote_parent(remote.clone(), || {
            if grpc.is_some() {
                grpc::server::open_span(&self.shared, shape, &request)
            } else {
                open_span(&self.shared, shape, &request)
            }
        });
        let head = request.method() == http::Method::HEAD;
        let mut state = RequestState {
            span,
            remote: None,
            shared: self.shared.clone(),
            head,
            grpc,
        };
        if state.span.is_disabled() {
            // No span to carry the trace: run the service inside the remote context instead, so
            // its logs, child spans and outgoing calls still continue the caller's trace.
            state.remote = remote.filter(|remote| remote.is_valid());
            let future = with_remote_parent(state.remote.clone(), || self.inner.call(request));
            return ResponseFuture::new(future, state);
        }
        let future = {
            let _entered = state.span.enter();
            self.inner.call(request)
        };
        ResponseFuture::new(future, state)
    }
}

fn open_span<B>(shared: &ServerShared, shape: &SpanShape, request: &Request<B>) -> Span {
    let headers = request.headers();
    let method = request.method();
    let route = matched_path(request);
    let host = headers
        .get(http::header::HOST)
        .and_then(|value| value.to_str().ok());
    // The resource and the URL share one allocation (the subscribers copy what they keep).
    let uri = request.uri();
    let mut text = String::with_capacity(
        24 + route.map_or(0, str::len)
            + host.map_or(0, str::len)
            + uri.path().len()
            + uri.query().map_or(0, str::len),
    );
    http_tags::push_resource(&mut text, method, route);
    let resource_end = text.len();
    http_tags::push_url(
        &mut text,
        uri,
        host,
        shared
            .config
            .query_string
            .then_some(&shared.config.obfuscator),
    );
    let (resource, url) = text.split_at(resource_end);
    let useragent = headers
        .get(http::header::USER_AGENT)
        .and_then(|value| value.to_str().ok());
    let client_ip = client_ip(shared, request);
    let client_ip = client_ip.as_deref();
    let fields = &shape.fields;
    let span = shape.template.open([
        (&fields[field::SPAN_KIND], Some(&"server" as &dyn Value)),
        (&fields[field::SPAN_TYPE], Some(&"web" as &dyn Value)),
        (
            &fields[field::COMPONENT],
            Some(&&*shared.component as &dyn Value),
        ),
        (&fields[field::RESOURCE], Some(&resource as &dyn Value)),
        (&fields[field::METHOD], Some(&method.as_str() as &dyn Value)),
        (
            &fields[field::ROUTE],
            route.as_ref().map(|r| r as &dyn Value),
        ),
        (&fields[field::URL], Some(&url as &dyn Value)),
        (
            &fields[field::USERAGENT],
            useragent.as_ref().map(|u| u as &dyn Value),
        ),
        (&fields[field::HOST], host.as_ref().map(|h| h as &dyn Value)),
        (
            &fields[field::CLIENT_IP],
            client_ip.as_ref().map(|ip| ip as &dyn Value),
        ),
        (&fields[field::MEASURED], Some(&1_i64 as &dyn Value)),
    ]);
    shape.record_request_headers(&span, headers);
    span
}

/// The `http.client_ip` of `request`, when the settings ask for it (`DD_TRACE_CLIENT_IP_ENABLED`).
pub(crate) fn client_ip<B>(shared: &ServerShared, request: &Request<B>) -> Option<String> {
    let settings = &shared.config.client_ip;
    if !settings.enabled {
        return None;
    }
    client_ip::resolve(
        request.headers(),
        settings.header.as_deref(),
        peer_ip(request),
    )
    .map(|ip| ip.to_string())
}

#[cfg(feature = "axum")]
fn matched_path<B>(request: &Request<B>) -> Option<&str> {
    request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(axum::extract::MatchedPath::as_str)
}

#[cfg(not(feature = "axum"))]
fn matched_path<B>(_request: &Request<B>) -> Option<&str> {
    None
}

#[cfg(feature = "axum")]
fn peer_ip<B>(request: &Request<B>) -> Option<IpAddr> {
    request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip())
}

#[cfg(not(feature = "axum"))]
fn peer_ip<B>(_request: &Request<B>) -> Option<IpAddr> {
    None
}
