//! The `tracing_subscriber::Layer` that turns `tracing` spans into Datadog spans.

use std::any::TypeId;
use std::sync::Arc;
use std::time::Instant;

use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Dispatch, Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use super::remote_parent::remote_parent;
use super::settings::Settings;
use super::span_data::{FieldVisitor, SpanFields};
use super::trace::{Trace, Tracer};
use crate::context::{SamplingPriority, SpanContext, SpanId, SpanLink};

/// The Datadog tracer layer; build it with [`TracerConfig::build`](super::TracerConfig::build).
///
/// Every span it sees gets Datadog ids, which the log layer reads for correlation. A span without
/// a parent starts a trace, or continues the remote context it was opened in
/// ([`with_remote_parent`](super::with_remote_parent)). The trace's sampling decision is made when
/// its local root is first entered (or its context is first read), so fields recorded until then
/// count for sampling rules.
pub struct TracerLayer {
    tracer: Arc<Tracer>,
    /// Set when the layer is added to a subscriber, which fixes the subscriber's type.
    trace_of_span: TraceOfSpan,
}

/// The tracer's record of a live span, in the span's extensions.
pub(crate) struct SpanRecord {
    pub(crate) trace: Arc<Trace>,
    /// Boxed so that closing the span hands the fields to the exporter by pointer: the caller
    /// never copies them, the export worker encodes and frees them.
    pub(crate) fields: Box<SpanFields>,
}

/// How [`DatadogSpanExt`](super::DatadogSpanExt) reaches a span's trace from a `Dispatch`,
/// whatever the subscriber stack the layer sits in: the layer hands it out through
/// `Dispatch::downcast_ref` (as tracing-opentelemetry's `WithContext` does), and it knows the
/// concrete subscriber type to look the span up in.
#[derive(Clone, Copy)]
pub(crate) struct TraceOfSpan(fn(&Dispatch, &Id) -> Option<SpanTrace>);

/// A span's trace and the span's own id.
pub(crate) type SpanTrace = (Arc<Trace>, SpanId);

impl TraceOfSpan {
    /// The trace of span `id` and the span's id, with the trace's sampling decision made.
    pub(crate) fn get(self, dispatch: &Dispatch, id: &Id) -> Option<SpanTrace> {
        (self.0)(dispatch, id)
    }

    fn not_layered(_: &Dispatch, _: &Id) -> Option<SpanTrace> {
        None
    }

    fn lookup<S>(dispatch: &Dispatch, id: &Id) -> Option<SpanTrace>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let span = dispatch.downcast_ref::<S>()?.span(id)?;
        let (trace, span_id) = {
            let extensions = span.extensions();
            let record = extensions.get::<SpanRecord>()?;
            (record.trace.clone(), record.fields.span_id)
        };
        if trace.priority().is_none() {
            decide_in_scope(&trace, &span);
        }
        Some((trace, span_id))
    }
}

impl std::fmt::Debug for TracerLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracerLayer")
            .field("service", &self.tracer.settings.service)
            .finish_non_exhaustive()
    }
}

impl TracerLayer {
    pub(crate) fn new(tracer: Arc<Tracer>) -> Self {
        TracerLayer {
            tracer,
            trace_of_span: TraceOfSpan(TraceOfSpan::not_layered),
        }
    }
}

/// What a local root takes from the remote context it continues, besides the trace-level state
/// ([`Trace::continue_from`]): its parent, `_dd.parent_id`, `_dd.propagation_error`, the span
/// links and the `baggage.<key>` tags.
fn continue_remote(fields: &mut SpanFields, remote: &SpanContext, settings: &Settings) {
    if remote.trace_id.is_valid() {
        fields.parent_id = remote.span_id;
    }
    if let Some(parent) = &remote.last_parent_id {
        fields.set_meta("_dd.parent_id", parent.as_str());
    }
    if let Some(error) = &remote.propagation_error {
        fields.set_meta("_dd.propagation_error", error.as_str());
    }
    fields.links.extend(remote.span_links.iter().cloned());
    for (key, value) in settings.baggage_tag_keys.tags(&remote.baggage) {
        fields.set_meta(key, value);
    }
}

/// Makes `trace`'s sampling decision from its local root, found in `span`'s scope (falling back
/// to the nearest tracked span when the root is out of reach).
pub(crate) fn decide_in_scope<'a, R: LookupSpan<'a>>(
    trace: &Arc<Trace>,
    span: &SpanRef<'a, R>,
) -> SamplingPriority {
    let mut nearest = None;
    for ancestor in span.scope() {
        let extensions = ancestor.extensions();
        if let Some(record) = extensions.get::<SpanRecord>()
            && Arc::ptr_eq(&record.trace, trace)
        {
            if record.fields.is_local_root {
                return trace.decide(&record.fields);
            }
            nearest.get_or_insert(ancestor.id());
        }
    }
    nearest
        .and_then(|id| span.scope().find(|s| s.id() == id))
        .and_then(|s| {
            s.extensions()
                .get::<SpanRecord>()
                .map(|r| trace.decide(&r.fields))
        })
        .or_else(|| trace.priority())
        .unwrap_or(SamplingPriority::AUTO_KEEP)
}

