//! The tracer's shared state and the per-trace state its spans share.

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::config::TracerConfig;
use super::export::{CapturedSpans, ClosedSpans, Exporter, TraceChunk};
use super::sampling::{Decision, RuleSubject, Sampler, SpanSamplingRule, mechanism};
use super::settings::Settings;
use super::span_data::SpanFields;
use crate::context::{
    Baggage, CloudTrace, PropagationTags, SamplingPriority, SpanContext, SpanId, TraceId,
};

/// One per [`TracerConfig::build`]: settings, sampler, export queue, clock.
pub(crate) struct Tracer {
    pub(crate) settings: Arc<Settings>,
    pub(crate) sampler: Arc<Sampler>,
    /// `DD_SPAN_SAMPLING_RULES`, applied to the spans of dropped traces.
    span_rules: Vec<SpanSamplingRule>,
    pub(crate) exporter: Option<Exporter>,
    /// With [`TracerConfig::capture`]: where finished spans go instead of the exporter.
    capture: Option<CapturedSpans>,
    /// Traces of this tracer without a sampling decision yet: while there are none, entering a
    /// span has nothing to decide and skips the span lookup.
    undecided: AtomicUsize,
    /// With `send_when_idle`: the traces alive in this process (counted only then).
    open_traces: Option<AtomicUsize>,
}

impl Tracer {
    pub(crate) fn new(config: &TracerConfig) -> Self {
        let settings = Arc::new(Settings::new(config));
        let sampler = Arc::new(Sampler::new(
            config.sampling_rules.clone(),
            config.sample_rate,
            config.rate_limit,
        ));
        let capture = config.capture.clone().filter(|_| config.enabled);
        let exporter = (config.enabled && capture.is_none())
            .then(|| Exporter::start(config, settings.clone(), sampler.clone()))
            .flatten();
        Tracer {
            settings,
            sampler,
            span_rules: config.span_sampling_rules.clone(),
            exporter,
            capture,
            undecided: AtomicUsize::new(0),
            open_traces: config.send_when_idle.then(|| AtomicUsize::new(0)),
        }
    }

    /// Whether finished spans go anywhere (the exporter or a capture): if not, the layer does
    /// not collect them.
    pub(crate) fn keeps_finished_spans(&self) -> bool {
        self.exporter.is_some() || self.capture.is_some()
    }

    /// Whether some trace may still be waiting for its sampling decision.
    pub(crate) fn has_undecided_traces(&self) -> bool {
        self.undecided.load(Ordering::Acquire) != 0
    }

    /// A new trace id for a trace whose local root starts at `started`.
    pub(crate) fn new_trace_id(&self, started: Instant) -> TraceId {
        if self.settings.trace_id_128_bit {
            let unix_nanos = self.settings.clock.unix_nanos(started);
            TraceId::generate_128_at(u64::try_from(unix_nanos / 1_000_000_000).unwrap_or(0))
        } else {
            TraceId::generate_64()
        }
    }
}

const UNDECIDED: i32 = i32::MIN;

/// The state the spans of one trace share in this process (one per local root).
#[allow(
    clippy::struct_field_names,
    reason = "`trace.trace_id` reads as the domain term"
)]
pub(crate) struct Trace {
    pub(crate) trace_id: TraceId,
    pub(crate) tracer: Arc<Tracer>,
    /// The platform's trace of the request that started this trace here, for log lines.
    pub(crate) cloud_trace: Option<CloudTrace>,
    /// The decided priority, readable without the lock (`UNDECIDED` until then).
    priority: AtomicI32,
    state: Mutex<TraceState>,
}

struct TraceState {
    decision: Option<Decision>,
    origin: Option<String>,
    tags: PropagationTags,
    tracestate_vendors: Vec<String>,
    baggage: Baggage,
    /// The closed spans of the next chunk; the local root, once closed, goes first.
    finished: ClosedSpans,
}

impl Trace {
    /// A new trace started here, by a local root that starts at `started`.
    pub(crate) fn new_root(tracer: &Arc<Tracer>, started: Instant) -> Arc<Trace> {
        Self::with_state(
            tracer,
            tracer.new_trace_id(started),
            None,
            TraceState::empty(),
            None,
        )
    }

