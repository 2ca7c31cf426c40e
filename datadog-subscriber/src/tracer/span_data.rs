//! What the tracer keeps per span: ids, timing, Datadog fields, and how `tracing` fields map to
//! them.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::Instant;

use compact_str::CompactString;
use smallvec::SmallVec;
use tracing_core::field::{Field, Visit};

use super::settings::Clock;
use crate::context::{SpanId, SpanLink};

/// Span fields kept without an allocation.
const INLINE_TAGS: usize = 4;

/// The Datadog data of one span, moved into its trace's chunk when the span closes.
pub(crate) struct SpanFields {
    pub(crate) name: &'static str,
    pub(crate) span_id: SpanId,
    pub(crate) parent_id: SpanId,
    /// Start (nanoseconds since the Unix epoch) and duration, unless `clock` has them.
    pub(crate) start_ns: i64,
    pub(crate) duration_ns: i64,
    /// Monotonic start and end, for a span the layer timed: the caller only reads the clock,
    /// the export worker converts ([`SpanFields::times`]).
    pub(crate) started: Option<Instant>,
    pub(crate) ended: Option<Instant>,
    /// A per-span service (the `service` field, or inherited from the parent); `None` means the
    /// tracer's service.
    pub(crate) service: Option<Arc<str>>,
    /// Whether the parent is a span of this process (else the span is top-level).
    pub(crate) local_parent: bool,
    /// The parent's per-span service, for a local parent (for `_dd.top_level`).
    pub(crate) parent_service: Option<Arc<str>>,
    /// Inline up to 24 bytes, as most `resource`/`span.type` values are.
    pub(crate) resource: Option<CompactString>,
    pub(crate) span_type: Option<CompactString>,
    pub(crate) error: bool,
    /// `meta` and `metrics` in one list, inline up to [`INLINE_TAGS`] entries: most spans
    /// allocate nothing for their fields.
    pub(crate) tags: SmallVec<[(TagKey, TagValue); INLINE_TAGS]>,
    pub(crate) links: Vec<SpanLink>,
    /// The first span of this process in its trace (carries the sampling rates and the
    /// extraction tags).
    pub(crate) is_local_root: bool,
}

impl SpanFields {
    pub(crate) fn new(name: &'static str, span_id: SpanId, start_ns: i64) -> Self {
        SpanFields {
            name,
            span_id,
            parent_id: SpanId::INVALID,
            start_ns,
            duration_ns: 0,
            started: None,
            ended: None,
            service: None,
            local_parent: false,
            parent_service: None,
            resource: None,
            span_type: None,
            error: false,
            tags: SmallVec::new(),
            links: Vec::new(),
            is_local_root: false,
        }
    }

    /// A span the layer times, from `started` (its end is set when it closes).
    pub(crate) fn timed(name: &'static str, span_id: SpanId, started: Instant) -> Self {
        let mut fields = SpanFields::new(name, span_id, 0);
        fields.started = Some(started);
        fields
    }

    /// `start` and `duration` in nanoseconds.
    pub(crate) fn times(&self, clock: &Clock) -> (i64, i64) {
        match (self.started, self.ended) {
            (Some(started), Some(ended)) => (
                clock.unix_nanos(started),
                ended.saturating_duration_since(started).as_nanos() as i64,
            ),
            _ => (self.start_ns, self.duration_ns),
        }
    }

    /// `_dd.top_level`: the span starts its service's part of the trace.
    pub(crate) fn is_top_level(&self) -> bool {
        !self.local_parent || self.parent_service != self.service
    }

