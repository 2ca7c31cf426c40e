//! The `/v0.4/traces` msgpack encoding, written with `rmp` straight from the tracer's span data
//! (no intermediate values, no serde).

use rmp::encode;

use super::TraceChunk;
use crate::context::SpanLink;
use crate::tracer::sampling::Decision;
use crate::tracer::span_data::SpanFields;
use crate::tracer::trace::Settings;

/// Start of a payload: an array32 header whose length [`finish_payload`] patches in, so traces
/// can be appended until the payload is full.
pub(crate) fn begin_payload(buffer: &mut Vec<u8>) {
    buffer.clear();
    buffer.extend_from_slice(&[0xdd, 0, 0, 0, 0]);
}

/// Writes the number of traces appended since [`begin_payload`].
pub(crate) fn finish_payload(buffer: &mut [u8], trace_count: u32) {
    buffer[1..5].copy_from_slice(&trace_count.to_be_bytes());
}

/// Appends one trace chunk (an array of span maps).
pub(crate) fn encode_chunk(buffer: &mut Vec<u8>, chunk: &TraceChunk, settings: &Settings) {
    let _ = encode::write_array_len(buffer, chunk.spans.len() as u32);
    for (index, span) in chunk.spans.iter().enumerate() {
        encode_span(buffer, span, chunk, settings, index == 0);
    }
}

fn str(buffer: &mut Vec<u8>, value: &str) {
    let _ = encode::write_str(buffer, value);
}

fn encode_span(
    buffer: &mut Vec<u8>,
    span: &SpanFields,
    chunk: &TraceChunk,
    settings: &Settings,
    first_in_chunk: bool,
) {
    let entries = 11 + u32::from(span.span_type.is_some()) + u32::from(!span.links.is_empty());
    let _ = encode::write_map_len(buffer, entries);
    str(buffer, "service");
    str(buffer, span.service.as_deref().unwrap_or(&settings.service));
    str(buffer, "name");
    str(buffer, span.name);
    str(buffer, "resource");
    str(buffer, span.resource.as_deref().unwrap_or(span.name));
    str(buffer, "trace_id");
    let _ = encode::write_uint(buffer, chunk.trace_id.low());
    str(buffer, "span_id");
    let _ = encode::write_uint(buffer, span.span_id.as_u64());
    str(buffer, "parent_id");
    let _ = encode::write_uint(buffer, span.parent_id.as_u64());
    str(buffer, "start");
    let _ = encode::write_sint(buffer, span.start_ns);
    str(buffer, "duration");
    let _ = encode::write_sint(buffer, span.duration_ns);
    str(buffer, "error");
    let _ = encode::write_sint(buffer, i64::from(span.error));
    if let Some(span_type) = &span.span_type {
        str(buffer, "type");
        str(buffer, span_type);
    }

    str(buffer, "meta");
    let mut meta_count = 0u32;
    for_each_meta(span, chunk, settings, first_in_chunk, |_, _| {
        meta_count += 1;
    });
    let _ = encode::write_map_len(buffer, meta_count);
    for_each_meta(span, chunk, settings, first_in_chunk, |key, value| {
        str(buffer, key);
        str(buffer, value);
    });

    str(buffer, "metrics");
    let mut metric_count = 0u32;
    for_each_metric(span, chunk, settings, first_in_chunk, |_, _| {
        metric_count += 1;
    });
    let _ = encode::write_map_len(buffer, metric_count);
    for_each_metric(span, chunk, settings, first_in_chunk, |key, value| {
        str(buffer, key);
        let _ = encode::write_f64(buffer, value);
    });

    if !span.links.is_empty() {
        str(buffer, "span_links");
        let _ = encode::write_array_len(buffer, span.links.len() as u32);
        for link in &span.links {
            encode_link(buffer, link);
        }
    }
}

