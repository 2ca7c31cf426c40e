//! Turns `tracing` fields into `"key":value` pairs of a log line.

use std::error::Error;
use std::fmt;

use tracing_core::field::{Field, Visit};

use super::json;

/// Writes each visited field as `,"name":value` into `out`.
pub(crate) struct FieldWriter<'a> {
    out: &'a mut Vec<u8>,
    limit: usize,
    /// Event fields: the first error also fills `error.kind`, `error.message` and `error.stack`.
    /// Span fields leave those to the event that reports the error.
    describe_errors: bool,
    /// The fields the line leaves out (see the constructors).
    left_out: fn(&str) -> bool,
}

impl<'a> FieldWriter<'a> {
    /// A writer of an event's fields.
    pub(crate) fn event(out: &'a mut Vec<u8>, limit: usize) -> Self {
        FieldWriter {
            out,
            limit,
            describe_errors: true,
            left_out: |_| false,
        }
    }

    /// A writer of the fields of an event made from a `log` record, but its `log.*` fields
    /// (already in the line's metadata, see [`log_records`](super::log_records)).
    pub(crate) fn log_record(out: &'a mut Vec<u8>, limit: usize) -> Self {
        FieldWriter {
            left_out: |name| name.starts_with("log."),
            ..FieldWriter::event(out, limit)
        }
    }

    /// A writer of a span's fields, kept for the lines written inside the span: the span's
    /// Datadog metadata ([`is_span_metadata`]) is the trace's business, not the line's.
    pub(crate) fn span(out: &'a mut Vec<u8>, limit: usize) -> Self {
        FieldWriter {
            out,
            limit,
            describe_errors: false,
            left_out: is_span_metadata,
        }
    }

    /// Appends `,"name":` (`,"fields.name":` for the keys the line writes itself, see
    /// [`is_reserved`]); `false`, writing nothing, for a field the line leaves out.
    fn key(&mut self, field: &Field) -> bool {
        let name = field.name();
        if (self.left_out)(name) {
            return false;
        }
        if is_reserved(name) {
            // Keep the line's own attributes authoritative; the field survives under `fields.`.
            self.out.extend_from_slice(b",\"fields.");
        } else {
            self.out.extend_from_slice(b",\"");
        }
        // Field names are Rust identifiers or string literals; escape anyway.
        json::escaped(self.out, name);
        self.out.extend_from_slice(b"\":");
        true
    }
}

impl Visit for FieldWriter<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if !self.key(field) {
            return;
        }
        json::float(self.out, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if !self.key(field) {
            return;
        }
        json::integer(self.out, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if !self.key(field) {
            return;
        }
        json::integer(self.out, value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        if !self.key(field) {
            return;
        }
        json::integer(self.out, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        if !self.key(field) {
            return;
        }
        json::integer(self.out, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if !self.key(field) {
            return;
        }
        json::boolean(self.out, value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if !self.key(field) {
            return;
        }
        json::string(self.out, value, self.limit);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        if !self.key(field) {
            return;
        }
        json::formatted(self.out, format_args!("{value}"), self.limit);
        if self.describe_errors {
            self.describe_errors = false;
            describe_error(self.out, value, self.limit);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !self.key(field) {
            return;
        }
        json::formatted(self.out, format_args!("{value:?}"), self.limit);
    }
}

/// `error.kind` (the type name, as far as `Debug` shows it), `error.message` (`Display`) and
/// `error.stack` (`Debug`, which for error-reporting types holds the cause chain and backtrace).
fn describe_error(out: &mut Vec<u8>, error: &(dyn Error + 'static), limit: usize) {
    let debug = format!("{error:?}");
    // `dyn Error` has no type name; `Debug` output starts with it for derived impls. `io::Error`
    // (the most common error) starts with its repr's variant instead, so it is named here.
    let kind = if error.is::<std::io::Error>() {
        "std::io::Error"
    } else {
        let kind_end = debug
            .find(|character: char| !(character.is_alphanumeric() || "_:".contains(character)))
            .unwrap_or(debug.len());
        debug[..kind_end].trim_end_matches(':')
    };
    if !kind.is_empty() {
        json::key(out, "error.kind", true);
        json::string(out, kind, limit);
    }
    json::key(out, "error.message", true);
    json::formatted(out, format_args!("{error}"), limit);
    json::key(out, "error.stack", true);
    json::string(out, &debug, limit);
}

/// A span's Datadog metadata: what the tracer makes of the span (`span.kind`, `span.type`,
/// `component`, and the `_dd.*` internals such as `_dd.measured`). Every span of an instrumented
/// request carries them, and a line correlated with the span by its ids has nothing to learn
/// from them: they are left out of the span fields a line repeats.
pub(crate) fn is_span_metadata(name: &str) -> bool {
    // One comparison rules out most names (`http.url`, `user.id`).
    match name.as_bytes().first() {
        Some(b's') => matches!(name, "span.kind" | "span.type"),
        Some(b'c') => name == "component",
        Some(b'_') => name.starts_with("_dd."),
        _ => false,
    }
}

/// Keys the line writes itself; fields with these names are written as `fields.<name>`.
const RESERVED: [&str; 10] = [
    "timestamp",
    "status",
    "severity",
    "logger.name",
    "logger.thread_name",
    "dd.trace_id",
    "dd.span_id",
    "dd.service",
    "dd.env",
    "dd.version",
];

/// Prefix of the Google Cloud Logging keys the line writes, also reserved.
const RESERVED_PREFIX: &str = "logging.googleapis.com/";

/// Whether the line writes `name` itself (see [`RESERVED`]).
pub(crate) fn is_reserved(name: &str) -> bool {
    // Every reserved name starts with one of these bytes: most field names (`http.url`,
    // `user.id`, `message`) are ruled out by a single comparison.
    if !matches!(name.as_bytes().first(), Some(b't' | b's' | b'l' | b'd')) {
        return false;
    }
    RESERVED.contains(&name) || name.starts_with(RESERVED_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_metadata_is_told_from_user_fields() {
        for name in [
            "span.kind",
            "span.type",
            "component",
            "_dd.measured",
            "_dd.origin",
        ] {
            assert!(is_span_metadata(name), "{name}");
        }
        for name in [
            "span",
            "spans.kind",
            "components",
            "_d",
            "_other",
            "http.url",
            "service",
            "resource",
            "",
        ] {
            assert!(!is_span_metadata(name), "{name}");
        }
    }

    #[test]
    fn the_first_byte_gate_lets_every_reserved_name_through() {
        for name in RESERVED {
            assert!(is_reserved(name), "{name}");
        }
        assert!(is_reserved("logging.googleapis.com/labels"));
        for name in [
            "message",
            "http.url",
            "span.kind",
            "d",
            "",
            "dd.trace",
            "levels",
        ] {
            assert!(!is_reserved(name), "{name}");
        }
    }
}
