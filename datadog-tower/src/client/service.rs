use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::ResponseFuture;
use super::layer::ClientShared;
use crate::grpc;

/// The service [`DatadogClientLayer`](super::DatadogClientLayer) wraps around a client.
#[derive(Clone, Debug)]
pub struct DatadogClientService<S> {
    inner: S,
    shared: Arc<ClientShared>,
}

impl<S> DatadogClientService<S> {
    pub(crate) fn new(inner: S, shared: Arc<ClientShared>) -> Self {
        DatadogClientService { inner, shared }
    }

    /// The wrapped client.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for DatadogClientService<S>
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

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let grpc = grpc::call_kind(request.headers());
        let span = if grpc.is_some() {
            let uri = request.uri().clone();
            self.shared.start_grpc(&uri, request.headers_mut())
        } else {
            let (method, uri) = (request.method().clone(), request.uri().clone());
            self.shared.start(&method, &uri, request.headers_mut())
        };
        let future = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        ResponseFuture::new(future, span, self.shared.clone(), grpc)
    }
}
