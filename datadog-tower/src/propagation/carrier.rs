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
}

impl Extractor for HeaderMap {
    fn get(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|value| value.to_str().ok())
    }

    fn get_all<'a>(&'a self, name: &str, visit: &mut dyn FnMut(Option<&'a str>)) {
        for value in self.get_all(name) {
            visit(value.to_str().ok());
        }
    }
}

impl Injector for HeaderMap {
    fn set(&mut self, name: &str, value: String) {
        let Ok(value) = HeaderValue::try_from(value) else {
            warn_once!(
                header = name,
                "dropping a propagation header whose value is not a valid HTTP header value"
            );
            return;
        };
        if let Some(name) = static_header_name(name) {
            self.insert(name, value);
        } else if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
            self.insert(name, value);
        } else {
            warn_once!(
                header = name,
                "dropping a propagation header with an invalid name"
            );
        }
    }
}

/// The header names this crate writes, without parsing or allocating a `HeaderName`.
fn static_header_name(name: &str) -> Option<HeaderName> {
    let name = match name {
        names::DATADOG_TRACE_ID => names::DATADOG_TRACE_ID,
        names::DATADOG_PARENT_ID => names::DATADOG_PARENT_ID,
        names::DATADOG_SAMPLING_PRIORITY => names::DATADOG_SAMPLING_PRIORITY,
        names::DATADOG_ORIGIN => names::DATADOG_ORIGIN,
        names::DATADOG_TAGS => names::DATADOG_TAGS,
        names::TRACEPARENT => names::TRACEPARENT,
        names::TRACESTATE => names::TRACESTATE,
        names::B3_TRACE_ID => names::B3_TRACE_ID,
        names::B3_SPAN_ID => names::B3_SPAN_ID,
        names::B3_SAMPLED => names::B3_SAMPLED,
        names::B3_FLAGS => names::B3_FLAGS,
        names::B3 => names::B3,
        names::BAGGAGE => names::BAGGAGE,
        _ => return None,
    };
    Some(HeaderName::from_static(name))
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