/// The span's tags plus what the tracer adds: service tags on every span, trace-level tags on the
/// first span of each chunk. Called twice (count, then write) to avoid a temporary map.
fn for_each_meta(
    span: &SpanFields,
    chunk: &TraceChunk,
    settings: &Settings,
    first_in_chunk: bool,
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
    // Datadog SDKs put `version` only on spans of the configured service.
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
    if let Some(origin) = &chunk.origin {
        visit("_dd.origin", origin);
    }
    if first_in_chunk {
        visit("language", "rust");
        visit("runtime-id", &settings.runtime_id);
        for (key, value) in &chunk.tags {
            visit(key, value);
        }
        if let Some(dm) = chunk.decision.as_ref().and_then(Decision::decision_maker) {
            visit("_dd.p.dm", dm);
        }
        let high = chunk.trace_id.high();
        if high != 0 {
            let hex = hex16(high);
            visit("_dd.p.tid", std::str::from_utf8(&hex).unwrap_or_default());
        }
    }
}

fn for_each_metric(
    span: &SpanFields,
    chunk: &TraceChunk,
    settings: &Settings,
    first_in_chunk: bool,
    mut visit: impl FnMut(&str, f64),
) {
    for (key, value) in span.metric_entries() {
        visit(key, value);
    }
    if span.is_top_level() {
        visit("_dd.top_level", 1.0);
    }
    if first_in_chunk {
        if let Some(decision) = &chunk.decision {
            visit(
                "_sampling_priority_v1",
                f64::from(decision.priority.value()),
            );
        }
        visit("process_id", settings.process_id);
    }
    if span.is_local_root
        && let Some(decision) = &chunk.decision
    {
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

fn encode_link(buffer: &mut Vec<u8>, link: &SpanLink) {
    let high = link.trace_id.high();
    let entries = 2
        + u32::from(high != 0)
        + u32::from(!link.attributes.is_empty())
        + u32::from(link.tracestate.is_some())
        + u32::from(link.flags.is_some());
    let _ = encode::write_map_len(buffer, entries);
    str(buffer, "trace_id");
    let _ = encode::write_uint(buffer, link.trace_id.low());
    if high != 0 {
        str(buffer, "trace_id_high");
        let _ = encode::write_uint(buffer, high);
    }
    str(buffer, "span_id");
    let _ = encode::write_uint(buffer, link.span_id.as_u64());
    if !link.attributes.is_empty() {
        str(buffer, "attributes");
        let _ = encode::write_map_len(buffer, link.attributes.len() as u32);
        for (key, value) in &link.attributes {
            str(buffer, key);
            str(buffer, value);
        }
    }
    if let Some(tracestate) = &link.tracestate {
        str(buffer, "tracestate");
        str(buffer, tracestate);
    }
    if let Some(flags) = link.flags {
        // Bit 31 tells the backend the flags are set (a zero flags value is meaningful).
        str(buffer, "flags");
        let _ = encode::write_uint(buffer, u64::from(flags | 1 << 31));
    }
}

/// 16 lowercase hex digits without allocating.
fn hex16(value: u64) -> [u8; 16] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 16];
    for (index, byte) in out.iter_mut().enumerate() {
        *byte = DIGITS[((value >> ((15 - index) * 4)) & 0xf) as usize];
    }
    out
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "the values are set, not computed")]
mod tests {
    use super::*;
    use crate::context::{SamplingPriority, SpanId, TraceId};
    use rmpv::Value;

    fn settings() -> Settings {
        Settings {
            service: "svc".into(),
            env: Some("prod".into()),
            version: Some("1.2".into()),
            tags: vec![
                ("team".into(), "a".into()),
                ("env".into(), "shadowed".into()),
            ],
            runtime_id: "rid".into(),
            process_id: 42.0,
            trace_id_128_bit: true,
            partial_flush_min_spans: 300,
        }
    }

