use std::borrow::Cow;
use std::sync::Arc;

use datadog_subscriber::DatadogSpanExt;
use datadog_subscriber::context::SpanContext;
use http::{HeaderMap, Method, StatusCode, Uri};
use tower_layer::Layer;
use tracing::field::{Field, Value};
use tracing::{Level, Span};

use super::DatadogClientService;
use crate::config::HttpConfig;
use crate::grpc::GrpcConfig;
use crate::grpc::client::ClientShape;
use crate::http_tags;
use crate::propagation::Propagator;
use crate::span_callsite::SpanTemplate;

const FIELDS: [&str; 12] = [
    http_tags::SPAN_KIND,
    http_tags::SPAN_TYPE,
    http_tags::COMPONENT,
    http_tags::RESOURCE,
    http_tags::HTTP_METHOD,
    http_tags::HTTP_URL,
    http_tags::OUT_HOST,
    http_tags::NETWORK_DESTINATION_PORT,
    http_tags::HTTP_STATUS_CODE,
    http_tags::ERROR_MESSAGE,
    http_tags::ERROR_TYPE,
    http_tags::ERROR,
];
const STATUS_CODE: usize = 8;
const ERROR_MESSAGE: usize = 9;
const ERROR_TYPE: usize = 10;
const ERROR: usize = 11;

/// What every client service and response future of one layer share.
#[derive(Debug)]
pub(crate) struct ClientShared {
    pub(crate) propagator: Propagator,
    config: HttpConfig,
    component: Cow<'static, str>,
    template: SpanTemplate,
    fields: [Field; FIELDS.len()],
    /// The `grpc.client` spans of gRPC calls.
    pub(crate) grpc: ClientShape,
    /// The `component` of gRPC spans (the configured one, else `grpc`).
    grpc_component: Cow<'static, str>,
}

impl ClientShared {
    pub(crate) fn new(
        propagator: Propagator,
        config: HttpConfig,
        component: Option<Cow<'static, str>>,
        level: Level,
        grpc: GrpcConfig,
    ) -> Self {
        let template = SpanTemplate::new(
            http_tags::SPAN_NAME,
            "datadog_tower::client",
            level,
            FIELDS.iter().map(|name| (*name).to_owned()).collect(),
        );
        let fields = std::array::from_fn(|index| {
            template
                .field(index)
                .expect("the callsite declares every client field")
        });
        ClientShared {
            propagator,
            config,
            grpc_component: component
                .clone()
                .unwrap_or(Cow::Borrowed(crate::grpc::tags::COMPONENT)),
            component: component.unwrap_or(Cow::Borrowed("tower")),
            template,
            fields,
            grpc: ClientShape::new(grpc, level),
        }
    }

