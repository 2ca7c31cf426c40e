use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;
use tracing::Span;

use super::layer::ClientShared;

pin_project! {
    /// The response future of [`DatadogClientService`](super::DatadogClientService): polls the
    /// client inside the client span and closes the span when the response head arrives.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Span,
        shared: Arc<ClientShared>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, span: Span, shared: Arc<ClientShared>) -> Self {
        ResponseFuture {
            inner,
            span,
            shared,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: std::fmt::Display,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.span.enter();
            ready!(this.inner.poll(cx))
        };
        match &result {
            Ok(response) => this.shared.record_status(this.span, response.status()),
            Err(error) => {
                this.shared
                    .record_error(this.span, &error.to_string(), std::any::type_name::<E>());
            }
        }
        // The span closes now rather than when this future is dropped.
        *this.span = Span::none();
        Poll::Ready(result)
    }
}
