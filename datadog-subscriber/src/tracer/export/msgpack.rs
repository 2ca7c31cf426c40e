//! The `/v0.4/traces` msgpack encoding, written straight from the tracer's span data (no
//! intermediate values, no serde).
//!
//! The export worker encodes each chunk from the boxed span fields the layer handed over: the
//! first span of the chunk carries the trace-level tags (sampling decision, `_dd.p.*`), the
//! settings' `meta` entries are encoded once per tracer ([`SettingsMeta`]), and the fixed-width
//! fields of a span are copied in one block.

use super::{TraceChunk, wire};
use crate::context::{PropagationTags, SpanLink, TraceId};
use crate::tracer::sampling::Decision;
use crate::tracer::span_data::{SpanFields, TagValue, Text};
use crate::tracer::trace::Settings;

/// A static map key, encoded at compile time.
macro_rules! key {
    ($key:literal) => {
        &const { wire::key::<{ $key.len() + 1 }>($key) }
    };
}

/// Room reserved before a span is written: most spans fit, so the writes below rarely grow the
/// buffer.
const SPAN_RESERVE: usize = 384;

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

/// Appends one trace chunk (an array of span maps); its first span carries the trace-level
/// tags.
pub(crate) fn encode_chunk(buffer: &mut Vec<u8>, chunk: &TraceChunk, settings: &Settings) {
    wire::array_len(buffer, chunk.spans.len() as u32);
    let trace = TraceFields {
        trace_id: chunk.trace_id,
        origin: chunk.origin.as_deref(),
    };
    let chunk_tags = ChunkTags {
        decision: chunk.decision.as_ref(),
        tags: &chunk.tags,
    };
    for (index, span) in chunk.spans.iter().enumerate() {
        let first = (index == 0).then_some(&chunk_tags);
        encode_span(buffer, span, settings, &trace, first);
    }
}

/// What every span's encoding takes from its trace.
pub(crate) struct TraceFields<'a> {
    pub(crate) trace_id: TraceId,
    pub(crate) origin: Option<&'a str>,
}

/// What only the first span of a chunk carries.
pub(crate) struct ChunkTags<'a> {
    pub(crate) decision: Option<&'a Decision>,
    pub(crate) tags: &'a PropagationTags,
}

/// The map header and the fixed-width fields of a span, laid out once: a span patches its
/// values in and copies the block with one write. Ids and times use the 64-bit forms, valid
/// MessagePack for any value (the Agent reads any integer width).
const FIXED: [u8; FIXED_LEN] = fixed_block();
const FIXED_LEN: usize = 95;
const TRACE_ID_AT: usize = 11;
const SPAN_ID_AT: usize = 28;
const PARENT_ID_AT: usize = 47;
const START_AT: usize = 62;
const DURATION_AT: usize = 80;
const ERROR_AT: usize = 94;

const fn fixed_block() -> [u8; FIXED_LEN] {
    const fn put(out: &mut [u8; FIXED_LEN], at: usize, bytes: &[u8]) -> usize {
        let mut index = 0;
        while index < bytes.len() {
            out[at + index] = bytes[index];
            index += 1;
        }
        at + bytes.len()
    }
    let mut out = [0u8; FIXED_LEN];
    let at = put(&mut out, 1, &wire::key::<9>("trace_id"));
    let at = put(&mut out, at, &[0xcf]);
    assert!(at == TRACE_ID_AT);
    let at = put(&mut out, at + 8, &wire::key::<8>("span_id"));
    let at = put(&mut out, at, &[0xcf]);
    assert!(at == SPAN_ID_AT);
    let at = put(&mut out, at + 8, &wire::key::<10>("parent_id"));
    let at = put(&mut out, at, &[0xcf]);
    assert!(at == PARENT_ID_AT);
    let at = put(&mut out, at + 8, &wire::key::<6>("start"));
    let at = put(&mut out, at, &[0xd3]);
    assert!(at == START_AT);
    let at = put(&mut out, at + 8, &wire::key::<9>("duration"));
    let at = put(&mut out, at, &[0xd3]);
    assert!(at == DURATION_AT);
    let at = put(&mut out, at + 8, &wire::key::<6>("error"));
    assert!(at == ERROR_AT && at + 1 == FIXED_LEN);
    out
}

