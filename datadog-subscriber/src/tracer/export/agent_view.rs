//! What the Agent receives for each span: the span's own fields plus what the tracer adds (service
//! tags on every span, trace-level tags on the first span of each chunk). The msgpack encoder and
//! the in-process capture both read spans through here, so they cannot disagree.

use super::TraceChunk;
use crate::context::{PropagationTags, TraceId};
use crate::tracer::sampling::Decision;
use crate::tracer::settings::Settings;
use crate::tracer::span_data::{SpanFields, TagValue};

/// What every span takes from its trace.
pub(crate) struct TraceFields<'a> {
    pub(crate) trace_id: TraceId,
    pub(crate) origin: Option<&'a str>,
}

/// What only the first span of a chunk carries.
pub(crate) struct ChunkTags<'a> {
    pub(crate) decision: Option<&'a Decision>,
    pub(crate) tags: &'a PropagationTags,
}

/// Calls `visit` with each span of `chunk`, what it takes from its trace, and (for the first span
/// only) the chunk's trace-level tags.
pub(crate) fn for_each_span(
    chunk: &TraceChunk,
    mut visit: impl FnMut(&SpanFields, &TraceFields<'_>, Option<&ChunkTags<'_>>),
) {
    let trace = TraceFields {
        trace_id: chunk.trace_id,
        origin: chunk.origin.as_deref(),
    };
    let chunk_tags = ChunkTags {
        decision: chunk.decision.as_ref(),
        tags: &chunk.tags,
    };
    for (index, span) in chunk.spans.iter().enumerate() {
        visit(span, &trace, (index == 0).then_some(&chunk_tags));
    }
}

/// The `meta` entries of `span`: its string tags, the service tags (`env`, `version` only on spans
/// of the configured service as Datadog SDKs do, `DD_TAGS`, `_dd.base_service`; a span's own tag
/// of the same key wins), `_dd.origin`, and on the first span of a chunk the trace-level tags.
pub(crate) fn for_each_meta(
    span: &SpanFields,
    settings: &Settings,
    trace: &TraceFields<'_>,
    first: Option<&ChunkTags<'_>>,
    mut visit: impl FnMut(&str, &str),
) {
    for (key, value) in span.meta_entries() {
        visit(key, value);
    }
    let own_service = span
        .service
        .as_deref()
        .is_none_or(|service| service == &*settings.service);
    let env = settings
        .env
        .as_deref()
        .filter(|_| span.meta("env").is_none());
    if let Some(env) = env {
        visit("env", env);
    }
    let version = settings
        .version
        .as_deref()
        .filter(|_| own_service && span.meta("version").is_none());
    if let Some(version) = version {
        visit("version", version);
    }
    for (key, value) in &settings.tags {
        let shadowed = span.meta(key).is_some()
            || (key == "env" && env.is_some())
            || (key == "version" && version.is_some());
        if !shadowed {
            visit(key, value);
        }
    }
    if !own_service {
        visit("_dd.base_service", &settings.service);
    }
    if let Some(origin) = trace.origin {
        visit("_dd.origin", origin);
    }
    if let Some(first) = first {
        visit("language", "rust");
        visit("runtime-id", &settings.runtime_id);
        for (key, value) in first.tags.iter() {
            visit(key, value);
        }
        if let Some(dm) = first.decision.and_then(Decision::decision_maker) {
            visit("_dd.p.dm", dm);
        }
        let high = trace.trace_id.high();
        if high != 0 {
            visit("_dd.p.tid", &format!("{high:016x}"));
        }
    }
}

/// The `metrics` entries of `span`: its numeric tags, `_dd.top_level`, and on the first span of
/// a chunk the sampling priority, the process id and (on the local root) the sampling rates.
pub(crate) fn for_each_metric(
    span: &SpanFields,
    settings: &Settings,
    first: Option<&ChunkTags<'_>>,
    mut visit: impl FnMut(&str, f64),
) {
    for (key, value) in &span.tags {
        if let TagValue::Num(number) = value {
            visit(key, *number);
        }
    }
    if span.is_top_level() {
        visit("_dd.top_level", 1.0);
    }
    let Some(first) = first else {
        return;
    };
    if let Some(decision) = first.decision {
        visit(
            "_sampling_priority_v1",
            f64::from(decision.priority.value()),
        );
    }
    visit("process_id", settings.process_id);
    // The rates go on the local root, which is always the first span of its chunk.
    if let Some(decision) = first.decision.filter(|_| span.is_local_root) {
        let rates = [
            ("_dd.agent_psr", decision.agent_rate),
            ("_dd.rule_psr", decision.rule_rate),
            ("_dd.limit_psr", decision.limit_rate),
        ];
        for (key, rate) in rates {
            if let Some(rate) = rate {
                visit(key, rate);
            }
        }
    }
}
