//! Where headers are read from and written to: `http::HeaderMap` and plain string maps (message
//! headers of Kafka, SQS, RabbitMQ, ...).

use std::collections::HashMap;

use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::names;

/// Read access to a carrier of propagation headers.
///
/// Names are passed in lowercase; implementations match them case-insensitively.
///
/// ```
/// use std::collections::HashMap;
/// use datadog_tower::propagation::Extractor;
///
/// let mut message_headers = HashMap::new();
/// message_headers.insert("X-Datadog-Trace-Id".to_owned(), "42".to_owned());
/// assert_eq!(message_headers.get("x-datadog-trace-id"), None); // HashMap's own method is exact
/// assert_eq!(Extractor::get(&message_headers, "x-datadog-trace-id"), Some("42"));
/// ```
pub trait Extractor {
    /// The first value of the field `name`, when present and valid text.
    fn get(&self, name: &str) -> Option<&str>;

    /// Calls `visit` with every value of the field `name`, in order; a value that is not valid
    /// text is passed as `None`. Carriers that hold one value per name keep the default.
    fn get_all<'a>(&'a self, name: &str, visit: &mut dyn FnMut(Option<&'a str>)) {
        if let Some(value) = self.get(name) {
            visit(Some(value));
        }
    }
}

/// Write access to a carrier of propagation headers.
///
/// ```
/// use std::collections::HashMap;
/// use datadog_tower::propagation::Injector;
///
/// let mut message_headers: HashMap<String, String> = HashMap::new();
/// message_headers.set("x-datadog-trace-id", "42".to_owned());
/// assert_eq!(message_headers["x-datadog-trace-id"], "42");
/// ```
pub trait Injector {
    /// Sets the field `name` (lowercase) to `value`, replacing any previous value.
    fn set(&mut self, name: &str, value: String);

    /// Like [`set`](Self::set) with a borrowed value; the propagator formats every header in one
    /// reused buffer and calls this, so carriers that copy anyway (`HeaderMap`) copy only once.
    fn set_str(&mut self, name: &str, value: &str) {
        self.set(name, value.to_owned());
    }
}

impl Extractor for HeaderMap {
    fn get(&self, name: &str) -> Option<&str> {
        let value = match known_header(name) {
            Some(known) => self.get(known),
            None => self.get(name),
        };
        value.and_then(|value| value.to_str().ok())
    }

    fn get_all<'a>(&'a self, name: &str, visit: &mut dyn FnMut(Option<&'a str>)) {
        let values = match known_header(name) {
            Some(known) => self.get_all(known),
            None => self.get_all(name),
        };
        for value in values {
            visit(value.to_str().ok());
        }
    }
}

impl Injector for HeaderMap {
    fn set(&mut self, name: &str, value: String) {
        insert(self, name, HeaderValue::try_from(value));
    }

    fn set_str(&mut self, name: &str, value: &str) {
        insert(self, name, HeaderValue::from_str(value));
    }
}

fn insert<E>(headers: &mut HeaderMap, name: &str, value: Result<HeaderValue, E>) {
    let Ok(value) = value else {
        warn_once!(
            header = name,
            "dropping a propagation header whose value is not a valid HTTP header value"
        );
        return;
    };
    if let Some(known) = known_header(name) {
        headers.insert(known.clone(), value);
    } else if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
        headers.insert(name, value);
    } else {
        warn_once!(
            header = name,
            "dropping a propagation header with an invalid name"
        );
    }
}

/// The header names this crate reads and writes, built once: looking a `&str` up in a
/// `HeaderMap` parses and validates it every time, a `HeaderName` does not.
static KNOWN_HEADERS: [HeaderName; 13] = [
    HeaderName::from_static(names::DATADOG_TRACE_ID),
    HeaderName::from_static(names::DATADOG_PARENT_ID),
    HeaderName::from_static(names::DATADOG_SAMPLING_PRIORITY),
    HeaderName::from_static(names::DATADOG_ORIGIN),
    HeaderName::from_static(names::DATADOG_TAGS),
    HeaderName::from_static(names::TRACEPARENT),
    HeaderName::from_static(names::TRACESTATE),
    HeaderName::from_static(names::B3_TRACE_ID),
    HeaderName::from_static(names::B3_SPAN_ID),
    HeaderName::from_static(names::B3_SAMPLED),
    HeaderName::from_static(names::B3_FLAGS),
    HeaderName::from_static(names::B3),
    HeaderName::from_static(names::BAGGAGE),
];

fn known_header(name: &str) -> Option<&'static HeaderName> {
    let index = match name {
        names::DATADOG_TRACE_ID => 0,
        names::DATADOG_PARENT_ID => 1,
        names::DATADOG_SAMPLING_PRIORITY => 2,
        names::DATADOG_ORIGIN => 3,
        names::DATADOG_TAGS => 4,
        names::TRACEPARENT => 5,
        names::TRACESTATE => 6,
        names::B3_TRACE_ID => 7,
        names::B3_SPAN_ID => 8,
        names::B3_SAMPLED => 9,
        names::B3_FLAGS => 10,
        names::B3 => 11,
        names::BAGGAGE => 12,
        _ => return None,
    };
    Some(&KNOWN_HEADERS[index])
}

impl<S: std::hash::BuildHasher> Extractor for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<&str> {
        if let Some(value) = HashMap::get(self, name) {
            return Some(value);
        }
        self.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

impl<S: std::hash::BuildHasher> Injector for HashMap<String, String, S> {
    fn set(&mut self, name: &str, value: String) {
        self.insert(name.to_owned(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_map_yields_every_field_line_and_flags_non_text() {
        let mut headers = HeaderMap::new();
        headers.append("tracestate", HeaderValue::from_static("a=1"));
        headers.append("tracestate", HeaderValue::from_bytes(b"b=\xff").unwrap());
        let mut seen = Vec::new();
        Extractor::get_all(&headers, "tracestate", &mut |value| {
            seen.push(value.map(str::to_owned));
        });
        assert_eq!(seen, [Some("a=1".to_owned()), None]);
    }

    #[test]
    fn header_map_injection_skips_invalid_values() {
        let mut headers = HeaderMap::new();
        Injector::set(&mut headers, "x-datadog-origin", "bad\nvalue".to_owned());
        Injector::set(&mut headers, "x-custom", "ok".to_owned());
        assert!(headers.get("x-datadog-origin").is_none());
        assert_eq!(headers["x-custom"], "ok");
    }
}