/// Appends one span map; `first` for the span that carries the chunk's trace-level tags.
pub(crate) fn encode_span(
    buffer: &mut Vec<u8>,
    span: &SpanFields,
    settings: &Settings,
    trace: &TraceFields<'_>,
    first: Option<&ChunkTags<'_>>,
) {
    buffer.reserve(SPAN_RESERVE);
    let entries = 11 + u32::from(span.span_type.is_some()) + u32::from(!span.links.is_empty());
    let mut fixed = FIXED;
    fixed[0] = 0x80 | entries as u8;
    fixed[TRACE_ID_AT..TRACE_ID_AT + 8].copy_from_slice(&trace.trace_id.low().to_be_bytes());
    fixed[SPAN_ID_AT..SPAN_ID_AT + 8].copy_from_slice(&span.span_id.as_u64().to_be_bytes());
    fixed[PARENT_ID_AT..PARENT_ID_AT + 8].copy_from_slice(&span.parent_id.as_u64().to_be_bytes());
    let (start_ns, duration_ns) = span.times(&settings.clock);
    fixed[START_AT..START_AT + 8].copy_from_slice(&start_ns.to_be_bytes());
    fixed[DURATION_AT..DURATION_AT + 8].copy_from_slice(&duration_ns.to_be_bytes());
    fixed[ERROR_AT] = u8::from(span.error);
    buffer.extend_from_slice(&fixed);
    buffer.extend_from_slice(key!("service"));
    wire::string(buffer, span.service.as_deref().unwrap_or(&settings.service));
    buffer.extend_from_slice(key!("name"));
    wire::string(buffer, span.name);
    buffer.extend_from_slice(key!("resource"));
    match &span.resource {
        Some(resource) => text(buffer, resource),
        None => wire::string(buffer, span.name),
    }
    if let Some(span_type) = &span.span_type {
        buffer.extend_from_slice(key!("type"));
        text(buffer, span_type);
    }
    buffer.extend_from_slice(key!("meta"));
    let span_meta = encode_meta(buffer, span, settings, trace, first);
    buffer.extend_from_slice(key!("metrics"));
    encode_metrics(buffer, span, span.tags.len() - span_meta, settings, first);
    if !span.links.is_empty() {
        buffer.extend_from_slice(key!("span_links"));
        wire::array_len(buffer, span.links.len() as u32);
        for link in &span.links {
            encode_link(buffer, link);
        }
    }
}

fn text(buffer: &mut Vec<u8>, value: &Text) {
    match value {
        Text::Short(short) => {
            let (bytes, len) = short.padded();
            wire::padded_string(buffer, bytes, len);
        }
        Text::Long(long) => wire::string(buffer, long),
    }
}

/// The span's string tags plus what the tracer adds: service tags on every span
/// ([`SettingsMeta`]), trace-level tags on the first span of each chunk. Returns the number of
/// the span's own string tags.
fn encode_meta(
    buffer: &mut Vec<u8>,
    span: &SpanFields,
    settings: &Settings,
    trace: &TraceFields<'_>,
    first: Option<&ChunkTags<'_>>,
) -> usize {
    let settings_meta = settings.meta();
    let mut span_meta = 0;
    let mut shadowing = false;
    for (key, value) in &span.tags {
        if !matches!(value, TagValue::Num(_)) {
            span_meta += 1;
            shadowing |= settings_meta.shadows(key);
        }
    }
    let own_service = is_own_service(span, settings);
    let mut count = span_meta as u32 + u32::from(trace.origin.is_some());
    if shadowing {
        for_each_settings_meta(span, settings, own_service, |_, _| count += 1);
    } else {
        count += settings_meta.prebuilt(own_service).1;
    }
    let tid = first
        .map(|_| trace.trace_id.high())
        .filter(|high| *high != 0);
    let dm = first.and_then(|first| first.decision.and_then(Decision::decision_maker));
    if let Some(first) = first {
        count += 2 + first.tags.len() as u32 + u32::from(dm.is_some()) + u32::from(tid.is_some());
    }
    wire::map_len(buffer, count);
    for (key, value) in &span.tags {
        match value {
            TagValue::Short(short) => {
                wire::string(buffer, key);
                let (bytes, len) = short.padded();
                wire::padded_string(buffer, bytes, len);
            }
            TagValue::Str(long) => {
                wire::string(buffer, key);
                wire::string(buffer, long);
            }
            TagValue::Num(_) => {}
        }
    }
    if shadowing {
        for_each_settings_meta(span, settings, own_service, |key, value| {
            wire::string(buffer, key);
            wire::string(buffer, value);
        });
    } else {
        buffer.extend_from_slice(settings_meta.prebuilt(own_service).0);
    }
    if let Some(origin) = trace.origin {
        buffer.extend_from_slice(key!("_dd.origin"));
        wire::string(buffer, origin);
    }
    if let Some(first) = first {
        buffer.extend_from_slice(key!("language"));
        buffer.extend_from_slice(key!("rust"));
        buffer.extend_from_slice(key!("runtime-id"));
        wire::string(buffer, &settings.runtime_id);
        for (key, value) in first.tags.iter() {
            wire::string(buffer, key);
            wire::string(buffer, value);
        }
        if let Some(dm) = dm {
            buffer.extend_from_slice(key!("_dd.p.dm"));
            wire::string(buffer, dm);
        }
        if let Some(high) = tid {
            let hex = hex16(high);
            buffer.extend_from_slice(key!("_dd.p.tid"));
            wire::string(buffer, std::str::from_utf8(&hex).unwrap_or_default());
        }
    }
    span_meta
}