    /// A trace continued from a remote context. A context without a trace id starts
    /// a new trace that keeps only the context's baggage; one with a trace id but no parent id
    /// (Datadog's "no parent" case) continues the trace without a parent. `started` is when the
    /// local root starts.
    pub(crate) fn continue_from(
        tracer: &Arc<Tracer>,
        context: &SpanContext,
        started: Instant,
    ) -> Arc<Trace> {
        let mut state = TraceState::empty();
        state.baggage = context.baggage.clone();
        if !context.trace_id.is_valid() {
            let trace_id = tracer.new_trace_id(started);
            return Self::with_state(tracer, trace_id, None, state, context.cloud_trace);
        }
        state.origin.clone_from(&context.origin);
        state
            .tracestate_vendors
            .clone_from(&context.tracestate_vendors);
        // Shared with the context, not copied.
        state.tags = context.propagation_tags.clone();
        // The upper half of the trace id is the source of truth for `_dd.p.tid`.
        state.tags.remove("_dd.p.tid");
        let decision = context
            .sampling_priority
            .map(|priority| Decision::fixed(priority, None));
        Self::with_state(
            tracer,
            context.trace_id,
            decision,
            state,
            context.cloud_trace,
        )
    }

    fn with_state(
        tracer: &Arc<Tracer>,
        trace_id: TraceId,
        decision: Option<Decision>,
        mut state: TraceState,
        cloud_trace: Option<CloudTrace>,
    ) -> Arc<Trace> {
        let priority = decision.map_or(UNDECIDED, |d| d.priority.value());
        if priority == UNDECIDED {
            tracer.undecided.fetch_add(1, Ordering::AcqRel);
        }
        if let Some(open) = &tracer.open_traces {
            open.fetch_add(1, Ordering::AcqRel);
        }
        state.decision = decision;
        Arc::new(Trace {
            trace_id,
            tracer: tracer.clone(),
            cloud_trace,
            priority: AtomicI32::new(priority),
            state: Mutex::new(state),
        })
    }

    fn lock(&self) -> MutexGuard<'_, TraceState> {
        match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The decided priority, if any.
    pub(crate) fn priority(&self) -> Option<SamplingPriority> {
        match self.priority.load(Ordering::Acquire) {
            UNDECIDED => None,
            value => Some(SamplingPriority::new(value)),
        }
    }

    /// Whether the trace is kept, as far as decided (for log correlation).
    pub(crate) fn sampled(&self) -> bool {
        self.priority().is_some_and(SamplingPriority::is_keep)
    }

    /// Makes the sampling decision now if none was made, matching rules against `root` (the
    /// local root when reachable).
    pub(crate) fn decide(&self, root: &SpanFields) -> SamplingPriority {
        if let Some(priority) = self.priority() {
            return priority;
        }
        let settings = &self.tracer.settings;
        let tag = |key: &str| root.tag_text(key);
        let subject = RuleSubject {
            service: root.service.as_deref().unwrap_or(&settings.service),
            name: root.name,
            resource: root.resource.as_deref().unwrap_or(root.name),
            tag: &tag,
        };
        let env = settings.env.as_deref().unwrap_or_default();
        let mut state = self.lock();
        if let Some(decision) = state.decision {
            return decision.priority;
        }
        let decision = self.tracer.sampler.decide(self.trace_id, env, &subject);
        self.apply(&mut state, decision);
        decision.priority
    }

    /// A manual keep or drop: overrides any previous decision.
    pub(crate) fn set_manual_priority(&self, priority: SamplingPriority) {
        let mut state = self.lock();
        let mut decision = Decision::fixed(priority, Some(mechanism::MANUAL));
        if let Some(previous) = state.decision {
            decision.agent_rate = previous.agent_rate;
            decision.rule_rate = previous.rule_rate;
            decision.limit_rate = previous.limit_rate;
        }
        self.apply(&mut state, decision);
    }

