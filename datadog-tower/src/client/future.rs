use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;
use tracing::Span;

use super::ResponseBody;
use super::layer::ClientShared;
use crate::grpc;

pin_project! {
    /// The response future of [`DatadogClientService`](super::DatadogClientService): polls the
    /// client inside the client span and closes the span when the response head arrives (for a
    /// gRPC call, when its status arrives, which may be in the trailers).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Span,
        shared: Arc<ClientShared>,
        grpc: Option<grpc::Call>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(
        inner: F,
        span: Span,
        shared: Arc<ClientShared>,
        grpc: Option<grpc::Call>,
    ) -> Self {
        ResponseFuture {
            inner,
            span,
            shared,
            grpc,
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
        let result = {
            let _entered = this.span.enter();
            ready!(this.inner.poll(cx))
        };
        // The span closes now rather than when this future is dropped, unless a gRPC call's body
        // takes it on to its trailers.
        let span = std::mem::replace(this.span, Span::none());
        Poll::Ready(match result {
            Ok(response) => {
                if let Some(call) = this.grpc {
                    if span.is_disabled() || this.shared.grpc.record_head(&span, &response) {
                        Ok(response.map(ResponseBody::plain))
                    } else {
                        let (shared, web) = (this.shared.clone(), call.web);
                        Ok(response
                            .map(|body| ResponseBody::awaiting_trailers(body, span, shared, web)))
                    }
                } else {
                    this.shared.record_status(&span, response.status());
                    Ok(response.map(ResponseBody::plain))
                }
            }
            Err(error) => {
                let kind = std::any::type_name::<E>();
                if this.grpc.is_some() {
                    this.shared
                        .grpc
                        .record_error(&span, &error.to_string(), kind);
                } else {
                    this.shared.record_error(&span, &error.to_string(), kind);
                }
                Err(error)
            }
        })
    }
}
