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
        Self::builder().build()
    }

    /// A builder; settings made in code win over the environment.
    pub fn builder() -> ReqwestMiddlewareBuilder {
        ReqwestMiddlewareBuilder::default()
    }
}

impl Default for DatadogReqwestMiddleware {
    /// Datadog's defaults, ignoring the environment (use [`DatadogReqwestMiddleware::from_env`]
    /// to read it).
    fn default() -> Self {
        Self::builder()
            .propagator(Propagator::default())
            .config(HttpConfig::default())
            .build()
    }
}

/// Builds a [`DatadogReqwestMiddleware`]; anything not set is read from the environment.
///
/// ```
/// use datadog_tower::config::HttpConfig;
/// use datadog_tower::propagation::{Propagator, Style};
/// use datadog_tower::reqwest_middleware::DatadogReqwestMiddleware;
///
/// let middleware = DatadogReqwestMiddleware::builder()
///     .propagator(Propagator::builder().inject_styles([Style::TraceContext]).build())
///     .config(HttpConfig::from_env().client_query_string(false))
///     .build();
/// # let _ = middleware;
/// ```
#[derive(Debug, Default)]
#[must_use]
pub struct ReqwestMiddlewareBuilder {
    propagator: Option<Propagator>,
    config: Option<HttpConfig>,
    level: Option<Level>,
}

impl ReqwestMiddlewareBuilder {
    /// The propagator that writes outgoing headers (default: [`Propagator::from_env`]).
    pub fn propagator(mut self, propagator: Propagator) -> Self {
        self.propagator = Some(propagator);
        self
    }

    /// The HTTP settings (default: [`HttpConfig::from_env`]).
    pub fn config(mut self, config: HttpConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// The `tracing` level of client spans (default `INFO`).
    pub fn level(mut self, level: Level) -> Self {
        self.level = Some(level);
        self
    }

    /// The middleware.
    pub fn build(self) -> DatadogReqwestMiddleware {
        DatadogReqwestMiddleware {
            shared: Arc::new(ClientShared::new(
                self.propagator.unwrap_or_else(Propagator::from_env),
                self.config.unwrap_or_else(HttpConfig::from_env),
                Some(Cow::Borrowed("reqwest")),
                self.level.unwrap_or(Level::INFO),
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
