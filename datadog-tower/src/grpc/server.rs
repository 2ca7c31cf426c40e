//! gRPC server spans: what [`DatadogServerService`](crate::server::DatadogServerService) does
//! differently when a request is a gRPC call.

use http::{HeaderMap, Request, Response};
use tracing::Span;
use tracing::field::Value;

use super::method::GrpcMethod;
use super::status::{self, CANCELLED, UNIMPLEMENTED, UNKNOWN, code_name};
use super::tags::{self, field as grpc_field};
use super::{Call, method_values};
use crate::server::layer::{ServerShared, SpanShape, field};
use crate::server::{RequestState, client_ip};

/// Opens the `grpc.server` span of `request` (the shape's callsite declares the gRPC fields).
pub(crate) fn open_span<B>(shared: &ServerShared, shape: &SpanShape, request: &Request<B>) -> Span {
    let headers = request.headers();
    let path = request.uri().path();
    let method = GrpcMethod::parse(path);
    // A path that is no method keeps the resource to the HTTP method, as an unmatched route does.
    let resource = method.map_or(request.method().as_str(), |method| method.full);
    let useragent = headers
        .get(http::header::USER_AGENT)
        .and_then(|value| value.to_str().ok());
    let client_ip = client_ip(shared, request);
    let client_ip = client_ip.as_deref();
    let fields = &shape.fields;
    let grpc = shape
        .grpc_fields
        .as_ref()
        .expect("gRPC shapes declare the gRPC fields");
    let [
        system,
        service,
        rpc_method,
        full,
        path,
        package,
        service_name,
        name,
    ] = method_values(grpc, method.as_ref());
    let span = shape.template.open([
        (&fields[field::SPAN_KIND], Some(&"server" as &dyn Value)),
        (
            &fields[field::SPAN_TYPE],
            Some(&tags::SPAN_TYPE as &dyn Value),
        ),
        (
            &fields[field::COMPONENT],
            Some(&&*shared.grpc_component as &dyn Value),
        ),
        (&fields[field::RESOURCE], Some(&resource as &dyn Value)),
        (
            &fields[field::USERAGENT],
            useragent.as_ref().map(|u| u as &dyn Value),
        ),
        (
            &fields[field::CLIENT_IP],
            client_ip.as_ref().map(|ip| ip as &dyn Value),
        ),
        (&fields[field::MEASURED], Some(&1_i64 as &dyn Value)),
        system,
        service,
        rpc_method,
        full,
        path,
        package,
        service_name,
        name,
    ]);
    shape.record_request_headers(&span, headers);
    span
}

/// Tags the response head: the status of a trailers-only answer, or the status gRPC derives
/// from a non-200 HTTP status.
pub(crate) fn tag_head<B>(state: &mut RequestState, response: &Response<B>) {
    if let Some(code) = status::status_code(response.headers()) {
        let message = status::status_message(response.headers());
        record_status(state, code, message.as_deref());
    } else if response.status() != http::StatusCode::OK {
        let code = status::from_http_status(response.status());
        record_status(
            state,
            code,
            Some(&crate::http_tags::status_error_message(response.status())),
        );
    }
}

/// Tags the status the trailers carry.
pub(crate) fn tag_trailers(state: &mut RequestState, trailers: &HeaderMap) {
    if let Some(code) = status::status_code(trailers) {
        let message = status::status_message(trailers);
        record_status(state, code, message.as_deref());
    }
}

/// Tags a call whose body ended (`completed`) or was dropped without any status.
pub(crate) fn finish(state: &mut RequestState, completed: bool) {
    let Some(call) = state.grpc else {
        return;
    };
    if call.status_seen || state.span.is_disabled() {
        return;
    }
    if !completed {
        record_status(
            state,
            CANCELLED,
            Some("the caller went away before the status"),
        );
    } else if !call.web {
        // gRPC-Web carries its trailers inside the body, where this layer does not look.
        record_status(
            state,
            UNKNOWN,
            Some("the response ended without a grpc-status"),
        );
    }
}

fn record_status(state: &mut RequestState, code: u32, message: Option<&str>) {
    if let Some(call) = state.grpc.as_mut() {
        if call.status_seen {
            return;
        }
        *call = Call {
            status_seen: true,
            ..*call
        };
    }
    if state.span.is_disabled() {
        return;
    }
    let Some(grpc) = state.shape().grpc_fields.as_ref() else {
        return;
    };
    state
        .span
        .record(&grpc[grpc_field::STATUS_CODE], i64::from(code));
    if code == UNIMPLEMENTED {
        // The path names no method of this server: keep callers' paths out of the resources.
        state
            .span
            .record(&state.shape().fields[field::RESOURCE], "POST");
    }
    if state.shared.grpc.server_error_codes.contains(code) {
        state.record_error(message.unwrap_or(code_name(code)), Some(code_name(code)));
    }
}
