//! `Propagator` as an OpenTelemetry `TextMapPropagator` (feature `opentelemetry`).
//!
//! Extraction stores the remote span context in the OpenTelemetry [`Context`] (so OpenTelemetry
//! tracers continue the trace) and the full Datadog [`SpanContext`] (priority, origin, `_dd.p.*`
//! tags, span links, baggage) as a context value, read back with `cx.get::<SpanContext>()`.
//! Injection writes the context of `cx.span()`, taking Datadog details from that value when it
//! belongs to the same trace.

use datadog_subscriber::context::{SamplingPriority, SpanContext, SpanId, TraceId};
use opentelemetry::Context;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{
    Extractor as OtelExtractor, Injector as OtelInjector, TextMapPropagator,
};
use opentelemetry::trace::{
    SpanContext as OtelSpanContext, SpanId as OtelSpanId, TraceContextExt, TraceFlags,
    TraceId as OtelTraceId, TraceState,
};

use super::{Extractor, Injector, Propagator};

struct ExtractorAdapter<'a>(&'a dyn OtelExtractor);

impl Extractor for ExtractorAdapter<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name)
    }

    fn get_all<'b>(&'b self, name: &str, visit: &mut dyn FnMut(Option<&'b str>)) {
        let extractor: &'b dyn OtelExtractor = self.0;
        for value in extractor.get_all(name).into_iter().flatten() {
            visit(Some(value));
        }
    }
}

struct InjectorAdapter<'a>(&'a mut dyn OtelInjector);

impl Injector for InjectorAdapter<'_> {
    fn set(&mut self, name: &str, value: &str) {
        self.0.set(name, value.to_owned());
    }
}

fn trace_state(vendors: &[String]) -> TraceState {
    let pairs = vendors.iter().filter_map(|member| member.split_once('='));
    TraceState::from_key_value(pairs).unwrap_or_default()
}

impl TextMapPropagator for Propagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn OtelInjector) {
        let stored = cx.get::<SpanContext>();
        let span = cx.span();
        let otel = span.span_context();
        let context = if otel.is_valid() {
            let trace_id = TraceId::from_u128(u128::from_be_bytes(otel.trace_id().to_bytes()));
            let mut context = match stored {
                Some(stored) if stored.trace_id == trace_id => stored.clone(),
                _ => {
                    let mut fresh = SpanContext::default();
                    fresh.tracestate_vendors = otel
                        .trace_state()
                        .header()
                        .split(',')
                        .filter(|member| !member.is_empty() && !member.starts_with("dd="))
                        .map(str::to_owned)
                        .collect();
                    fresh.baggage = stored.map(|s| s.baggage.clone()).unwrap_or_default();
                    fresh
                }
            };
            context.trace_id = trace_id;
            context.span_id = SpanId::new(u64::from_be_bytes(otel.span_id().to_bytes()));
            if context.sampling_priority.is_none() {
                context.sampling_priority = Some(if otel.is_sampled() {
                    SamplingPriority::AUTO_KEEP
                } else {
                    SamplingPriority::AUTO_REJECT
                });
            }
            context
        } else if let Some(stored) = stored {
            stored.clone()
        } else {
            return;
        };
        self.inject(&context, &mut InjectorAdapter(injector));
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn OtelExtractor) -> Context {
        let Some(context) = self.extract(&ExtractorAdapter(extractor)) else {
            return cx.clone();
        };
        if !context.trace_id.is_valid() || !context.span_id.is_valid() {
            return cx.with_value(context);
        }
        let flags = if context.is_sampled() == Some(true) {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        let remote = OtelSpanContext::new(
            OtelTraceId::from_bytes(context.trace_id.as_u128().to_be_bytes()),
            OtelSpanId::from_bytes(context.span_id.as_u64().to_be_bytes()),
            flags,
            true,
            trace_state(&context.tracestate_vendors),
        );
        cx.with_remote_span_context(remote).with_value(context)
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(self.fields())
    }
}