fn is_own_service(span: &SpanFields, settings: &Settings) -> bool {
    span.service
        .as_deref()
        .is_none_or(|service| service == &*settings.service)
}

/// The `meta` entries the tracer adds from its settings: `env`, `version` (only on spans of the
/// configured service, as Datadog SDKs do), `DD_TAGS`, `_dd.base_service`; a span's own tag of
/// the same key wins.
fn for_each_settings_meta(
    span: &SpanFields,
    settings: &Settings,
    own_service: bool,
    mut visit: impl FnMut(&str, &str),
) {
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
}

/// [`for_each_settings_meta`] encoded once per tracer for spans whose tags shadow none of its
/// keys (nearly all spans), for spans of the configured service and for the others.
pub(crate) struct SettingsMeta {
    own: (Vec<u8>, u32),
    other: (Vec<u8>, u32),
    /// The keys a span tag can shadow.
    keys: Vec<String>,
}

impl SettingsMeta {
    pub(crate) fn new(settings: &Settings) -> Self {
        let untagged = SpanFields::new("", crate::context::SpanId::INVALID, 0);
        let encode = |own_service: bool| {
            let mut bytes = Vec::new();
            let mut count = 0;
            for_each_settings_meta(&untagged, settings, own_service, |key, value| {
                wire::string(&mut bytes, key);
                wire::string(&mut bytes, value);
                count += 1;
            });
            (bytes, count)
        };
        let mut keys = vec!["env".to_owned(), "version".to_owned()];
        keys.extend(settings.tags.iter().map(|(key, _)| key.clone()));
        SettingsMeta {
            own: encode(true),
            other: encode(false),
            keys,
        }
    }

    /// Whether a span tag `key` replaces one of the entries (the span then takes the generic
    /// path).
    fn shadows(&self, key: &str) -> bool {
        self.keys.iter().any(|shadowed| shadowed == key)
    }

    /// The pre-encoded entries and their count, for a span whose tags shadow none of them.
    fn prebuilt(&self, own_service: bool) -> (&[u8], u32) {
        let (bytes, count) = if own_service { &self.own } else { &self.other };
        (bytes, *count)
    }
}

/// `_dd.top_level: 1.0`, encoded once.
const TOP_LEVEL: [u8; 23] = {
    let key = wire::key::<14>("_dd.top_level");
    let value = 1.0f64.to_be_bytes();
    let mut out = [0u8; 23];
    let mut index = 0;
    while index < 14 {
        out[index] = key[index];
        index += 1;
    }
    out[14] = 0xcb;
    while index < 22 {
        out[index + 1] = value[index - 14];
        index += 1;
    }
    out
};

