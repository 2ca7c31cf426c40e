//! Turns `tracing` fields into `"key":value` pairs of a log line.

use std::error::Error;
use std::fmt;

use tracing_core::field::{Field, Visit};

use super::json;

/// Writes each visited field as `,"name":value` into `out`.
pub(crate) struct FieldWriter<'a> {
    pub(crate) out: &'a mut Vec<u8>,
    pub(crate) limit: usize,
    /// Event fields: the first error also fills `error.kind`, `error.message` and `error.stack`.
    /// Span fields leave those to the event that reports the error.
    pub(crate) describe_errors: bool,
}

impl FieldWriter<'_> {
    /// Appends `,"name":` (`,"fields.name":` for the keys the line writes itself, see
    /// [`is_reserved`]).
    fn key(&mut self, field: &Field) {
        let name = field.name();
        if is_reserved(name) {
            // Keep the line's own attributes authoritative; the field survives under `fields.`.
            self.out.extend_from_slice(b",\"fields.");
        } else {
            self.out.extend_from_slice(b",\"");
        }
        // Field names are Rust identifiers or string literals; escape anyway.
        json::escaped(self.out, name);
        self.out.extend_from_slice(b"\":");
    }
}

impl Visit for FieldWriter<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        json::float(self.out, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        json::integer(self.out, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        json::integer(self.out, value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.key(field);
        json::integer(self.out, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.key(field);
        json::integer(self.out, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        json::boolean(self.out, value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        json::string(self.out, value, self.limit);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        self.key(field);
        json::formatted(self.out, format_args!("{value}"), self.limit);
        if self.describe_errors {
            self.describe_errors = false;
            describe_error(self.out, value, self.limit);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
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
