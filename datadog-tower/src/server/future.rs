use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use datadog_subscriber::context::SpanContext;
use datadog_subscriber::tracer::with_remote_parent;
use http::Response;
use pin_project_lite::pin_project;
use tracing::Span;

use super::ResponseBody;
use super::layer::{ServerShared, SpanShape, field};
use crate::header_tags::header_value;
use crate::{grpc, http_tags};

pin_project! {
    /// The response future of [`DatadogServerService`](super::DatadogServerService): polls the
    /// inner future inside the request span and tags the response.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        state: Option<RequestState>,
    }
}

/// What travels from the request to the end of the response body.
pub(crate) struct RequestState {
    pub(crate) span: Span,
    /// The remote context to run under when `span` is disabled.
    pub(crate) remote: Option<Arc<SpanContext>>,
    pub(crate) shared: Arc<ServerShared>,
    /// HEAD responses are never polled for a body; dropping it unread is not an early drop.
    pub(crate) head: bool,
    /// `Some` for gRPC calls: their status comes from the headers or the trailers.
    pub(crate) grpc: Option<grpc::Call>,
}

impl RequestState {
    /// The shape of the request's span.
    pub(crate) fn shape(&self) -> &SpanShape {
        self.shared.shape(self.grpc.is_some())
    }

    /// Runs `work` inside the span, or inside the remote context when the span is disabled.
    pub(crate) fn in_scope<R>(&self, work: impl FnOnce() -> R) -> R {
        if self.span.is_disabled() {
            if self.remote.is_some() {
                with_remote_parent(self.remote.clone(), work)
            } else {
                work()
            }
        } else {
            let _entered = self.span.enter();
            work()
        }
    }

    pub(crate) fn record_error(&self, message: &str, kind: Option<&str>) {
        let fields = &self.shape().fields;
        self.span.record(&fields[field::ERROR], true);
        self.span.record(&fields[field::ERROR_MESSAGE], message);
        if let Some(kind) = kind {
            self.span.record(&fields[field::ERROR_TYPE], kind);
        }
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, state: RequestState) -> Self {
        ResponseFuture {
            inner,
            state: Some(state),
        }
    }
}

/// Tags the span when the inner future panics (the unwinding passes through this guard), so a
/// panic caught further out (tower-http's `CatchPanicLayer`, the runtime) still shows as an error.
struct PanicGuard<'a>(&'a RequestState);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.record_error("the service panicked", Some("panic"));
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
    E: std::fmt::Display,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let state = this
            .state
            .as_ref()
            .expect("ResponseFuture polled after completion");
        let result = {
            let _panic = PanicGuard(state);
            ready!(state.in_scope(|| this.inner.poll(cx)))
        };
        let mut state = this.state.take().expect("checked above");
        Poll::Ready(match result {
            Ok(response) => {
                tag_response(&mut state, &response);
                Ok(response.map(|body| ResponseBody::new(body, state)))
            }
            Err(error) => {
                state.record_error(&error.to_string(), Some(std::any::type_name::<E>()));
                Err(error)
            }
        })
    }
}

fn tag_response<B>(state: &mut RequestState, response: &Response<B>) {
    if state.span.is_disabled() {
        return;
    }
    if state.grpc.is_some() {
        grpc::server::tag_head(state, response);
    } else {
        let status = response.status();
        state
            .span
            .record(&state.shape().fields[field::STATUS_CODE], status.as_str());
        if state
            .shared
            .config
            .server_error_statuses
            .contains(status.as_u16())
        {
            state.record_error(&http_tags::status_error_message(status), None);
        }
    }
    for (header, _, response_field) in &state.shape().header_fields {
        if let Some(value) = header_value(response.headers(), header) {
            state.span.record(response_field, value.as_str());
        }
    }
}
