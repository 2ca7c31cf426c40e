//! Datadog's gRPC span conventions: span names, span type and tag names.
//!
//! Where Datadog's tracers differ, the choice follows the majority: operation names
//! `grpc.server` / `grpc.client` (dd-trace-go, dd-trace-js, dd-trace-java), span type `rpc`
//! (dd-trace-go, dd-trace-java), `rpc.system`, `rpc.service` and `rpc.grpc.full_method`
//! (dd-trace-go), `rpc.method` (OpenTelemetry, dd-trace-go's twirp), `grpc.method.*`
//! (dd-trace-py, dd-trace-js) and the numeric `grpc.status.code` (dd-trace-js, dd-trace-py).

/// The operation name of server spans.
pub const SERVER_SPAN_NAME: &str = "grpc.server";
/// The operation name of client spans.
pub const CLIENT_SPAN_NAME: &str = "grpc.client";
/// The span type of server and client spans.
pub const SPAN_TYPE: &str = "rpc";
/// The default `component` tag.
pub const COMPONENT: &str = "grpc";

/// `grpc`.
pub const RPC_SYSTEM: &str = "rpc.system";
/// `package.Service`.
pub const RPC_SERVICE: &str = "rpc.service";
/// `Method`.
pub const RPC_METHOD: &str = "rpc.method";
/// `/package.Service/Method`.
pub const RPC_GRPC_FULL_METHOD: &str = "rpc.grpc.full_method";
/// `/package.Service/Method`.
pub const GRPC_METHOD_PATH: &str = "grpc.method.path";
/// `package`.
pub const GRPC_METHOD_PACKAGE: &str = "grpc.method.package";
/// `Service`.
pub const GRPC_METHOD_SERVICE: &str = "grpc.method.service";
/// `Method`.
pub const GRPC_METHOD_NAME: &str = "grpc.method.name";
/// The status code, a number (`0` for `OK`, `5` for `NOT_FOUND`).
pub const GRPC_STATUS_CODE: &str = "grpc.status.code";

/// The gRPC fields of server and client spans, in this order.
pub(crate) const FIELDS: [&str; 9] = [
    RPC_SYSTEM,
    RPC_SERVICE,
    RPC_METHOD,
    RPC_GRPC_FULL_METHOD,
    GRPC_METHOD_PATH,
    GRPC_METHOD_PACKAGE,
    GRPC_METHOD_SERVICE,
    GRPC_METHOD_NAME,
    GRPC_STATUS_CODE,
];

/// Positions in [`FIELDS`].
pub(crate) mod field {
    pub(crate) const SYSTEM: usize = 0;
    pub(crate) const SERVICE: usize = 1;
    pub(crate) const METHOD: usize = 2;
    pub(crate) const FULL_METHOD: usize = 3;
    pub(crate) const PATH: usize = 4;
    pub(crate) const PACKAGE: usize = 5;
    pub(crate) const SERVICE_NAME: usize = 6;
    pub(crate) const NAME: usize = 7;
    pub(crate) const STATUS_CODE: usize = 8;
}