fn encode_metrics(
    buffer: &mut Vec<u8>,
    span: &SpanFields,
    span_metrics: usize,
    settings: &Settings,
    first: Option<&ChunkTags<'_>>,
) {
    let top_level = span.is_top_level();
    let priority = first.and_then(|first| first.decision).map(|d| d.priority);
    // The rates go on the local root, which is always the first span of its chunk.
    let rates = first
        .and_then(|first| first.decision)
        .filter(|_| span.is_local_root)
        .map(|decision| {
            [
                ("_dd.agent_psr", decision.agent_rate),
                ("_dd.rule_psr", decision.rule_rate),
                ("_dd.limit_psr", decision.limit_rate),
            ]
        });
    let mut count = span_metrics as u32 + u32::from(top_level);
    if first.is_some() {
        count += 1 + u32::from(priority.is_some());
    }
    if let Some(rates) = &rates {
        count += rates.iter().filter(|(_, rate)| rate.is_some()).count() as u32;
    }
    wire::map_len(buffer, count);
    for (key, value) in &span.tags {
        if let TagValue::Num(number) = value {
            wire::string(buffer, key);
            wire::float(buffer, *number);
        }
    }
    if top_level {
        buffer.extend_from_slice(&TOP_LEVEL);
    }
    if first.is_some() {
        if let Some(priority) = priority {
            buffer.extend_from_slice(key!("_sampling_priority_v1"));
            wire::float(buffer, f64::from(priority.value()));
        }
        buffer.extend_from_slice(key!("process_id"));
        wire::float(buffer, settings.process_id);
    }
    for (key, rate) in rates.into_iter().flatten() {
        if let Some(rate) = rate {
            wire::string(buffer, key);
            wire::float(buffer, rate);
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
    wire::map_len(buffer, entries);
    buffer.extend_from_slice(key!("trace_id"));
    wire::uint(buffer, link.trace_id.low());
    if high != 0 {
        buffer.extend_from_slice(key!("trace_id_high"));
        wire::uint(buffer, high);
    }
    buffer.extend_from_slice(key!("span_id"));
    wire::uint(buffer, link.span_id.as_u64());
    if !link.attributes.is_empty() {
        buffer.extend_from_slice(key!("attributes"));
        wire::map_len(buffer, link.attributes.len() as u32);
        for (key, value) in &link.attributes {
            wire::string(buffer, key);
            wire::string(buffer, value);
        }
    }
    if let Some(tracestate) = &link.tracestate {
        buffer.extend_from_slice(key!("tracestate"));
        wire::string(buffer, tracestate);
    }
    if let Some(flags) = link.flags {
        // Bit 31 tells the backend the flags are set (a zero flags value is meaningful).
        buffer.extend_from_slice(key!("flags"));
        wire::uint(buffer, u64::from(flags | 1 << 31));
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
            meta: std::sync::OnceLock::new(),
            clock: crate::tracer::trace::Clock::now(),
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
        let mut tags = PropagationTags::default();
        tags.insert("_dd.p.usr.id", "x");
        let chunk = TraceChunk {
            trace_id: TraceId::from_parts(0x6553_0000_0000_0000, 77),
            decision: Some(decision),
            origin: Some("rum".into()),
            tags,
            spans: smallvec::smallvec![Box::new(root), Box::new(child)],
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

    /// Encodes `span` alone (not first in its chunk) and decodes its `meta`.
    fn meta_of(span: &SpanFields, settings: &Settings) -> Vec<(String, String)> {
        let mut buffer = Vec::new();
        let trace = TraceFields {
            trace_id: TraceId::from_parts(0, 5),
            origin: None,
        };
        encode_span(&mut buffer, span, settings, &trace, None);
        let value = rmpv::decode::read_value(&mut buffer.as_slice()).unwrap();
        lookup(&value, "meta")
            .as_map()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().unwrap().to_owned(),
                    v.as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn prebuilt_settings_meta_matches_the_generic_path() {
        let settings = settings();
        for service in [None, Some("svc"), Some("db")] {
            let mut span = SpanFields::new("op", SpanId::new(3), 0);
            span.service = service.map(Into::into);
            span.set_meta("db.system", "postgresql");
            let own_service = is_own_service(&span, &settings);
            assert!(!settings.meta().shadows("db.system"));
            let (bytes, count) = settings.meta().prebuilt(own_service);
            let mut generic = Vec::new();
            let mut generic_count = 0;
            for_each_settings_meta(&span, &settings, own_service, |key, value| {
                wire::string(&mut generic, key);
                wire::string(&mut generic, value);
                generic_count += 1;
            });
            assert_eq!((bytes, count), (generic.as_slice(), generic_count));
        }
    }

    #[test]
    fn span_tags_shadow_the_settings_tags() {
        let settings = settings();
        let mut span = SpanFields::new("op", SpanId::new(3), 0);
        span.set_meta("env", "staging");
        span.set_meta("team", "b");
        assert!(settings.meta().shadows("env") && settings.meta().shadows("team"));
        let meta = meta_of(&span, &settings);
        let values = |key: &str| -> Vec<&str> {
            meta.iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        assert_eq!(values("env"), ["staging"]);
        assert_eq!(values("team"), ["b"]);
        assert_eq!(values("version"), ["1.2"]);

        let mut plain = SpanFields::new("op", SpanId::new(4), 0);
        plain.set_meta("http.method", "GET");
        let meta = meta_of(&plain, &settings);
        assert!(meta.contains(&("env".to_owned(), "prod".to_owned())));
        assert!(meta.contains(&("team".to_owned(), "a".to_owned())));
        assert_eq!(meta.iter().filter(|(k, _)| k == "env").count(), 1);
        assert!(meta.contains(&("http.method".to_owned(), "GET".to_owned())));
    }
}