    /// The string tags (`meta`).
    pub(crate) fn meta_entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.tags
            .iter()
            .filter_map(|(key, value)| value.as_str().map(|text| (&**key, text)))
    }

    pub(crate) fn meta(&self, key: &str) -> Option<&str> {
        self.meta_entries().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// A tag as sampling-rule globs see it: strings as they are, integers without a fraction.
    pub(crate) fn tag_text(&self, key: &str) -> Option<String> {
        self.tags
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, value)| match value {
                TagValue::Str(text) => text.to_string(),
                TagValue::Num(number) if number.fract() == 0.0 && number.abs() < 1e15 => {
                    format!("{}", *number as i64)
                }
                TagValue::Num(number) => number.to_string(),
            })
    }

    pub(crate) fn set_tag(&mut self, key: impl Into<TagKey>, value: TagValue) {
        let key = key.into();
        if let Some(entry) = self.tags.iter_mut().find(|(k, _)| *k == key) {
            entry.1 = value;
        } else {
            self.tags.push((key, value));
        }
    }

    pub(crate) fn set_meta(&mut self, key: impl Into<TagKey>, value: impl Into<CompactString>) {
        self.set_tag(key, TagValue::Str(value.into()));
    }

    pub(crate) fn set_metric(&mut self, key: impl Into<TagKey>, value: f64) {
        self.set_tag(key, TagValue::Num(value));
    }

    fn set_meta_if_absent(&mut self, key: &'static str, value: impl FnOnce() -> String) {
        if self.meta(key).is_none() {
            self.set_meta(key, value());
        }
    }

    /// An `ERROR` event inside the span: the span is an error; the event's message (and its
    /// `error.type`/`error.stack` fields) describe it unless the span already says more.
    pub(crate) fn record_error_event(&mut self, event: &tracing::Event<'_>) {
        let mut visitor = ErrorEventVisitor::default();
        event.record(&mut visitor);
        self.error = true;
        if let Some(message) = visitor.message {
            self.set_meta_if_absent("error.message", || message);
        }
        if let Some(kind) = visitor.kind {
            self.set_meta_if_absent("error.type", || kind);
        }
        if let Some(stack) = visitor.stack {
            self.set_meta_if_absent("error.stack", || stack);
        }
    }
}

/// A span tag: a string goes to `meta`, a number to `metrics`.
pub(crate) enum TagValue {
    /// Inline up to 24 bytes: most field values (`GET`, `postgresql`, ids, status words) take
    /// no allocation, which a profile of the request path shows pays.
    Str(CompactString),
    Num(f64),
}

impl TagValue {
    /// The `meta` value, for a string.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            TagValue::Str(text) => Some(text),
            TagValue::Num(_) => None,
        }
    }
}

/// A tag key: a `tracing` field name, or a key made at run time (`baggage.<key>`).
pub(crate) type TagKey = Cow<'static, str>;

/// Records `tracing` fields into [`SpanFields`].
pub(crate) struct FieldVisitor<'a>(pub(crate) &'a mut SpanFields);

impl FieldVisitor<'_> {
    fn string(&mut self, field: &Field, value: &str) {
        let fields = &mut *self.0;
        match field.name() {
            "service" => fields.service = Some(Arc::from(value)),
            "resource" => fields.resource = Some(CompactString::from(value)),
            "span.type" => fields.span_type = Some(CompactString::from(value)),
            "error" => {
                fields.error = true;
                fields.set_meta("error.message", value);
            }
            "message" => {}
            name => fields.set_meta(name, value),
        }
    }

    fn number(&mut self, field: &Field, value: f64) {
        match field.name() {
            "error" => self.0.error = value != 0.0,
            name => self.0.set_metric(name, value),
        }
    }
}