impl<S> Layer<S> for TracerLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_layer(&mut self, _subscriber: &mut S) {
        self.trace_of_span = TraceOfSpan(TraceOfSpan::lookup::<S>);
    }

    // SAFETY: each pointer returned points to a value of the type whose `TypeId` was asked for,
    // borrowed from `self`, as `downcast_raw`'s contract requires.
    #[allow(
        unsafe_code,
        reason = "the one way to offer a hook through `Dispatch::downcast_ref`"
    )]
    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            Some(std::ptr::from_ref(self).cast())
        } else if id == TypeId::of::<TraceOfSpan>() {
            Some(std::ptr::from_ref(&self.trace_of_span).cast())
        } else {
            None
        }
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let started = Instant::now();
        let span_id = SpanId::generate();
        let mut fields = Box::new(SpanFields::timed(attrs.metadata().name(), span_id, started));
        // Room for every declared field at once: a span with many (a request span) would
        // otherwise grow its list several times. (Checked here: the list's own check is a call.)
        let declared = attrs.metadata().fields().len();
        if declared > fields.tags.inline_size() {
            fields.tags.reserve(declared);
        }
        attrs.record(&mut FieldVisitor(&mut fields));

        let parent = span.parent();
        let inherited = parent.as_ref().and_then(|parent| {
            let extensions = parent.extensions();
            let record = extensions.get::<SpanRecord>()?;
            Some((
                record.trace.clone(),
                record.fields.span_id,
                record.fields.service.clone(),
            ))
        });
        let trace =
            if let (Some((trace, parent_id, parent_service)), Some(parent)) = (inherited, parent) {
                fields.parent_id = parent_id;
                if fields.service.is_none() {
                    fields.service.clone_from(&parent_service);
                }
                fields.local_parent = true;
                fields.parent_service = parent_service;
                if trace.priority().is_none() {
                    decide_in_scope(&trace, &parent);
                }
                trace
            } else {
                fields.is_local_root = true;
                // An explicit `parent: None` asks for a new trace.
                match remote_parent().filter(|_| !attrs.is_root()) {
                    Some(remote) => {
                        continue_remote(&mut fields, &remote, &self.tracer.settings);
                        Trace::continue_from(&self.tracer, &remote, started)
                    }
                    None => Trace::new_root(&self.tracer, started),
                }
            };
        span.extensions_mut().replace(SpanRecord { trace, fields });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        if let Some(record) = extensions.get_mut::<SpanRecord>() {
            values.record(&mut FieldVisitor(&mut record.fields));
        }
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        let (Some(span), Some(follows)) = (ctx.span(id), ctx.span(follows)) else {
            return;
        };
        let link = {
            let extensions = follows.extensions();
            let Some(record) = extensions.get::<SpanRecord>() else {
                return;
            };
            let mut link = SpanLink::new(record.trace.trace_id, record.fields.span_id);
            link.flags = record.trace.priority().map(|p| u32::from(p.is_keep()));
            link
        };
        let mut extensions = span.extensions_mut();
        if let Some(record) = extensions.get_mut::<SpanRecord>() {
            record.fields.links.push(link);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if *event.metadata().level() != Level::ERROR {
            return;
        }
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        if let Some(record) = extensions.get_mut::<SpanRecord>() {
            record.fields.record_error_event(event);
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        // Entering only matters for an undecided local root; when no trace is undecided (nearly
        // always, in steady state) there is nothing to look up.
        if !self.tracer.has_undecided_traces() {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        // The trace keeps its decision behind its own lock: a shared lock of the span is enough.
        let extensions = span.extensions();
        if let Some(record) = extensions.get::<SpanRecord>()
            && record.fields.is_local_root
            && record.trace.priority().is_none()
        {
            record.trace.decide(&record.fields);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if !self.tracer.keeps_finished_spans() {
            return;
        }
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(mut record) = span.extensions_mut().remove::<SpanRecord>() else {
            return;
        };
        record.fields.ended = Some(Instant::now());
        if record.trace.priority().is_none() {
            if record.fields.is_local_root {
                record.trace.decide(&record.fields);
            } else {
                decide_in_scope(&record.trace, &span);
            }
        }
        record.trace.finish(record.fields);
    }
}
