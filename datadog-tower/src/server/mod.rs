//! The server layer: continues the caller's trace and traces every request as a Datadog web span.
//!
//! For each request [`DatadogServerLayer`] extracts the upstream context with its
//! [`Propagator`](crate::propagation::Propagator), opens an `http.request` span
//! (`span.kind: server`, `span.type: web`) whose remote parent is that context, runs the inner
//! service inside it, tags the response, and closes the span when the response body has been sent
//! (or dropped early, tagged `http.response.body.dropped: true`).
//!
//! Tags follow Datadog's HTTP conventions: `resource` is `"<METHOD> <route template>"` read from
//! axum's `MatchedPath` (the method alone when no route matched: 404s, or the layer placed outside
//! the router), `http.method`, `http.route`, `http.url` (query string obfuscated, see
//! [`config`](crate::config)), `http.useragent`, `http.host`, `http.client_ip` (opt-in),
//! `http.status_code`, request/response header tags, and `error.message` / `error.type` for error
//! statuses, service errors and panics. The tracer adds the `baggage.<key>` tags
//! (`DD_TRACE_BAGGAGE_TAG_KEYS`) as it continues the caller's trace.
//!
//! gRPC calls (content type `application/grpc*`) get `grpc.server` spans instead; see
//! [`grpc`](crate::grpc).
//!
//! When `RUST_LOG` filters the request span out, the inner service still runs inside the remote
//! trace ([`with_remote_parent`](datadog_subscriber::tracer::with_remote_parent)): its logs,
//! its child spans and its outgoing calls keep the caller's trace id.
//!
//! Add it with [`Router::layer`](https://docs.rs/axum/latest/axum/struct.Router.html#method.layer)
//! so that the route template is known (a layer wrapped around the whole router runs before routing
//! and only sees the method):
//!
//! ```
//! use axum::{Router, routing::get};
//! use datadog_tower::DatadogServerLayer;
//!
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(|| async { "hello" }))
//!     .layer(DatadogServerLayer::from_env());
//! ```

mod body;
mod future;
pub(crate) mod layer;
mod service;

pub use body::ResponseBody;
pub(crate) use future::RequestState;
pub use future::ResponseFuture;
pub use layer::{DatadogServerLayer, ServerLayerBuilder};
pub use service::DatadogServerService;
pub(crate) use service::client_ip;