    /// Opens the client span of a request to `uri` and injects its context (or the current one,
    /// when the span is disabled) into `headers`.
    pub(crate) fn start(&self, method: &Method, uri: &Uri, headers: &mut HeaderMap) -> Span {
        let host = uri.host();
        let port = uri.port_u16().or(match uri.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        });
        let url = http_tags::url(
            uri,
            None,
            self.config
                .client_query_string
                .then_some(&self.config.obfuscator),
        );
        let fields = &self.fields;
        let span = self.template.open([
            (&fields[0], Some(&"client" as &dyn Value)),
            (&fields[1], Some(&"http" as &dyn Value)),
            (&fields[2], Some(&&*self.component as &dyn Value)),
            (&fields[3], Some(&method.as_str() as &dyn Value)),
            (&fields[4], Some(&method.as_str() as &dyn Value)),
            (&fields[5], Some(&url.as_str() as &dyn Value)),
            (&fields[6], host.as_ref().map(|h| h as &dyn Value)),
            (&fields[7], port.as_ref().map(|p| p as &dyn Value)),
        ]);
        self.inject(&span, headers);
        span
    }

    /// Opens the `grpc.client` span of a gRPC call to `uri` and injects its context (or the
    /// current one, when the span is disabled) into the call's metadata.
    pub(crate) fn start_grpc(&self, uri: &Uri, headers: &mut HeaderMap) -> Span {
        let span = self.grpc.open(uri, &self.grpc_component);
        self.inject(&span, headers);
        span
    }

    fn inject(&self, span: &Span, headers: &mut HeaderMap) {
        let context = span
            .datadog_context()
            .or_else(datadog_subscriber::current_context);
        if let Some(context) = context.filter(SpanContext::is_valid) {
            self.propagator.inject_header_map(&context, headers);
        }
    }

    pub(crate) fn record_status(&self, span: &Span, status: StatusCode) {
        span.record(&self.fields[STATUS_CODE], status.as_str());
        if self.config.client_error_statuses.contains(status.as_u16()) {
            span.record(&self.fields[ERROR], true);
            span.record(
                &self.fields[ERROR_MESSAGE],
                &*http_tags::status_error_message(status),
            );
        }
    }

    pub(crate) fn record_error(&self, span: &Span, message: &str, kind: &str) {
        span.record(&self.fields[ERROR], true);
        span.record(&self.fields[ERROR_MESSAGE], message);
        span.record(&self.fields[ERROR_TYPE], kind);
    }
}

/// A [`Layer`] that traces outgoing requests and injects the trace; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct DatadogClientLayer {
    shared: Arc<ClientShared>,
}

impl DatadogClientLayer {
    /// A layer configured from the `DD_*` environment variables.
    pub fn from_env() -> Self {
        Self::builder().build()
    }

    /// A builder; settings made in code win over the environment.
    pub fn builder() -> ClientLayerBuilder {
        ClientLayerBuilder::default()
    }
}

impl Default for DatadogClientLayer {
    /// Datadog's defaults, ignoring the environment (use [`DatadogClientLayer::from_env`] to
    /// read it).
    fn default() -> Self {
        Self::builder()
            .propagator(Propagator::default())
            .config(HttpConfig::default())
            .build()
    }
}

impl<S> Layer<S> for DatadogClientLayer {
    type Service = DatadogClientService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DatadogClientService::new(inner, self.shared.clone())
    }
}

/// Builds a [`DatadogClientLayer`]; anything not set is read from the environment.
///
/// ```
/// use datadog_tower::DatadogClientLayer;
/// use datadog_tower::propagation::{Propagator, Style};
///
/// let layer = DatadogClientLayer::builder()
///     .propagator(Propagator::builder().inject_styles([Style::TraceContext]).build())
///     .component("hyper")
///     .build();
/// # let _ = layer;
/// ```
#[derive(Debug, Default)]
pub struct ClientLayerBuilder {
    propagator: Option<Propagator>,
    config: Option<HttpConfig>,
    component: Option<Cow<'static, str>>,
    level: Option<Level>,
    grpc: Option<GrpcConfig>,
}

impl ClientLayerBuilder {
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

    /// The gRPC settings (default: [`GrpcConfig::from_env`]).
    pub fn grpc(mut self, grpc: GrpcConfig) -> Self {
        self.grpc = Some(grpc);
        self
    }

    /// The `component` tag (default `tower`; `grpc` on gRPC spans).
    pub fn component(mut self, component: impl Into<Cow<'static, str>>) -> Self {
        self.component = Some(component.into());
        self
    }

    /// The `tracing` level of client spans (default `INFO`).
    pub fn level(mut self, level: Level) -> Self {
        self.level = Some(level);
        self
    }

    /// The layer.
    pub fn build(self) -> DatadogClientLayer {
        DatadogClientLayer {
            shared: Arc::new(ClientShared::new(
                self.propagator.unwrap_or_else(Propagator::from_env),
                self.config.unwrap_or_else(HttpConfig::from_env),
                self.component,
                self.level.unwrap_or(Level::INFO),
                self.grpc.unwrap_or_else(GrpcConfig::from_env),
            )),
        }
    }
}
