//! The composite propagator: every configured style, in order, with Datadog's resolution rules.

use std::fmt;
use std::sync::Arc;

use datadog_subscriber::context::{SamplingPriority, SpanContext, SpanId, SpanLink, TraceId};

use super::carrier::{Extractor, Injector};
use super::config::{BaggageTagKeys, ExtractBehavior, PropagationConfig, PropagatorBuilder, Style};
use super::injected::InjectedHeaders;
use super::number::hex16;
use super::{b3, b3multi, baggage, datadog, names, tracecontext};

/// Room for the fixed-size values (ids, priority, `traceparent`, `tracestate` items) of every style.
const FIXED_CAPACITY: usize = 256;

/// Room for a usual baggage item (`key=value,`).
const BAGGAGE_ITEM_CAPACITY: usize = 32;

/// Room for the values of one injection without regrowing (escaping may still need more).
fn capacity_hint(context: &SpanContext) -> usize {
    let origin = context.origin.as_ref().map_or(0, String::len);
    let tags: usize = context
        .propagation_tags
        .iter()
        .map(|(key, value)| key.len() + value.len() + 2)
        .sum();
    let vendors: usize = context.tracestate_vendors.iter().map(|v| v.len() + 1).sum();
    // A guess: walking the baggage costs more than one regrowth of the buffer would.
    let baggage = context.baggage.len() * BAGGAGE_ITEM_CAPACITY;
    // Origin and tags appear in both `x-datadog-*` and `tracestate`.
    FIXED_CAPACITY + 2 * (origin + tags) + vendors + baggage
}

/// Extracts and injects trace context in the configured styles, as Datadog SDKs do.
///
/// Cheap to clone (the settings are shared).
///
/// ```
/// use datadog_tower::propagation::Propagator;
/// use http::HeaderMap;
///
/// let propagator = Propagator::default(); // datadog,tracecontext,baggage
/// let mut incoming = HeaderMap::new();
/// incoming.insert("x-datadog-trace-id", "123".parse().unwrap());
/// incoming.insert("x-datadog-parent-id", "456".parse().unwrap());
/// incoming.insert("x-datadog-sampling-priority", "1".parse().unwrap());
/// let mut context = propagator.extract(&incoming).unwrap();
/// assert_eq!(context.trace_id.low(), 123);
///
/// context.span_id = datadog_subscriber::context::SpanId::new(789); // the local span
/// let mut outgoing = HeaderMap::new();
/// propagator.inject(&context, &mut outgoing);
/// assert_eq!(outgoing["x-datadog-parent-id"], "789");
/// assert_eq!(
///     outgoing["traceparent"],
///     "00-0000000000000000000000000000007b-0000000000000315-01"
/// );
/// ```
#[derive(Clone)]
pub struct Propagator {
    inner: Arc<Inner>,
}

struct Inner {
    config: PropagationConfig,
    trace_extract: Vec<Style>,
    trace_inject: Vec<Style>,
    extract_baggage: bool,
    inject_baggage: bool,
    fields: Vec<String>,
}

/// The built-in defaults (`datadog,tracecontext,baggage`, limits of the specification); the
/// environment is not read (use [`Propagator::from_env`]).
impl Default for Propagator {
    fn default() -> Self {
        Propagator::with_config(PropagationConfig::default())
    }
}

impl fmt::Debug for Propagator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Propagator")
            .field("config", &self.inner.config)
            .finish()
    }
}

/// The first context found, while the others are examined.
struct Primary {
    context: SpanContext,
    style: Style,
    /// The raw `tracestate` of a W3C primary, kept only for the `restart` link.
    tracestate: Option<String>,
}

fn link(
    trace_id: TraceId,
    span_id: SpanId,
    priority: Option<SamplingPriority>,
    tracestate: Option<String>,
    reason: &str,
    style: Style,
) -> SpanLink {
    let mut link = SpanLink::new(trace_id, span_id)
        .with_attribute("reason", reason)
        .with_attribute("context_headers", style.as_str());
    link.flags = Some(u32::from(priority.is_some_and(SamplingPriority::is_keep)));
    link.tracestate = tracestate;
    link
}

impl Propagator {
    /// Settings from the environment (`DD_TRACE_PROPAGATION_*`, `OTEL_PROPAGATORS`,
    /// `DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH`, `DD_TRACE_BAGGAGE_*`); bad values warn and fall back.
    pub fn from_env() -> Self {
        Propagator::builder().build()
    }

