//! The client layer: traces outgoing requests as Datadog client spans and sends the trace on.
//!
//! [`DatadogClientLayer`] wraps any `tower::Service<http::Request<B>>` client (hyper-util's
//! legacy client, a tower `ServiceBuilder` stack, ...). Each request gets an `http.request` span
//! (`span.kind: client`, `span.type: http`, `out.host`, `http.url`, `http.method`,
//! `http.status_code`, `error.message` for `DD_TRACE_HTTP_CLIENT_ERROR_STATUSES`, default
//! 400-499), and that span's context is injected into the request headers with the propagator's
//! inject styles. When `tracing` filters the client span out, the current context (the enclosing
//! span, or the remote parent of a filtered server span) is injected instead, so the
//! trace still reaches the next service.
//!
//! ```
//! use datadog_tower::DatadogClientLayer;
//! use tower::ServiceBuilder;
//!
//! # fn wrap<C>(client: C) {
//! let traced = ServiceBuilder::new()
//!     .layer(DatadogClientLayer::from_env())
//!     .service(client);
//! # let _ = traced;
//! # }
//! ```
//!
//! gRPC calls (content type `application/grpc*`, a tonic `Channel` for one) get `grpc.client`
//! spans that end when the call's status has been seen; see [`grpc`](crate::grpc).
//!
//! For clients that are not tower services, [`inject_current`](crate::inject_current) writes the
//! current context into any `HeaderMap`.

mod body;
mod future;
mod layer;
mod service;

pub use body::ResponseBody;
pub use future::ResponseFuture;
#[cfg(feature = "reqwest")]
pub(crate) use layer::ClientShared;
pub use layer::{ClientLayerBuilder, DatadogClientLayer};
pub use service::DatadogClientService;