    fn apply(&self, state: &mut TraceState, decision: Decision) {
        if decision.mechanism.is_some() && !state.tags.is_empty() {
            // A local decision replaces upstream's decision maker; `decision_maker` supplies it
            // on output, so the common local trace allocates no tag strings at all.
            state.tags.remove("_dd.p.dm");
        }
        state.decision = Some(decision);
        let previous = self
            .priority
            .swap(decision.priority.value(), Ordering::AcqRel);
        if previous == UNDECIDED {
            self.tracer.undecided.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// The context of span `span_id` of this trace, for injection.
    pub(crate) fn context(&self, span_id: SpanId) -> SpanContext {
        let state = self.lock();
        let mut propagation_tags = state.tags.clone();
        if let Some(dm) = state.decision.as_ref().and_then(Decision::decision_maker) {
            propagation_tags.insert("_dd.p.dm", dm);
        }
        SpanContext {
            trace_id: self.trace_id,
            span_id,
            sampling_priority: state.decision.map(|d| d.priority),
            origin: state.origin.clone(),
            propagation_tags,
            tracestate_vendors: state.tracestate_vendors.clone(),
            baggage: state.baggage.clone(),
            ..SpanContext::default()
        }
    }

    /// Adds a closed span to the trace; a closed local root (or enough spans for a partial
    /// flush) sends the chunk to the exporter, whose worker encodes it.
    pub(crate) fn finish(&self, span: Box<SpanFields>) {
        let is_root = span.is_local_root;
        if let Some(capture) = &self.tracer.capture {
            if let Some(chunk) = self.add_closed(span) {
                capture.record(&chunk, &self.tracer.settings);
            }
        } else if let Some(exporter) = &self.tracer.exporter
            && let Some(chunk) = self.add_closed(span)
        {
            exporter.push(chunk);
            // This trace is the last one open: the process may be frozen any moment now.
            if is_root
                && let Some(open) = &self.tracer.open_traces
                && open.load(Ordering::Acquire) == 1
            {
                exporter.send_now();
            }
        }
    }

    /// [`finish`](Self::finish) without the hand-over: the chunk to send, if one is complete.
    fn add_closed(&self, span: Box<SpanFields>) -> Option<TraceChunk> {
        let mut state = self.lock();
        let is_root = span.is_local_root;
        state.finished.push(span);
        if is_root {
            // The local root goes first: the chunk-level tags go on the first span.
            let last = state.finished.len() - 1;
            state.finished.swap(0, last);
        } else if state.finished.len() < self.tracer.settings.partial_flush_min_spans {
            return None;
        }
        let dropped = state
            .decision
            .is_some_and(|decision| !decision.priority.is_keep());
        if dropped && !self.tracer.span_rules.is_empty() {
            let settings = &self.tracer.settings;
            for span in &mut state.finished {
                let service = span
                    .service
                    .clone()
                    .unwrap_or_else(|| settings.service.clone());
                if let Some(metrics) = SpanSamplingRule::decide(
                    &self.tracer.span_rules,
                    &service,
                    span.name,
                    span.span_id,
                ) {
                    for (key, value) in metrics {
                        span.set_metric(key, value);
                    }
                }
            }
        }
        Some(TraceChunk {
            trace_id: self.trace_id,
            decision: state.decision,
            origin: state.origin.clone(),
            tags: state.tags.clone(),
            // A partial flush means more spans are coming: room for as many again.
            spans: if is_root {
                std::mem::take(&mut state.finished)
            } else {
                let room = state.finished.len();
                std::mem::replace(&mut state.finished, ClosedSpans::with_capacity(room))
            },
        })
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        if *self.priority.get_mut() == UNDECIDED {
            self.tracer.undecided.fetch_sub(1, Ordering::AcqRel);
        }
        if let Some(open) = &self.tracer.open_traces {
            open.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl TraceState {
    fn empty() -> Self {
        TraceState {
            decision: None,
            origin: None,
            tags: PropagationTags::default(),
            tracestate_vendors: Vec::new(),
            baggage: Baggage::default(),
            finished: ClosedSpans::new(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "the values are set, not computed")]
mod tests {
    use super::*;

    /// Decodes a chunk into (name, meta keys) per span, in payload order.
    fn decode(chunk: &TraceChunk, settings: &Settings) -> Vec<(String, Vec<String>)> {
        let mut buffer = Vec::new();
        crate::tracer::export::msgpack::encode_chunk(&mut buffer, chunk, settings);
        let value = rmpv::decode::read_value(&mut buffer.as_slice()).unwrap();
        let field = |span: &rmpv::Value, key: &str| {
            span.as_map()
                .unwrap()
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|span| {
                let name = field(span, "name").as_str().unwrap().to_owned();
                let meta = field(span, "meta")
                    .as_map()
                    .unwrap()
                    .iter()
                    .map(|(k, _)| k.as_str().unwrap().to_owned())
                    .collect();
                (name, meta)
            })
            .collect()
    }

    fn closed(name: &'static str, root: bool) -> Box<SpanFields> {
        let mut span = Box::new(SpanFields::new(name, SpanId::generate(), 1));
        span.is_local_root = root;
        span
    }

    #[test]
    fn a_new_128_bit_trace_id_holds_the_unix_second_its_root_started() {
        let tracer = Arc::new(Tracer::new(&TracerConfig::new().enabled(false)));
        let started = Instant::now();
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let seconds = |trace: &Trace| trace.trace_id.high() >> 32;
        let trace = Trace::new_root(&tracer, started);
        assert!(
            seconds(&trace).abs_diff(before) <= 1,
            "{:x}",
            trace.trace_id.high()
        );
        assert_eq!(trace.trace_id.high() & 0xffff_ffff, 0);
        assert_ne!(trace.trace_id.low(), 0);
        // A root that started an hour later (as a span's monotonic start converts).
        let later = Trace::new_root(&tracer, started + std::time::Duration::from_hours(1));
        assert_eq!(seconds(&later) - seconds(&trace), 3600);
        // A remote context without a trace id starts a new trace the same way.
        let fresh = Trace::continue_from(&tracer, &SpanContext::default(), started);
        assert!(seconds(&fresh).abs_diff(before) <= 1);
    }

    #[test]
    fn chunks_put_the_root_or_the_first_closed_span_first_with_the_trace_tags() {
        let mut config = TracerConfig::new().enabled(false);
        config.partial_flush_min_spans = 3;
        let tracer = Arc::new(Tracer::new(&config));
        let trace = Trace::new_root(&tracer, Instant::now());
        trace.decide(&closed("root", true));

        // Partial flush: the first closed span of the chunk carries the trace tags.
        assert!(trace.add_closed(closed("a", false)).is_none());
        assert!(trace.add_closed(closed("b", false)).is_none());
        let chunk = trace.add_closed(closed("c", false)).unwrap();
        let spans = decode(&chunk, &tracer.settings);
        let names: Vec<&str> = spans.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(spans[0].1.contains(&"_dd.p.dm".to_owned()));
        assert!(spans[0].1.contains(&"language".to_owned()));
        assert!(!spans[1].1.contains(&"language".to_owned()));

        // The root closing takes the first place from the span that closed before it.
        assert!(trace.add_closed(closed("d", false)).is_none());
        let chunk = trace.add_closed(closed("root", true)).unwrap();
        let spans = decode(&chunk, &tracer.settings);
        let names: Vec<&str> = spans.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["root", "d"]);
        assert!(spans[0].1.contains(&"_dd.p.tid".to_owned()));
        assert!(!spans[1].1.contains(&"_dd.p.tid".to_owned()));

        // A span closing after its root starts a new chunk.
        assert!(trace.add_closed(closed("late", false)).is_none());
    }

    #[test]
    fn continuing_keeps_upstream_decision_and_tags() {
        let tracer = Arc::new(Tracer::new(&TracerConfig::new().enabled(false)));
        let mut remote = SpanContext::new(TraceId::from_parts(0x1234, 5), SpanId::new(6));
        remote.sampling_priority = Some(SamplingPriority::USER_REJECT);
        remote
            .propagation_tags
            .insert("_dd.p.tid", "0000000000001234");
        remote.propagation_tags.insert("_dd.p.usr.id", "x");
        let trace = Trace::continue_from(&tracer, &remote, Instant::now());
        assert_eq!(trace.trace_id, remote.trace_id);
        assert_eq!(trace.priority(), Some(SamplingPriority::USER_REJECT));
        let context = trace.context(SpanId::new(9));
        assert_eq!(context.propagation_tags.get("_dd.p.tid"), None);
        assert_eq!(context.propagation_tags.get("_dd.p.usr.id"), Some("x"));

        trace.set_manual_priority(SamplingPriority::USER_KEEP);
        assert_eq!(
            trace
                .context(SpanId::new(9))
                .propagation_tags
                .get("_dd.p.dm"),
            Some("-4")
        );
        trace.set_manual_priority(SamplingPriority::USER_REJECT);
        assert_eq!(
            trace
                .context(SpanId::new(9))
                .propagation_tags
                .get("_dd.p.dm"),
            None
        );
    }
}
