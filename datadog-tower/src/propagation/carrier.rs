//! Where headers are read from and written to: `http::HeaderMap` and plain string maps (message
//! headers of Kafka, SQS, RabbitMQ, ...).

use std::collections::HashMap;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::injected::InjectedHeaders;
use super::names::Header;

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

    /// Sets every header of one injection, in order; the propagator calls this once per
    /// injection. The default calls [`set_str`](Self::set_str) for each header; carriers that can
    /// share one buffer between values (`HeaderMap`) or that keep `'static` names override it.
    fn set_all(&mut self, headers: InjectedHeaders) {
        for (name, value) in headers.iter() {
            self.set_str(name, value);
        }
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

    /// All values share one buffer: one allocation for the whole injection instead of one per
    /// header. Each value is still validated as a header value.
    fn set_all(&mut self, headers: InjectedHeaders) {
        // At most one growth of the map for the whole injection.
        self.reserve(headers.len());
        let (buffer, ranges) = headers.into_parts();
        // Values lie back to back: each is split off the front, the last takes what is left
        // (one reference-count update fewer than slicing a kept handle).
        let mut rest = Bytes::from(buffer);
        let last = ranges.len().saturating_sub(1);
        for (index, (header, range)) in ranges.enumerate() {
            let mut value = if index == last {
                std::mem::take(&mut rest)
            } else {
                rest.split_to(range.len().min(rest.len()))
            };
            value.truncate(range.len());
            match HeaderValue::from_maybe_shared(value) {
                Ok(value) => {
                    self.insert(KNOWN_HEADERS[header as usize].clone(), value);
                }
                Err(_) => warn_invalid_value(header.name()),
            }
        }
    }
}

fn warn_invalid_value(name: &str) {
    warn_once!(
        "dropping the propagation header {name}: its value is not a valid HTTP header value"
    );
}

fn insert<E>(headers: &mut HeaderMap, name: &str, value: Result<HeaderValue, E>) {
    let Ok(value) = value else {
        warn_invalid_value(name);
        return;
    };
    if let Some(known) = known_header(name) {
        headers.insert(known.clone(), value);
    } else if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
        headers.insert(name, value);
    } else {
        warn_once!("dropping the propagation header {name:?}: not a valid header name");
    }
}

/// The header names this crate reads and writes, built once: looking a `&str` up in a
/// `HeaderMap` parses and validates it every time, a `HeaderName` does not.
static KNOWN_HEADERS: [HeaderName; Header::ALL.len()] = [
    HeaderName::from_static(Header::DatadogTraceId.name()),
    HeaderName::from_static(Header::DatadogParentId.name()),
    HeaderName::from_static(Header::DatadogSamplingPriority.name()),
    HeaderName::from_static(Header::DatadogOrigin.name()),
    HeaderName::from_static(Header::DatadogTags.name()),
    HeaderName::from_static(Header::Traceparent.name()),
    HeaderName::from_static(Header::Tracestate.name()),
    HeaderName::from_static(Header::B3TraceId.name()),
    HeaderName::from_static(Header::B3SpanId.name()),
    HeaderName::from_static(Header::B3Sampled.name()),
    HeaderName::from_static(Header::B3Flags.name()),
    HeaderName::from_static(Header::B3.name()),
    HeaderName::from_static(Header::Baggage.name()),
];

fn known_header(name: &str) -> Option<&'static HeaderName> {
    Header::from_name(name).map(|header| &KNOWN_HEADERS[header as usize])
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

    #[test]
    fn known_header_names_follow_the_header_indexes() {
        for header in Header::ALL {
            assert_eq!(KNOWN_HEADERS[header as usize].as_str(), header.name());
            assert_eq!(
                known_header(header.name()),
                Some(&KNOWN_HEADERS[header as usize])
            );
        }
    }

    #[test]
    fn header_map_takes_all_values_from_one_buffer_and_skips_invalid_ones() {
        let mut injected = InjectedHeaders::with_capacity(0);
        injected.push(Header::DatadogTraceId, b"1");
        injected.push(Header::DatadogOrigin, b"bad\nvalue");
        injected.push(Header::DatadogTags, b"");
        injected.push(Header::Tracestate, b"dd=s:1");
        // Bytes never finished as a value are not sent.
        injected.value_mut().extend_from_slice(b"unfinished");
        let mut headers = HeaderMap::new();
        headers.insert("x-datadog-trace-id", HeaderValue::from_static("old"));
        headers.insert("x-other", HeaderValue::from_static("kept"));
        Injector::set_all(&mut headers, injected.clone());
        assert_eq!(headers["x-datadog-trace-id"], "1");
        assert!(headers.get("x-datadog-origin").is_none());
        assert_eq!(headers["x-datadog-tags"], "");
        assert_eq!(headers["tracestate"], "dd=s:1");
        assert_eq!(headers["x-other"], "kept");
        assert_eq!(headers.len(), 4);

        // The default (one `set_str` per header) writes the same.
        let mut strings: HashMap<String, String> = HashMap::new();
        Injector::set_all(&mut strings, injected);
        assert_eq!(strings.len(), 4);
        assert_eq!(strings["x-datadog-origin"], "bad\nvalue");
        assert_eq!(strings["tracestate"], "dd=s:1");
    }
}
