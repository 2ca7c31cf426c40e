use std::borrow::Cow;
use std::sync::Arc;

use http::HeaderMap;
use http::header::HeaderName;
use tower_layer::Layer;
use tracing::field::Field;
use tracing::{Level, Span};

use super::DatadogServerService;
use crate::config::HttpConfig;
use crate::grpc::{self, GrpcConfig};
use crate::header_tags::header_value;
use crate::http_tags;
use crate::propagation::Propagator;
use crate::span_callsite::SpanTemplate;

/// The fields every server span declares, in this order, before the header tags.
pub(crate) const FIXED_FIELDS: [&str; 16] = [
    http_tags::SPAN_KIND,
    http_tags::SPAN_TYPE,
    http_tags::COMPONENT,
    http_tags::RESOURCE,
    http_tags::HTTP_METHOD,
    http_tags::HTTP_ROUTE,
    http_tags::HTTP_URL,
    http_tags::HTTP_USERAGENT,
    http_tags::HTTP_HOST,
    http_tags::HTTP_CLIENT_IP,
    http_tags::HTTP_STATUS_CODE,
    http_tags::ERROR_MESSAGE,
    http_tags::ERROR_TYPE,
    http_tags::RESPONSE_BODY_DROPPED,
    http_tags::ERROR,
    http_tags::MEASURED,
];

/// Positions in [`FIXED_FIELDS`].
pub(crate) mod field {
    pub(crate) const SPAN_KIND: usize = 0;
    pub(crate) const SPAN_TYPE: usize = 1;
    pub(crate) const COMPONENT: usize = 2;
    pub(crate) const RESOURCE: usize = 3;
    pub(crate) const METHOD: usize = 4;
    pub(crate) const ROUTE: usize = 5;
    pub(crate) const URL: usize = 6;
    pub(crate) const USERAGENT: usize = 7;
    pub(crate) const HOST: usize = 8;
    pub(crate) const CLIENT_IP: usize = 9;
    pub(crate) const STATUS_CODE: usize = 10;
    pub(crate) const ERROR_MESSAGE: usize = 11;
    pub(crate) const ERROR_TYPE: usize = 12;
    pub(crate) const BODY_DROPPED: usize = 13;
    pub(crate) const ERROR: usize = 14;
    pub(crate) const MEASURED: usize = 15;
}

/// Everything the service, its futures and bodies share (one allocation per layer).
#[derive(Debug)]
pub(crate) struct ServerShared {
    pub(crate) propagator: Propagator,
    pub(crate) config: HttpConfig,
    pub(crate) component: Cow<'static, str>,
    /// Whether requests' Google trace context is read (for Cloud Logging's trace field).
    pub(crate) cloud_trace: bool,
    /// The `component` of gRPC spans (the configured one, else `grpc`).
    pub(crate) grpc_component: Cow<'static, str>,
    pub(crate) grpc: GrpcConfig,
    /// The span shape of requests.
    pub(crate) shape: SpanShape,
    /// The same for gRPC calls (`grpc.server` spans).
    pub(crate) grpc_shape: SpanShape,
}

/// A request span's callsite and its resolved fields.
#[derive(Debug)]
pub(crate) struct SpanShape {
    pub(crate) template: SpanTemplate,
    pub(crate) fields: [Field; FIXED_FIELDS.len()],
    /// The gRPC fields, on `grpc.server` shapes.
    pub(crate) grpc_fields: Option<[Field; grpc::tags::FIELDS.len()]>,
    /// Header, request tag field, response tag field.
    pub(crate) header_fields: Vec<(HeaderName, Field, Field)>,
}

impl SpanShape {
    /// Records the request header tags (`DD_TRACE_HEADER_TAGS`) of `headers` on `span`.
    pub(crate) fn record_request_headers(&self, span: &Span, headers: &HeaderMap) {
        if span.is_disabled() {
            return;
        }
        for (header, request_field, _) in &self.header_fields {
            if let Some(value) = header_value(headers, header) {
                span.record(request_field, value.as_str());
            }
        }
    }

    fn new(level: Level, config: &HttpConfig, grpc: bool) -> Self {
        let mut names: Vec<String> = FIXED_FIELDS.iter().map(|name| (*name).to_owned()).collect();
        if grpc {
            names.extend(grpc::tags::FIELDS.iter().map(|name| (*name).to_owned()));
        }
        for name in config.header_tags.tag_names() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let name = if grpc {
            grpc::tags::SERVER_SPAN_NAME
        } else {
            http_tags::SPAN_NAME
        };
        let template = SpanTemplate::new(name, "datadog_tower::server", level, names);
        let fields = std::array::from_fn(|index| {
            template
                .field(index)
                .expect("the fixed fields come first in the callsite")
        });
        let grpc_fields = grpc.then(|| {
            std::array::from_fn(|index| {
                template
                    .field(FIXED_FIELDS.len() + index)
                    .expect("the gRPC fields follow the fixed fields")
            })
        });
        let header_fields = config
            .header_tags
            .iter()
            .filter_map(|tag| {
                Some((
                    tag.header.clone(),
                    template.field_named(&tag.request_tag)?,
                    template.field_named(&tag.response_tag)?,
                ))
            })
            .collect();
        SpanShape {
            template,
            fields,
            grpc_fields,
            header_fields,
        }
    }
}