    fn lookup<'a>(map: &'a Value, key: &str) -> &'a Value {
        map.as_map()
            .and_then(|entries| entries.iter().find(|(k, _)| k.as_str() == Some(key)))
            .map_or(&Value::Nil, |(_, v)| v)
    }

    #[test]
    fn a_chunk_decodes_with_trace_tags_on_its_first_span() {
        let mut root = SpanFields::new("http.request", SpanId::new(1), 1_000);
        root.is_local_root = true;
        root.resource = Some("GET /".into());
        root.span_type = Some("web".into());
        root.set_meta("http.method", "GET");
        root.links.push(
            SpanLink::new(TraceId::from_parts(7, 8), SpanId::new(9)).with_attribute("reason", "x"),
        );
        root.links[0].flags = Some(0);
        let mut child = SpanFields::new("db.query", SpanId::new(2), 1_500);
        child.parent_id = SpanId::new(1);
        child.local_parent = true;
        child.service = Some("db".into());
        child.error = true;
        child.set_metric("rows", 3.0);
        let mut decision = Decision::fixed(SamplingPriority::AUTO_KEEP, Some(1));
        decision.agent_rate = Some(0.5);
        let chunk = TraceChunk {
            trace_id: TraceId::from_parts(0x6553_0000_0000_0000, 77),
            decision: Some(decision),
            origin: Some("rum".into()),
            tags: vec![("_dd.p.usr.id".into(), "x".into())],
            spans: vec![root, child],
        };
        let mut buffer = Vec::new();
        begin_payload(&mut buffer);
        encode_chunk(&mut buffer, &chunk, &settings());
        finish_payload(&mut buffer, 1);
        let payload = rmpv::decode::read_value(&mut buffer.as_slice()).unwrap();
        let spans = payload[0].as_array().unwrap();
        let (root, child) = (&spans[0], &spans[1]);
        assert_eq!(lookup(root, "trace_id").as_u64(), Some(77));
        assert_eq!(lookup(root, "type").as_str(), Some("web"));
        let meta = lookup(root, "meta");
        assert_eq!(lookup(meta, "_dd.p.tid").as_str(), Some("6553000000000000"));
        assert_eq!(lookup(meta, "env").as_str(), Some("prod"));
        assert_eq!(lookup(meta, "version").as_str(), Some("1.2"));
        assert_eq!(lookup(meta, "team").as_str(), Some("a"));
        assert_eq!(
            meta.as_map()
                .unwrap()
                .iter()
                .filter(|(k, _)| k.as_str() == Some("env"))
                .count(),
            1
        );
        assert_eq!(lookup(meta, "_dd.p.dm").as_str(), Some("-1"));
        assert_eq!(lookup(meta, "_dd.p.usr.id").as_str(), Some("x"));
        assert_eq!(lookup(meta, "language").as_str(), Some("rust"));
        let metrics = lookup(root, "metrics");
        assert_eq!(lookup(metrics, "_sampling_priority_v1").as_f64(), Some(1.0));
        assert_eq!(lookup(metrics, "_dd.agent_psr").as_f64(), Some(0.5));
        assert_eq!(lookup(metrics, "_dd.top_level").as_f64(), Some(1.0));
        let link = &lookup(root, "span_links")[0];
        assert_eq!(lookup(link, "trace_id_high").as_u64(), Some(7));
        assert_eq!(lookup(link, "flags").as_u64(), Some(1 << 31));

        assert_eq!(lookup(child, "error").as_i64(), Some(1));
        assert_eq!(lookup(child, "service").as_str(), Some("db"));
        let child_meta = lookup(child, "meta");
        assert_eq!(lookup(child_meta, "_dd.p.tid"), &Value::Nil);
        assert_eq!(
            lookup(child_meta, "version"),
            &Value::Nil,
            "version only on DD_SERVICE spans"
        );
        assert_eq!(lookup(child_meta, "_dd.base_service").as_str(), Some("svc"));
        assert_eq!(lookup(child_meta, "_dd.origin").as_str(), Some("rum"));
        let child_metrics = lookup(child, "metrics");
        assert_eq!(
            lookup(child_metrics, "_dd.top_level").as_f64(),
            Some(1.0),
            "service changed"
        );
        assert_eq!(lookup(child_metrics, "rows").as_f64(), Some(3.0));
        assert_eq!(lookup(child_metrics, "_sampling_priority_v1"), &Value::Nil);
    }
}
