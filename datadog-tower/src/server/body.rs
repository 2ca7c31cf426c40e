use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::future::RequestState;
use super::layer::field;

pin_project! {
    /// The response body of [`DatadogServerService`](super::DatadogServerService): the request
    /// span stays open until this body has been sent completely, and records an early drop.
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        // `Some` until the body ends; dropping it ends the request span.
        state: Option<Finish>,
    }
}

/// Ends the request span; tags `http.response.body.dropped` when dropped before the body ended.
pub(crate) struct Finish {
    state: RequestState,
    completed: bool,
}

impl Drop for Finish {
    fn drop(&mut self) {
        if self.state.grpc.is_some() {
            crate::grpc::server::finish(&mut self.state, self.completed);
        }
        if !self.completed && !self.state.head && !self.state.span.is_disabled() {
            self.state
                .span
                .record(&self.state.shape().fields[field::BODY_DROPPED], true);
        }
    }
}

impl<B: Body> ResponseBody<B> {
    pub(crate) fn new(inner: B, state: RequestState) -> Self {
        // A body that is already complete is never polled (hyper checks `is_end_stream` first).
        let completed = inner.is_end_stream();
        ResponseBody {
            inner,
            state: Some(Finish { state, completed }),
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
        let mut this = self.project();
        let Some(finish) = this.state.as_mut() else {
            return this.inner.poll_frame(cx);
        };
        let inner = this.inner.as_mut();
        let result = finish.state.in_scope(|| inner.poll_frame(cx));
        let ended = match &result {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Err(error))) => {
                finish
                    .state
                    .record_error(&error.to_string(), Some(std::any::type_name::<B::Error>()));
                true
            }
            Poll::Ready(Some(Ok(frame))) => {
                if finish.state.grpc.is_some()
                    && let Some(trailers) = frame.trailers_ref()
                {
                    crate::grpc::server::tag_trailers(&mut finish.state, trailers);
                }
                this.inner.is_end_stream()
            }
            Poll::Pending => false,
        };
        if ended {
            finish.completed = true;
            // Dropping the state closes the span now, not when the connection drops the body.
            *this.state = None;
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