impl ServerShared {
    /// The span shape of a request (a gRPC call when `grpc`).
    pub(crate) fn shape(&self, grpc: bool) -> &SpanShape {
        if grpc { &self.grpc_shape } else { &self.shape }
    }
}

/// A [`Layer`] that traces and continues incoming requests; see the [module docs](super).
///
/// ```
/// use datadog_tower::DatadogServerLayer;
/// use datadog_tower::config::HttpConfig;
/// use datadog_tower::propagation::Propagator;
///
/// let layer = DatadogServerLayer::builder()
///     .propagator(Propagator::from_env())
///     .config(HttpConfig::from_env().query_string(false))
///     .component("my-framework")
///     .build();
/// # let _ = layer;
/// ```
#[derive(Clone, Debug)]
pub struct DatadogServerLayer {
    shared: Arc<ServerShared>,
}

impl DatadogServerLayer {
    /// A layer configured from the `DD_*` environment variables (propagation and HTTP settings).
    pub fn from_env() -> Self {
        Self::builder().build()
    }

    /// A builder; settings made in code win over the environment.
    pub fn builder() -> ServerLayerBuilder {
        ServerLayerBuilder::default()
    }
}

impl Default for DatadogServerLayer {
    /// Datadog's defaults, ignoring the environment (use [`DatadogServerLayer::from_env`] to
    /// read it).
    fn default() -> Self {
        Self::builder()
            .propagator(Propagator::default())
            .config(HttpConfig::default())
            .cloud_trace(false)
            .build()
    }
}

impl<S> Layer<S> for DatadogServerLayer {
    type Service = DatadogServerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DatadogServerService::new(inner, self.shared.clone())
    }
}

/// Builds a [`DatadogServerLayer`]; anything not set is read from the environment.
#[derive(Debug, Default)]
pub struct ServerLayerBuilder {
    propagator: Option<Propagator>,
    config: Option<HttpConfig>,
    component: Option<Cow<'static, str>>,
    level: Option<Level>,
    cloud_trace: Option<bool>,
    grpc: Option<GrpcConfig>,
}

impl ServerLayerBuilder {
    /// The propagator that reads incoming headers (default: [`Propagator::from_env`]).
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

    /// The `component` tag (default `axum` with the `axum` feature, else `tower`; `grpc` on
    /// gRPC spans).
    pub fn component(mut self, component: impl Into<Cow<'static, str>>) -> Self {
        self.component = Some(component.into());
        self
    }

    /// The `tracing` level of request spans (default `INFO`): a filter that leaves this level out
    /// disables the span, while the request still continues the remote trace.
    pub fn level(mut self, level: Level) -> Self {
        self.level = Some(level);
        self
    }

    /// Whether each request's Google trace context (`traceparent`, else `X-Cloud-Trace-Context`,
    /// as Google's frontend sets them) is kept for the `logging.googleapis.com/trace` field of
    /// its log lines (default: on when `K_SERVICE` or `GOOGLE_CLOUD_PROJECT` is set). See
    /// [`crate::cloud_trace`].
    pub fn cloud_trace(mut self, enabled: bool) -> Self {
        self.cloud_trace = Some(enabled);
        self
    }

    /// The layer.
    pub fn build(self) -> DatadogServerLayer {
        let propagator = self.propagator.unwrap_or_else(Propagator::from_env);
        let config = self.config.unwrap_or_else(HttpConfig::from_env);
        let grpc_component = self
            .component
            .clone()
            .unwrap_or(Cow::Borrowed(grpc::tags::COMPONENT));
        let component = self.component.unwrap_or(Cow::Borrowed(DEFAULT_COMPONENT));
        let grpc = self.grpc.unwrap_or_else(GrpcConfig::from_env);

        let level = self.level.unwrap_or(Level::INFO);
        let shape = SpanShape::new(level, &config, false);
        let grpc_shape = SpanShape::new(level, &config, true);
        DatadogServerLayer {
            shared: Arc::new(ServerShared {
                propagator,
                config,
                component,
                cloud_trace: self.cloud_trace.unwrap_or_else(on_google_cloud),
                grpc_component,
                grpc,
                shape,
                grpc_shape,
            }),
        }
    }
}

/// Whether the process runs where Google's frontend sets trace headers and Cloud Logging reads
/// the logs.
fn on_google_cloud() -> bool {
    ["K_SERVICE", "GOOGLE_CLOUD_PROJECT"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
}

#[cfg(feature = "axum")]
const DEFAULT_COMPONENT: &str = "axum";
#[cfg(not(feature = "axum"))]
const DEFAULT_COMPONENT: &str = "tower";
