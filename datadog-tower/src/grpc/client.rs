//! gRPC client spans: what [`DatadogClientService`](crate::client::DatadogClientService) does
//! differently when a request is a gRPC call.

use http::{HeaderMap, Response, Uri};
use tracing::field::{Field, Value};
use tracing::{Level, Span};

use super::method::GrpcMethod;
use super::status::{self, CANCELLED, UNKNOWN, code_name};
use super::tags::{self, field as grpc_field};
use super::{GrpcConfig, method_values};
use crate::http_tags;
use crate::span_callsite::SpanTemplate;

const FIELDS: [&str; 9] = [
    http_tags::SPAN_KIND,
    http_tags::SPAN_TYPE,
    http_tags::COMPONENT,
    http_tags::RESOURCE,
    http_tags::OUT_HOST,
    http_tags::NETWORK_DESTINATION_PORT,
    http_tags::ERROR_MESSAGE,
    http_tags::ERROR_TYPE,
    http_tags::ERROR,
];
const ERROR_MESSAGE: usize = 6;
const ERROR_TYPE: usize = 7;
const ERROR: usize = 8;

/// The `grpc.client` callsite of a client layer and its settings.
#[derive(Debug)]
pub(crate) struct ClientShape {
    config: GrpcConfig,
    template: SpanTemplate,
    fields: [Field; FIELDS.len()],
    grpc_fields: [Field; tags::FIELDS.len()],
}

impl ClientShape {
    pub(crate) fn new(config: GrpcConfig, level: Level) -> Self {
        let template = SpanTemplate::new(
            tags::CLIENT_SPAN_NAME,
            "datadog_tower::client",
            level,
            FIELDS
                .iter()
                .chain(tags::FIELDS.iter())
                .map(|name| (*name).to_owned())
                .collect(),
        );
        let fields = std::array::from_fn(|index| {
            template
                .field(index)
                .expect("the callsite declares every client field")
        });
        let grpc_fields = std::array::from_fn(|index| {
            template
                .field(FIELDS.len() + index)
                .expect("the gRPC fields follow the client fields")
        });
        ClientShape {
            config,
            template,
            fields,
            grpc_fields,
        }
    }

    /// Opens the `grpc.client` span of a call to `uri`.
    pub(crate) fn open(&self, uri: &Uri, component: &str) -> Span {
        let method = GrpcMethod::parse(uri.path());
        let resource = method.map_or("POST", |method| method.full);
        let host = uri.host();
        let port = uri.port_u16().or(match uri.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        });
        let fields = &self.fields;
        let [
            system,
            service,
            rpc_method,
            full,
            path,
            package,
            service_name,
            name,
        ] = method_values(&self.grpc_fields, method.as_ref());
        self.template.open([
            (&fields[0], Some(&"client" as &dyn Value)),
            (&fields[1], Some(&tags::SPAN_TYPE as &dyn Value)),
            (&fields[2], Some(&component as &dyn Value)),
            (&fields[3], Some(&resource as &dyn Value)),
            (&fields[4], host.as_ref().map(|h| h as &dyn Value)),
            (&fields[5], port.as_ref().map(|p| p as &dyn Value)),
            system,
            service,
            rpc_method,
            full,
            path,
            package,
            service_name,
            name,
        ])
    }

    /// Tags the status of the response head (trailers-only answers, or a non-200 HTTP status);
    /// `true` when the call has its status.
    pub(crate) fn record_head<B>(&self, span: &Span, response: &Response<B>) -> bool {
        if let Some(code) = status::status_code(response.headers()) {
            let message = status::status_message(response.headers());
            self.record_status(span, code, message.as_deref());
            true
        } else if response.status() == http::StatusCode::OK {
            false
        } else {
            let code = status::from_http_status(response.status());
            let message = http_tags::status_error_message(response.status());
            self.record_status(span, code, Some(&message));
            true
        }
    }

    /// Tags the status the trailers carry; `true` when they carry one.
    pub(crate) fn record_trailers(&self, span: &Span, trailers: &HeaderMap) -> bool {
        let Some(code) = status::status_code(trailers) else {
            return false;
        };
        let message = status::status_message(trailers);
        self.record_status(span, code, message.as_deref());
        true
    }

    /// Tags a call that ended (`completed`) or was dropped without a status.
    pub(crate) fn record_missing(&self, span: &Span, completed: bool, web: bool) {
        if !completed {
            self.record_status(
                span,
                CANCELLED,
                Some("the call was dropped before its status"),
            );
        } else if !web {
            self.record_status(
                span,
                UNKNOWN,
                Some("the response ended without a grpc-status"),
            );
        }
    }

    /// Tags a transport or body error.
    pub(crate) fn record_error(&self, span: &Span, message: &str, kind: &str) {
        span.record(&self.fields[ERROR], true);
        span.record(&self.fields[ERROR_MESSAGE], message);
        span.record(&self.fields[ERROR_TYPE], kind);
    }

    fn record_status(&self, span: &Span, code: u32, message: Option<&str>) {
        span.record(&self.grpc_fields[grpc_field::STATUS_CODE], i64::from(code));
        if self.config.client_error_codes.contains(code) {
            span.record(&self.fields[ERROR], true);
            span.record(
                &self.fields[ERROR_MESSAGE],
                message.unwrap_or(code_name(code)),
            );
            span.record(&self.fields[ERROR_TYPE], code_name(code));
        }
    }
}