impl Visit for FieldVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.string(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == "error" {
            self.0.error = value;
        } else {
            self.0.set_meta(
                field.name(),
                CompactString::const_new(if value { "true" } else { "false" }),
            );
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.number(field, value as f64);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.number(field, value as f64);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.number(field, value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.number(field, value as f64);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.number(field, value as f64);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let fields = &mut *self.0;
        fields.error = true;
        fields.set_meta("error.message", value.to_string());
        fields.set_meta("error.type", error_type(value));
        if let Some(chain) = source_chain(value) {
            fields.set_meta("error.stack", chain);
        }
        if field.name() != "error" {
            fields.set_meta(field.name(), value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.string(field, &format!("{value:?}"));
    }
}

/// The type of an error as far as a `dyn Error` reveals it: the leading identifier of its
/// `Debug` form (`NotFound`, `ParseIntError`, ...), else `error`.
fn error_type(error: &dyn std::error::Error) -> String {
    let debug = format!("{error:?}");
    let head: String = debug
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
        .collect();
    if head.is_empty() {
        "error".to_owned()
    } else {
        head
    }
}

/// The `source()` chain, one cause per line, when there is one.
fn source_chain(error: &dyn std::error::Error) -> Option<String> {
    let mut source = error.source()?;
    let mut chain = String::new();
    loop {
        let _ = writeln!(chain, "caused by: {source}");
        match source.source() {
            Some(next) => source = next,
            None => return Some(chain),
        }
    }
}

#[derive(Default)]
struct ErrorEventVisitor {
    message: Option<String>,
    kind: Option<String>,
    stack: Option<String>,
}

impl ErrorEventVisitor {
    fn set(&mut self, field: &Field, value: String) {
        match field.name() {
            "message" | "error.message" | "error" => {
                self.message.get_or_insert(value);
            }
            "error.type" => self.kind = Some(value),
            "error.stack" => self.stack = Some(value),
            _ => {}
        }
    }
}

impl Visit for ErrorEventVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, value.to_owned());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.kind.is_none() {
            self.kind = Some(error_type(value));
        }
        if self.stack.is_none() {
            self.stack = source_chain(value);
        }
        self.set(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field, format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_fields_become_meta_and_named_fields() {
        let mut fields = SpanFields::new("op", SpanId::new(1), 0);
        FieldVisitor(&mut fields).string(&test_field("db.system"), "postgresql");
        FieldVisitor(&mut fields).string(&test_field("resource"), "SELECT 1");
        FieldVisitor(&mut fields).number(&test_field("rows"), 3.0);
        assert_eq!(fields.meta("db.system"), Some("postgresql"));
        assert_eq!(fields.resource.as_deref(), Some("SELECT 1"));
        assert_eq!(fields.tag_text("rows"), Some("3".to_owned()));
        fields.set_meta(format!("baggage.{}", "user.id"), "alice");
        assert_eq!(fields.meta("baggage.user.id"), Some("alice"));
    }

    #[test]
    fn timed_spans_convert_their_clock_readings_on_output() {
        let clock = Clock::now();
        let started = Instant::now();
        let mut fields = SpanFields::timed("op", SpanId::new(1), started);
        fields.ended = Some(started + std::time::Duration::from_millis(3));
        let (start, duration) = fields.times(&clock);
        assert_eq!(start, clock.unix_nanos(started));
        assert!(start > 1_600_000_000_000_000_000);
        assert_eq!(duration, 3_000_000);
        let mut given = SpanFields::new("op", SpanId::new(1), 42);
        given.duration_ns = 7;
        assert_eq!(given.times(&clock), (42, 7));
    }

    /// A field of a test callsite.
    fn test_field(name: &str) -> Field {
        struct Callsite;
        impl tracing_core::Callsite for Callsite {
            fn set_interest(&self, _: tracing_core::Interest) {}
            fn metadata(&self) -> &tracing_core::Metadata<'_> {
                &METADATA
            }
        }
        static CALLSITE: Callsite = Callsite;
        static METADATA: tracing_core::Metadata<'static> = tracing_core::metadata! {
            name: "test",
            target: "test",
            level: tracing_core::Level::INFO,
            fields: &["resource", "db.system", "rows"],
            callsite: &CALLSITE,
            kind: tracing_core::metadata::Kind::SPAN,
        };
        METADATA.fields().field(name).expect("declared")
    }
}
