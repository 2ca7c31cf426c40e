//! Datadog trace-context propagation and traced middleware for [tower](https://docs.rs/tower)
//! services (axum, hyper, reqwest).
//!
//! This crate turns HTTP headers into a remote parent context and back, exactly as Datadog's SDKs
//! do (`datadog`, `tracecontext`, `b3multi`, `b3`, `baggage` styles and the `DD_TRACE_PROPAGATION_*`
//! settings), and wraps services so that every request continues its upstream trace and passes it
//! on downstream. The same layers trace gRPC calls (tonic servers and channels) the way Datadog's
//! tracers do, recognised by their content type; see [`grpc`]. The trace model it reads and
//! writes is [`datadog_subscriber::context`]; the tracer that turns request spans into Datadog spans lives in
//! `datadog-subscriber`.
//!
//! ```
//! use datadog_subscriber::context::{SpanContext, SpanId, TraceId};
//!
//! // The context a propagator extracts and a client layer injects.
//! let context = SpanContext::new(TraceId::from_u128(1), SpanId::new(2));
//! assert!(context.is_valid());
//! ```

pub mod propagation;

pub mod client;
pub mod client_ip;
pub mod cloud_trace;
pub mod config;
pub mod grpc;
pub mod header_tags;
pub mod http_tags;
mod inject;
pub mod query_obfuscation;
#[cfg(feature = "reqwest")]
pub mod reqwest_middleware;
pub mod server;
mod span_callsite;

pub use client::DatadogClientLayer;
pub use inject::{inject_current, inject_current_with};
pub use server::DatadogServerLayer;
