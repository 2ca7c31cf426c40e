//! gRPC through the same layers: [`DatadogServerLayer`](crate::DatadogServerLayer) and
//! [`DatadogClientLayer`](crate::DatadogClientLayer) recognise a gRPC call by its content type
//! (`application/grpc`, `application/grpc+proto`, `application/grpc-web`, ...) and trace it as
//! Datadog's tracers trace gRPC:
//!
//! - operation `grpc.server` or `grpc.client`, span type `rpc`, `span.kind`, `component: grpc`;
//! - resource `/package.Service/Method` (the HTTP method alone for a path that is no method, or
//!   when the server answers `UNIMPLEMENTED`, so callers cannot grow the resources);
//! - `rpc.system: grpc`, `rpc.service`, `rpc.method`, `rpc.grpc.full_method`,
//!   `grpc.method.{path,package,service,name}` and the numeric `grpc.status.code`;
//! - the status is read from the response headers (trailers-only answers, which is how servers
//!   answer most errors) or from the trailers, and the span ends once they have been seen: a
//!   streaming call's span covers the whole stream. A non-200 HTTP answer without a status maps
//!   to the gRPC code clients derive from it; a stream dropped before its status is `CANCELLED`;
//! - `error`, `error.message` (the decoded `grpc-message`) and `error.type` (the code's name) for
//!   the codes in [`GrpcConfig`] (`DD_GRPC_SERVER_ERROR_STATUSES`, default `2-16`;
//!   `DD_GRPC_CLIENT_ERROR_STATUSES`, default `1-16`);
//! - on client spans, `out.host` and `network.destination.port` when the request URI is absolute
//!   (tonic's `Channel` adds the origin below the layer, so tonic calls have none);
//! - the trace travels in the call's metadata, which is HTTP/2 headers: every configured
//!   propagation style is extracted and injected as for HTTP, header tags
//!   (`DD_TRACE_HEADER_TAGS`) and baggage tags apply to metadata.
//!
//! The layers stay generic over HTTP bodies; nothing here depends on tonic. With tonic:
//!
//! ```ignore
//! // Server: every service the router holds.
//! tonic::transport::Server::builder()
//!     .layer(DatadogServerLayer::from_env())
//!     .add_service(health_service)
//!     .serve(address)
//!     .await?;
//!
//! // Client: around a channel.
//! let channel = Channel::from_static("http://127.0.0.1:50051").connect().await?;
//! let traced = tower::ServiceBuilder::new()
//!     .layer(DatadogClientLayer::from_env())
//!     .service(channel);
//! let mut client = HealthClient::new(traced);
//! ```
//!
//! Whether a request is a gRPC call:
//!
//! ```
//! use http::HeaderMap;
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("content-type", "application/grpc+proto".parse().unwrap());
//! assert!(datadog_tower::grpc::is_grpc(&headers));
//! headers.insert("content-type", "application/json".parse().unwrap());
//! assert!(!datadog_tower::grpc::is_grpc(&headers));
//! ```

pub(crate) mod client;
mod config;
mod method;
pub(crate) mod server;
pub mod status;
pub mod tags;

pub use config::GrpcConfig;
pub use method::{GrpcMethod, MAX_PATH_BYTES};
pub use status::{GrpcCodes, GrpcCodesError};

use http::HeaderMap;
use tracing::field::{Field, Value};

const GRPC_CONTENT_TYPE: &[u8] = b"application/grpc";
const GRPC_WEB_CONTENT_TYPE: &[u8] = b"application/grpc-web";

/// Whether `headers` (a request's) carry a gRPC content type: `application/grpc` or any of its
/// variants (`+proto`, `+json`, `-web`, ...).
pub fn is_grpc(headers: &HeaderMap) -> bool {
    call_kind(headers).is_some()
}

/// What a layer remembers of a gRPC call between the request and the end of the response.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Call {
    /// gRPC-Web: the trailers travel inside the body, where the layers do not look.
    pub(crate) web: bool,
    /// A status was tagged; later ones are ignored.
    pub(crate) status_seen: bool,
}

/// The gRPC call `headers` start, if they are gRPC.
pub(crate) fn call_kind(headers: &HeaderMap) -> Option<Call> {
    let content_type = headers.get(http::header::CONTENT_TYPE)?.as_bytes();
    let starts_with = |prefix: &[u8]| {
        content_type
            .get(..prefix.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
    };
    if !starts_with(GRPC_CONTENT_TYPE) {
        return None;
    }
    // `application/grpcfoo` is not gRPC; the type ends or goes on with `+`, `-` or `;`.
    let next = content_type.get(GRPC_CONTENT_TYPE.len());
    if next.is_some_and(|byte| !matches!(byte, b'+' | b'-' | b';' | b' ')) {
        return None;
    }
    Some(Call {
        web: starts_with(GRPC_WEB_CONTENT_TYPE),
        status_seen: false,
    })
}

/// The method tags of a gRPC span, to open it with (one call, rather than a `record` each).
pub(crate) fn method_values<'a>(
    fields: &'a [Field; tags::FIELDS.len()],
    method: Option<&'a GrpcMethod<'a>>,
) -> [(&'a Field, Option<&'a dyn Value>); 8] {
    use tags::field;
    [
        (&fields[field::SYSTEM], Some(&"grpc" as &dyn Value)),
        (
            &fields[field::SERVICE],
            method.map(|m| &m.package_service as &dyn Value),
        ),
        (
            &fields[field::METHOD],
            method.map(|m| &m.method as &dyn Value),
        ),
        (
            &fields[field::FULL_METHOD],
            method.map(|m| &m.full as &dyn Value),
        ),
        (&fields[field::PATH], method.map(|m| &m.full as &dyn Value)),
        (
            &fields[field::PACKAGE],
            method.and_then(|m| m.package.as_ref().map(|p| p as &dyn Value)),
        ),
        (
            &fields[field::SERVICE_NAME],
            method.map(|m| &m.service as &dyn Value),
        ),
        (
            &fields[field::NAME],
            method.map(|m| &m.method as &dyn Value),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let kind = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(http::header::CONTENT_TYPE, value.parse().unwrap());
            call_kind(&headers).map(|call| call.web)
        };
        assert_eq!(kind("application/grpc"), Some(false));
        assert_eq!(kind("Application/GRPC+proto"), Some(false));
        assert_eq!(kind("application/grpc; charset=utf-8"), Some(false));
        assert_eq!(kind("application/grpc-web+proto"), Some(true));
        assert_eq!(kind("application/grpcx"), None);
        assert_eq!(kind("application/json"), None);
        assert_eq!(kind("text/plain"), None);
        assert!(call_kind(&HeaderMap::new()).is_none());
    }
}
