//! The composite propagator: every configured style, in order, with Datadog's resolution rules.

use std::fmt;
use std::sync::Arc;

use datadog_subscriber::context::{SamplingPriority, SpanContext, SpanId, SpanLink, TraceId};

use super::carrier::{Extractor, HeaderWriter, Injector, ScannedHeaders};
use super::config::{ExtractBehavior, PropagationConfig, PropagatorBuilder, Style};
use super::names::{self, Header};
use super::{b3, b3multi, baggage, datadog, tracecontext};

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
    /// The raw `tracestate` of a W3C primary, kept only for a restart's link.
    tracestate: Option<String>,
    /// A W3C context that no Datadog tracer wrote and that no Datadog header confirmed
    /// (only looked at when the settings treat such a context apart).
    foreign: bool,
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

    /// Like [`from_env`](Self::from_env), reading variables through `lookup` (tests, or settings
    /// kept elsewhere).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + 'static) -> Self {
        PropagatorBuilder::from_lookup(lookup).build()
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

    /// The remote context of a request.
    ///
    /// `None` when nothing was extracted. A context with zero ids (`!is_valid()`) means: start a
    /// new trace, but keep its span links (`restart` behaviour) and baggage (baggage-only
    /// requests). For an [`http::HeaderMap`], [`extract_header_map`](Self::extract_header_map)
    /// reads the same context for less.
    pub fn extract<E: Extractor + ?Sized>(&self, carrier: &E) -> Option<SpanContext> {
        self.extract_into(carrier, &mut None)
    }

    /// [`extract`](Self::extract) from an [`http::HeaderMap`], finding every propagation header
    /// in one pass over the map rather than with one lookup per header name: what
    /// [`DatadogServerLayer`](crate::DatadogServerLayer) does for each request.
    ///
    /// ```
    /// use datadog_tower::propagation::Propagator;
    /// use http::HeaderMap;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-datadog-trace-id", "123".parse().unwrap());
    /// headers.insert("x-datadog-parent-id", "456".parse().unwrap());
    /// let context = Propagator::default().extract_header_map(&headers).unwrap();
    /// assert_eq!(context.trace_id.low(), 123);
    /// ```
    pub fn extract_header_map(&self, headers: &http::HeaderMap) -> Option<SpanContext> {
        self.extract(&ScannedHeaders::new(headers))
    }

    /// Like [`extract`](Self::extract), with the style of the continued context (`None` when no
    /// trace is continued).
    pub fn extract_with_style<E: Extractor + ?Sized>(
        &self,
        carrier: &E,
    ) -> Option<(SpanContext, Option<Style>)> {
        let mut style = None;
        let context = self.extract_into(carrier, &mut style)?;
        Some((context, style))
    }

    /// [`extract`](Self::extract), setting `style` to the continued context's style. The
    /// context is built where it is returned: it is a few hundred bytes, and each move of it
    /// through a tuple or a map cost a copy the profile showed.
    fn extract_into<E: Extractor + ?Sized>(
        &self,
        carrier: &E,
        style: &mut Option<Style>,
    ) -> Option<SpanContext> {
        let config = &self.inner.config;
        if config.extract_behavior == ExtractBehavior::Ignore {
            return None;
        }
        let baggage = if self.inner.extract_baggage {
            baggage::extract(carrier, config.baggage_max_items, config.baggage_max_bytes)
        } else {
            None
        };
        let Some(primary) = self.resolve(carrier) else {
            let mut context = SpanContext::default();
            context.baggage = baggage?;
            return Some(context);
        };
        let behavior = if primary.foreign && config.extract_behavior == ExtractBehavior::Continue {
            config.foreign_tracecontext
        } else {
            config.extract_behavior
        };
        if behavior == ExtractBehavior::Continue {
            *style = Some(primary.style);
            let mut context = primary.context;
            if let Some(baggage) = baggage {
                context.baggage = baggage;
            }
            return Some(context);
        }
        // `Ignore` gets here only for a foreign context (the global `Ignore` returned early): a
        // new trace without the link.
        let mut context = SpanContext::default();
        if behavior == ExtractBehavior::Restart {
            let dropped = primary.context;
            context.span_links.push(link(
                dropped.trace_id,
                dropped.span_id,
                dropped.sampling_priority,
                primary.tracestate,
                "propagation_behavior_extract",
                primary.style,
            ));
        }
        context.baggage = baggage.unwrap_or_default();
        Some(context)
    }

    /// Runs the trace styles in order: first context wins, others become links or are merged.
    fn resolve<E: Extractor + ?Sized>(&self, carrier: &E) -> Option<Primary> {
        let config = &self.inner.config;
        let restart = config.extract_behavior == ExtractBehavior::Restart;
        let foreign_restart = config.extract_behavior == ExtractBehavior::Continue
            && config.foreign_tracecontext == ExtractBehavior::Restart;
        // Whether a foreign W3C context is treated otherwise than continued: when it is not,
        // nothing depends on `Primary::foreign` and its header lookup is skipped.
        let foreign_matters = config.extract_behavior == ExtractBehavior::Continue
            && config.foreign_tracecontext != ExtractBehavior::Continue;
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
                        // Datadog headers (in any style order, even unread with
                        // `extract_first`) vouch for the context as much as a `dd=` member.
                        let foreign = foreign_matters
                            && !w3c.written_by_datadog()
                            && carrier.get(names::DATADOG_TRACE_ID).is_none();
                        let tracestate = if restart || (foreign && foreign_restart) {
                            w3c.raw_state.as_deref().map(str::to_owned)
                        } else {
                            None
                        };
                        primary = Some(Primary {
                            context: w3c.into_context(),
                            style,
                            tracestate,
                            foreign,
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
                            context.last_parent_id =
                                w3c.last_parent_id().map(str::to_owned).or_else(|| {
                                    datadog_parent.map(|id| format!("{:016x}", id.as_u64()))
                                });
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
                            foreign: false,
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
    ///
    /// `x-datadog-tags` is left out when a tag breaks its grammar or the header would exceed
    /// the `x-datadog-tags` length limit, as Datadog's SDKs do. For an [`http::HeaderMap`],
    /// [`inject_header_map`](Self::inject_header_map) writes the same headers for less.
    pub fn inject<I: Injector + ?Sized>(&self, context: &SpanContext, carrier: &mut I) {
        let mut set = |header: Header, value: &str| carrier.set(header.name(), value);
        self.write_headers(context, &mut HeaderWriter::to_carrier(&mut set));
    }

    /// [`inject`](Self::inject) into an [`http::HeaderMap`], with one allocation for every
    /// header value together (each value is a slice of one shared buffer) rather than one per
    /// header: the outgoing requests of [`DatadogClientLayer`](crate::DatadogClientLayer) and
    /// [`inject_current`](crate::inject_current) take this path.
    ///
    /// ```
    /// use datadog_subscriber::context::{SpanContext, SpanId, TraceId};
    /// use datadog_tower::propagation::Propagator;
    /// use http::HeaderMap;
    ///
    /// let context = SpanContext::new(TraceId::from_u128(1), SpanId::new(2));
    /// let mut headers = HeaderMap::new();
    /// Propagator::default().inject_header_map(&context, &mut headers);
    /// assert_eq!(headers["x-datadog-trace-id"], "1");
    /// assert_eq!(
    ///     headers["traceparent"],
    ///     "00-00000000000000000000000000000001-0000000000000002-00"
    /// );
    /// ```
    pub fn inject_header_map(&self, context: &SpanContext, headers: &mut http::HeaderMap) {
        let mut out = HeaderWriter::shared();
        if self.write_headers(context, &mut out) {
            out.insert_all(headers);
        }
    }

    /// Writes the headers `context` is injected as to `out`; `false` when there are none. The
    /// writer is borrowed, not moved: it holds the table of every value (a few hundred bytes),
    /// and moving it in and out cost a tenth of an injection.
    fn write_headers(&self, context: &SpanContext, out: &mut HeaderWriter<'_>) -> bool {
        let config = &self.inner.config;
        let with_baggage = self.inner.inject_baggage && !context.baggage.is_empty();
        let with_trace = context.is_valid() && !self.inner.trace_inject.is_empty();
        if !with_baggage && !with_trace {
            return false;
        }
        if with_baggage {
            let limits = (config.baggage_max_items, config.baggage_max_bytes);
            baggage::inject(&context.baggage, out, limits);
        }
        if with_trace {
            for style in &self.inner.trace_inject {
                match style {
                    Style::Datadog => datadog::inject(context, out, config.tags_max_length),
                    Style::TraceContext => tracecontext::inject(context, out),
                    Style::B3Multi => b3multi::inject(context, out),
                    Style::B3 => b3::inject(context, out),
                    Style::Baggage => {}
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::propagation::DEFAULT_STYLES;
    use http::HeaderMap;

    const GOOGLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";

    fn on_cloud_run(styles: &[Style]) -> Propagator {
        PropagatorBuilder::from_lookup(|name| (name == "K_SERVICE").then(|| "web".to_owned()))
            .styles(styles.iter().copied())
            .build()
    }

    #[test]
    fn header_map_injection_writes_what_the_injector_path_writes() {
        use datadog_subscriber::context::Baggage;
        let all_styles = PropagatorBuilder::from_lookup(|_| None)
            .styles([
                Style::Datadog,
                Style::TraceContext,
                Style::B3Multi,
                Style::B3,
                Style::Baggage,
            ])
            .build();
        let mut context = SpanContext::new(TraceId::from_parts(7, 1), SpanId::new(2));
        context.sampling_priority = Some(SamplingPriority::new(2));
        context.origin = Some("rum".to_owned());
        context.propagation_tags.insert("_dd.p.dm", "-4");
        context.tracestate_vendors = vec!["congo=t61rcWkgMzE".to_owned()];
        let mut baggage = Baggage::default();
        baggage.insert("user id", "\u{e9}");
        context.baggage = baggage;
        let mut bad_origin = context.clone();
        bad_origin.origin = Some("bad\nvalue".to_owned());
        let mut baggage_only = SpanContext::default();
        baggage_only.baggage = context.baggage.clone();
        for propagator in [Propagator::default(), all_styles] {
            for context in [
                &context,
                &bad_origin,
                &baggage_only,
                &SpanContext::default(),
            ] {
                let mut through_injector = HeaderMap::new();
                propagator.inject(context, &mut through_injector);
                let mut direct = HeaderMap::new();
                propagator.inject_header_map(context, &mut direct);
                assert_eq!(direct, through_injector);
                let names: Vec<_> = direct.keys().collect();
                assert_eq!(names, through_injector.keys().collect::<Vec<_>>());
            }
        }
        // The bad origin is left out of both, the rest is written.
        let mut headers = HeaderMap::new();
        Propagator::default().inject_header_map(&bad_origin, &mut headers);
        assert!(headers.get("x-datadog-origin").is_none());
        assert_eq!(headers["x-datadog-parent-id"], "2");
        assert_eq!(headers["baggage"], "user%20id=%C3%A9");
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn a_foreign_w3c_context_restarts_with_a_link_and_leaves_sampling_undecided() {
        let propagator = on_cloud_run(&DEFAULT_STYLES);
        let incoming = headers(&[
            ("traceparent", GOOGLE),
            ("tracestate", "foo=bar"),
            ("baggage", "user.id=7"),
        ]);
        let (context, style) = propagator.extract_with_style(&incoming).unwrap();
        assert_eq!(style, None);
        assert!(!context.trace_id.is_valid(), "a new trace is started");
        assert_eq!(context.sampling_priority, None);
        assert_eq!(context.baggage.get("user.id"), Some("7"));
        let [link] = context.span_links.as_slice() else {
            panic!("one link: {:?}", context.span_links)
        };
        assert_eq!(
            link.trace_id,
            TraceId::from_u128(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736)
        );
        assert_eq!(link.span_id, SpanId::new(0x00f0_67aa_0ba9_02b7));
        assert_eq!(link.flags, Some(0));
        assert_eq!(link.tracestate.as_deref(), Some("foo=bar"));
    }

    #[test]
    fn datadog_written_contexts_are_continued_as_before() {
        let propagator = on_cloud_run(&DEFAULT_STYLES);
        // A `dd=` member: a Datadog tracer wrote it, its decision stands.
        let w3c = headers(&[
            ("traceparent", GOOGLE),
            ("tracestate", "dd=s:2;o:rum,foo=bar"),
        ]);
        let context = propagator.extract(&w3c).unwrap();
        assert!(context.is_valid());
        assert_eq!(context.sampling_priority, Some(SamplingPriority::new(0)));
        assert_eq!(context.origin.as_deref(), Some("rum"));

        // Datadog headers vouch for it too, whichever style comes first (even unread).
        let both = headers(&[
            ("traceparent", GOOGLE),
            ("x-datadog-trace-id", "11803532876627986230"),
            ("x-datadog-parent-id", "5"),
            ("x-datadog-sampling-priority", "1"),
        ]);
        let w3c_first =
            PropagatorBuilder::from_lookup(|name| (name == "K_SERVICE").then(|| "web".to_owned()))
                .styles([Style::TraceContext, Style::Datadog])
                .extract_first(true)
                .build();
        let context = w3c_first.extract(&both).unwrap();
        assert!(context.is_valid());
        assert_eq!(context.trace_id.low(), 0xa3ce_929d_0e0e_4736);
    }

    #[test]
    fn the_switch_continues_or_ignores() {
        let incoming = headers(&[("traceparent", GOOGLE)]);
        let continued =
            PropagatorBuilder::from_lookup(|name| (name == "K_SERVICE").then(|| "web".to_owned()))
                .foreign_tracecontext(ExtractBehavior::Continue)
                .build()
                .extract(&incoming)
                .unwrap();
        assert!(continued.is_valid());
        assert_eq!(continued.sampling_priority, Some(SamplingPriority::new(0)));

        let ignored = PropagatorBuilder::from_lookup(|_| None)
            .foreign_tracecontext(ExtractBehavior::Ignore)
            .build()
            .extract(&incoming)
            .unwrap();
        assert!(!ignored.trace_id.is_valid());
        assert!(ignored.span_links.is_empty());

        // Off Cloud Run, the default continues as Datadog's SDKs do.
        let elsewhere = PropagatorBuilder::from_lookup(|_| None).build();
        assert!(elsewhere.extract(&incoming).unwrap().is_valid());
    }

    #[test]
    fn the_global_behaviour_still_rules() {
        let incoming = headers(&[("traceparent", GOOGLE)]);
        let ignore_all =
            PropagatorBuilder::from_lookup(|name| (name == "K_SERVICE").then(|| "web".to_owned()))
                .extract_behavior(ExtractBehavior::Ignore)
                .build();
        assert!(ignore_all.extract(&incoming).is_none());
        let restart_all = PropagatorBuilder::from_lookup(|_| None)
            .extract_behavior(ExtractBehavior::Restart)
            .foreign_tracecontext(ExtractBehavior::Ignore)
            .build();
        assert_eq!(restart_all.extract(&incoming).unwrap().span_links.len(), 1);
    }
}
