//! Traced, propagating requests for [`reqwest-middleware`](https://docs.rs/reqwest-middleware)
//! clients (cargo feature `reqwest`).
//!
//! ```
//! use datadog_tower::reqwest_middleware::DatadogReqwestMiddleware;
//!
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(DatadogReqwestMiddleware::from_env())
//!     .build();
//! # let _ = client;
//! ```

use std::borrow::Cow;
use std::sync::Arc;

use http::Extensions;
use reqwest_middleware::{Middleware, Next, Result};
use tracing::{Instrument, Level};

use crate::client::ClientShared;
use crate::config::HttpConfig;
use crate::propagation::Propagator;

/// A `reqwest-middleware` middleware that opens a Datadog client span per request and injects
/// its context, like [`DatadogClientLayer`](crate::DatadogClientLayer).
#[derive(Clone, Debug)]
pub struct DatadogReqwestMiddleware {
    shared: Arc<ClientShared>,
}

impl DatadogReqwestMiddleware {
    /// A middleware configured from the `DD_*` environment variables.
    pub fn from_env() -> Self {
        Self::new(None, None)
    }

    /// A middleware with an explicit propagator and/or HTTP settings (the rest from the environment).
    pub fn new(propagator: Option<Propagator>, config: Option<HttpConfig>) -> Self {
        DatadogReqwestMiddleware {
            shared: Arc::new(ClientShared::new(
                propagator.unwrap_or_else(Propagator::from_env),
                config.unwrap_or_else(HttpConfig::from_env),
                Some(Cow::Borrowed("reqwest")),
                Level::INFO,
                crate::grpc::GrpcConfig::default(),
            )),
        }
    }
}

#[async_trait::async_trait]
impl Middleware for DatadogReqwestMiddleware {
    async fn handle(
        &self,
        mut request: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<reqwest::Response> {
        let method = request.method().clone();
        let uri: http::Uri = request
            .url()
            .as_str()
            .parse()
            .unwrap_or_else(|_| http::Uri::from_static("/"));
        let span = self.shared.start(&method, &uri, request.headers_mut());
        let result = next.run(request, extensions).instrument(span.clone()).await;
        match &result {
            Ok(response) => self.shared.record_status(&span, response.status()),
            Err(error) => {
                self.shared
                    .record_error(&span, &error.to_string(), "reqwest_middleware::Error");
            }
        }
        result
    }
}