    /// A builder; settings made in code win over the environment.
    pub fn builder() -> PropagatorBuilder {
        PropagatorBuilder::default()
    }

    /// A propagator with exactly these settings.
    pub fn with_config(config: PropagationConfig) -> Self {
        // Without duplicates: a style written twice would only overwrite itself.
        let trace = |styles: &[Style]| -> Vec<Style> {
            let mut list = Vec::with_capacity(styles.len());
            for &style in styles {
                if style != Style::Baggage && !list.contains(&style) {
                    list.push(style);
                }
            }
            list
        };
        let trace_extract = trace(&config.extract_styles);
        let trace_inject = trace(&config.inject_styles);
        let mut fields = Vec::new();
        for style in &config.inject_styles {
            let style_fields: &[&str] = match style {
                Style::Datadog => &[
                    names::DATADOG_TRACE_ID,
                    names::DATADOG_PARENT_ID,
                    names::DATADOG_SAMPLING_PRIORITY,
                    names::DATADOG_ORIGIN,
                    names::DATADOG_TAGS,
                ],
                Style::TraceContext => &[names::TRACEPARENT, names::TRACESTATE],
                Style::B3Multi => &[
                    names::B3_TRACE_ID,
                    names::B3_SPAN_ID,
                    names::B3_SAMPLED,
                    names::B3_FLAGS,
                ],
                Style::B3 => &[names::B3],
                Style::Baggage => &[names::BAGGAGE],
            };
            fields.extend(style_fields.iter().map(|f| (*f).to_owned()));
        }
        Propagator {
            inner: Arc::new(Inner {
                extract_baggage: config.extract_styles.contains(&Style::Baggage),
                inject_baggage: config.inject_styles.contains(&Style::Baggage),
                config,
                trace_extract,
                trace_inject,
                fields,
            }),
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &PropagationConfig {
        &self.inner.config
    }

    /// Styles read from incoming headers, in order.
    pub fn extract_styles(&self) -> &[Style] {
        &self.inner.config.extract_styles
    }

    /// Styles written to outgoing headers.
    pub fn inject_styles(&self) -> &[Style] {
        &self.inner.config.inject_styles
    }

    /// The header names injection may write.
    pub fn fields(&self) -> &[String] {
        &self.inner.fields
    }

    /// Baggage keys to copy to the local root span as `baggage.<key>` tags.
    pub fn baggage_tag_keys(&self) -> &BaggageTagKeys {
        &self.inner.config.baggage_tag_keys
    }

    /// The remote context of a request.
    ///
    /// `None` when nothing was extracted. A context with zero ids (`!is_valid()`) means: start a
    /// new trace, but keep its span links (`restart` behaviour) and baggage (baggage-only
    /// requests).
    pub fn extract<E: Extractor + ?Sized>(&self, carrier: &E) -> Option<SpanContext> {
        self.extract_with_style(carrier).map(|(context, _)| context)
    }

    /// Like [`extract`](Self::extract), with the style of the continued context (`None` when no
    /// trace is continued).
    pub fn extract_with_style<E: Extractor + ?Sized>(
        &self,
        carrier: &E,
    ) -> Option<(SpanContext, Option<Style>)> {
        let config = &self.inner.config;
        if config.extract_behavior == ExtractBehavior::Ignore {
            return None;
        }
        let baggage = if self.inner.extract_baggage {
            baggage::extract(carrier, config.baggage_max_items, config.baggage_max_bytes)
        } else {
            None
        };
        match (self.resolve(carrier), config.extract_behavior) {
            (None, _) => baggage.map(|baggage| {
                let context = SpanContext {
                    baggage,
                    ..SpanContext::default()
                };
                (context, None)
            }),
            (Some(primary), ExtractBehavior::Restart) => {
                let dropped = primary.context;
                let mut context = SpanContext::default();
                context.span_links.push(link(
                    dropped.trace_id,
                    dropped.span_id,
                    dropped.sampling_priority,
                    primary.tracestate,
                    "propagation_behavior_extract",
                    primary.style,
                ));
                context.baggage = baggage.unwrap_or_default();
                Some((context, None))
            }
            (Some(primary), _) => {
                let mut context = primary.context;
                if let Some(baggage) = baggage {
                    context.baggage = baggage;
                }
                Some((context, Some(primary.style)))
            }
        }
    }

    /// Runs the trace styles in order: first context wins, others become links or are merged.
    fn resolve<E: Extractor + ?Sized>(&self, carrier: &E) -> Option<Primary> {
        let config = &self.inner.config;
        let restart = config.extract_behavior == ExtractBehavior::Restart;
        let mut primary: Option<Primary> = None;
        // The parent id a Datadog context of the primary trace carried (for `_dd.parent_id`).
        let mut datadog_parent: Option<SpanId> = None;
        for &style in &self.inner.trace_extract {
            if style == Style::TraceContext {
                let Some(w3c) = tracecontext::extract(carrier) else {
                    continue;
                };
                match &mut primary {
                    None => {
                        let tracestate = if restart {
                            w3c.raw_state.as_deref().map(str::to_owned)
                        } else {
                            None
                        };
                        primary = Some(Primary {
                            context: w3c.into_context(),
                            style,
                            tracestate,
                        });
                    }
                    Some(primary) if primary.context.trace_id != w3c.trace_id => {
                        primary.context.span_links.push(link(
                            w3c.trace_id,
                            w3c.parent_id,
                            Some(w3c.priority()),
                            w3c.raw_state.as_deref().map(str::to_owned),
                            "terminated_context",
                            style,
                        ));
                    }
                    Some(primary) => {
                        let context = &mut primary.context;
                        context.tracestate_vendors = w3c.vendors();
                        if context.span_id != w3c.parent_id {
                            context.last_parent_id = w3c
                                .last_parent_id()
                                .map(str::to_owned)
                                .or_else(|| datadog_parent.map(|id| hex16(id.as_u64())));
                            context.span_id = w3c.parent_id;
                        }
                    }
                }
            } else {
                let candidate = match style {
                    Style::Datadog => datadog::extract(carrier, config.tags_max_length),
                    Style::B3Multi => b3multi::extract(carrier),
                    Style::B3 => b3::extract(carrier),
                    Style::TraceContext | Style::Baggage => None,
                };
                let Some(candidate) = candidate else {
                    continue;
                };
                let same_trace = primary
                    .as_ref()
                    .is_none_or(|p| p.context.trace_id == candidate.trace_id);
                if style == Style::Datadog && same_trace {
                    datadog_parent = Some(candidate.span_id);
                }
                match &mut primary {
                    None => {
                        primary = Some(Primary {
                            context: candidate,
                            style,
                            tracestate: None,
                        });
                    }
                    Some(primary) if !same_trace && candidate.span_id.is_valid() => {
                        primary.context.span_links.push(link(
                            candidate.trace_id,
                            candidate.span_id,
                            candidate.sampling_priority,
                            None,
                            "terminated_context",
                            style,
                        ));
                    }
                    Some(_) => {}
                }
            }
            if config.extract_first && primary.is_some() {
                break;
            }
        }
        primary
    }

    /// Writes `context` in every inject style (baggage even when the ids are zero).
    pub fn inject<I: Injector + ?Sized>(&self, context: &SpanContext, carrier: &mut I) {
        // The error is for callers that tag spans; plain injection has nowhere to put it.
        let _ = self.inject_reporting(context, carrier);
    }

    /// Like [`inject`](Self::inject), returning the `_dd.propagation_error` value for the local
    /// root span when `x-datadog-tags` could not be sent (`inject_max_size`, `encoding_error`,
    /// `disabled`).
    pub fn inject_reporting<I: Injector + ?Sized>(
        &self,
        context: &SpanContext,
        carrier: &mut I,
    ) -> Option<&'static str> {
        let (headers, error) = self.format(context);
        if !headers.is_empty() {
            carrier.set_all(headers);
        }
        error
    }

    /// Every header of `context` in the inject styles, formatted in one buffer.
    fn format(&self, context: &SpanContext) -> (InjectedHeaders, Option<&'static str>) {
        let config = &self.inner.config;
        let mut headers = InjectedHeaders::with_capacity(capacity_hint(context));
        if self.inner.inject_baggage && !context.baggage.is_empty() {
            let limits = (config.baggage_max_items, config.baggage_max_bytes);
            baggage::inject(&context.baggage, &mut headers, limits);
        }
        if !context.is_valid() {
            return (headers, None);
        }
        let mut error = None;
        for style in &self.inner.trace_inject {
            match style {
                Style::Datadog => {
                    error = datadog::inject(context, &mut headers, config.tags_max_length);
                }
                Style::TraceContext => tracecontext::inject(context, &mut headers),
                Style::B3Multi => b3multi::inject(context, &mut headers),
                Style::B3 => b3::inject(context, &mut headers),
                Style::Baggage => {}
            }
        }
        (headers, error)
    }
}
