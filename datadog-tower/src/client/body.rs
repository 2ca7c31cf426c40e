use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tracing::Span;

use super::layer::ClientShared;

pin_project! {
    /// The response body of [`DatadogClientService`](super::DatadogClientService). For HTTP it
    /// passes the body through (the client span closed with the response head); for a gRPC call
    /// whose status comes in the trailers it keeps the `grpc.client` span open until they arrive,
    /// so a streaming call's span covers the whole stream.
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        // `Some` while a gRPC call waits for its trailers; dropping it ends the span.
        call: Option<PendingCall>,
    }
}

/// A gRPC call whose status has not been seen yet.
pub(crate) struct PendingCall {
    span: Span,
    shared: Arc<ClientShared>,
    web: bool,
    completed: bool,
    status_seen: bool,
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        if !self.status_seen && !self.span.is_disabled() {
            self.shared
                .grpc
                .record_missing(&self.span, self.completed, self.web);
        }
    }
}

impl<B: Body> ResponseBody<B> {
    /// A body the layer does not look into.
    pub(crate) fn plain(inner: B) -> Self {
        ResponseBody { inner, call: None }
    }

    /// The body of a gRPC call that ends `span` when its trailers arrive.
    pub(crate) fn awaiting_trailers(
        inner: B,
        span: Span,
        shared: Arc<ClientShared>,
        web: bool,
    ) -> Self {
        let completed = inner.is_end_stream();
        ResponseBody {
            inner,
            call: Some(PendingCall {
                span,
                shared,
                web,
                completed,
                status_seen: false,
            }),
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Error: std::fmt::Display,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let result = this.inner.poll_frame(cx);
        let Some(call) = this.call.as_mut() else {
            return result;
        };
        let ended = match &result {
            Poll::Pending => false,
            Poll::Ready(None) => true,
            Poll::Ready(Some(Err(error))) => {
                call.shared.grpc.record_error(
                    &call.span,
                    &error.to_string(),
                    std::any::type_name::<B::Error>(),
                );
                call.status_seen = true;
                true
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    call.status_seen = call.shared.grpc.record_trailers(&call.span, trailers);
                }
                // Trailers are the last frame whatever the inner body says.
                call.status_seen || frame.is_trailers()
            }
        };
        if ended {
            call.completed = true;
            // Dropping the call closes the span now, not when the caller drops the body.
            *this.call = None;
        }
        result
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
