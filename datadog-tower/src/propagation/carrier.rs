//! Where headers are read from and written to: `http::HeaderMap` and plain string maps (message
//! headers of Kafka, SQS, RabbitMQ, ...).

use std::collections::HashMap;

use http::header::{HeaderMap, HeaderName, HeaderValue};

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
/// use datadog_subscriber::context::{SpanContext, SpanId, TraceId};
/// use datadog_tower::propagation::{Injector, Propagator};
///
/// /// Message headers as a queue client keeps them: names and raw bytes.
/// struct MessageHeaders(Vec<(String, Vec<u8>)>);
///
/// impl Injector for MessageHeaders {
///     fn set(&mut self, name: &str, value: &str) {
///         self.0.push((name.to_owned(), value.as_bytes().to_vec()));
///     }
/// }
///
/// let context = SpanContext::new(TraceId::from_u128(1), SpanId::new(2));
/// let mut message = MessageHeaders(Vec::new());
/// Propagator::default().inject(&context, &mut message);
/// assert_eq!(message.0[0], ("x-datadog-trace-id".to_owned(), b"1".to_vec()));
///
/// // String maps are carriers already.
/// let mut strings: HashMap<String, String> = HashMap::new();
/// Propagator::default().inject(&context, &mut strings);
/// assert_eq!(strings["x-datadog-parent-id"], "2");
/// ```
pub trait Injector {
    /// Sets the field `name` (lowercase) to `value`, replacing any previous value.
    fn set(&mut self, name: &str, value: &str);
}

/// Where a [`HeaderWriter`] hands each value.
pub(crate) type SetHeader<'a> = &'a mut dyn FnMut(Header, &str);

/// Formats the values of one injection, one after the other, in one reused buffer, and hands
/// each to the carrier ([`to_carrier`](Self::to_carrier)) or keeps them all in one buffer
/// ([`shared`](Self::shared)) for [`insert_all`](Self::insert_all).
pub(crate) struct HeaderWriter<'a> {
    /// Where each value goes as soon as it is formatted; `None` keeps them in `text`.
    carrier: Option<SetHeader<'a>>,
    /// Every value kept, back to back.
    text: String,
    /// The header each kept value is for and where it lies in `text`, in the order they were
    /// set (each header is set once at most).
    values: [(Header, usize, usize); Header::ALL.len()],
    len: usize,
    /// The value being formatted, between [`next_value`](Self::next_value) and
    /// [`send`](Self::send).
    next: String,
}

impl<'a> HeaderWriter<'a> {
    /// Room for every value of the default styles without regrowing.
    const TEXT_CAPACITY: usize = 256;
    /// Room for `traceparent` and a usual `tracestate`.
    const VALUE_CAPACITY: usize = 128;

    /// A writer handing each value to `carrier`.
    pub(crate) fn to_carrier(carrier: SetHeader<'a>) -> Self {
        Self::new(Some(carrier))
    }

    /// A writer keeping every value in one buffer. Nothing is allocated before a value is set.
    pub(crate) fn shared() -> Self {
        Self::new(None)
    }

    fn new(carrier: Option<SetHeader<'a>>) -> Self {
        HeaderWriter {
            carrier,
            text: String::new(),
            values: [(Header::DatadogTraceId, 0, 0); Header::ALL.len()],
            len: 0,
            next: String::new(),
        }
    }

    /// Sets `header` to `value`.
    pub(crate) fn set(&mut self, header: Header, value: &str) {
        if let Some(carrier) = &mut self.carrier {
            carrier(header, value);
            return;
        }
        if self.text.capacity() == 0 {
            self.text.reserve(Self::TEXT_CAPACITY);
        }
        let start = self.text.len();
        self.text.push_str(value);
        if let Some(slot) = self.values.get_mut(self.len) {
            *slot = (header, start, self.text.len());
            self.len += 1;
        }
    }

    /// The buffer to format the next value in, emptied; [`send`](Self::send) sets it.
    pub(crate) fn next_value(&mut self) -> &mut String {
        self.next.clear();
        self.next.reserve(Self::VALUE_CAPACITY);
        &mut self.next
    }

    /// Sets `header` to the value formatted since [`next_value`](Self::next_value).
    pub(crate) fn send(&mut self, header: Header) {
        let value = std::mem::take(&mut self.next);
        self.set(header, &value);
        self.next = value;
    }

    /// Inserts every kept value into `headers`, all of them slices of one shared buffer: one
    /// allocation rather than one per header value (`inject_default_styles/datadog_tower/
    /// header_map_shared` against `header_map` in the propagation benchmark).
    pub(crate) fn insert_all(&mut self, headers: &mut HeaderMap) {
        let values = &self.values[..self.len];
        let text = bytes::Bytes::from(std::mem::take(&mut self.text));
        headers.reserve(values.len());
        for &(header, start, end) in values {
            match HeaderValue::from_maybe_shared(text.slice(start..end)) {
                Ok(value) => {
                    headers.insert(KNOWN_HEADERS[header as usize].clone(), value);
                }
                Err(_) => warn_invalid_value(header.name()),
            }
        }
    }
}

/// The propagation headers of a [`HeaderMap`], found in one pass over its entries.
///
/// Extraction reads up to eight of them per request; one hashed lookup per name cost more than
/// walking a request's headers once, comparing each name by its length first.
pub(crate) struct ScannedHeaders<'a> {
    map: &'a HeaderMap,
    /// The first value of each header, by [`Header`] index.
    first: [Option<&'a HeaderValue>; Header::ALL.len()],
    /// The headers with more than one field line, one bit per [`Header`] index: those are read
    /// through the map, in order.
    repeated: u16,
}

impl<'a> ScannedHeaders<'a> {
    pub(crate) fn new(map: &'a HeaderMap) -> Self {
        let mut first = [None; Header::ALL.len()];
        let mut repeated = 0;
        for (name, value) in map {
            if let Some(header) = Header::from_name(name.as_str()) {
                let slot = &mut first[header as usize];
                if slot.is_some() {
                    repeated |= 1 << header as usize;
                } else {
                    *slot = Some(value);
                }
            }
        }
        ScannedHeaders {
            map,
            first,
            repeated,
        }
    }
}

impl Extractor for ScannedHeaders<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        match Header::from_name(name) {
            Some(header) => self.first[header as usize].and_then(|value| value.to_str().ok()),
            None => Extractor::get(self.map, name),
        }
    }

    fn get_all<'b>(&'b self, name: &str, visit: &mut dyn FnMut(Option<&'b str>)) {
        match Header::from_name(name) {
            Some(header) if self.repeated & (1 << header as usize) == 0 => {
                if let Some(value) = self.first[header as usize] {
                    visit(value.to_str().ok());
                }
            }
            _ => Extractor::get_all(self.map, name, visit),
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
    fn set(&mut self, name: &str, value: &str) {
        let Ok(value) = HeaderValue::from_str(value) else {
            warn_invalid_value(name);
            return;
        };
        if let Some(known) = known_header(name) {
            self.insert(known.clone(), value);
        } else if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
            self.insert(name, value);
        } else {
            warn_once!("dropping the propagation header {name:?}: not a valid header name");
        }
    }
}

fn warn_invalid_value(name: &str) {
    warn_once!(
        "dropping the propagation header {name}: its value is not a valid HTTP header value"
    );
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
    fn set(&mut self, name: &str, value: &str) {
        self.insert(name.to_owned(), value.to_owned());
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
    fn a_scan_reads_what_the_map_reads() {
        let mut headers = HeaderMap::new();
        headers.append("tracestate", HeaderValue::from_static("a=1"));
        headers.append("tracestate", HeaderValue::from_bytes(b"b=\xff").unwrap());
        headers.insert("X-Datadog-Trace-Id", HeaderValue::from_static("42"));
        headers.insert(
            "x-datadog-origin",
            HeaderValue::from_bytes(b"\xff").unwrap(),
        );
        headers.insert("x-other", HeaderValue::from_static("other"));
        headers.insert("host", HeaderValue::from_static("example.com"));
        let scanned = ScannedHeaders::new(&headers);
        for name in [
            "tracestate",
            "x-datadog-trace-id",
            "x-datadog-origin",
            "x-other",
            "host",
            "baggage",
        ] {
            assert_eq!(
                Extractor::get(&scanned, name),
                Extractor::get(&headers, name),
                "{name}"
            );
            let (mut seen, mut expected) = (Vec::new(), Vec::new());
            Extractor::get_all(&scanned, name, &mut |value| seen.push(value));
            Extractor::get_all(&headers, name, &mut |value| expected.push(value));
            assert_eq!(seen, expected, "{name}");
        }
    }

    #[test]
    fn header_map_injection_skips_invalid_values() {
        let mut headers = HeaderMap::new();
        Injector::set(&mut headers, "x-datadog-origin", "bad\nvalue");
        Injector::set(&mut headers, "x-custom", "ok");
        Injector::set(&mut headers, "bad name", "ok");
        assert!(headers.get("x-datadog-origin").is_none());
        assert_eq!(headers["x-custom"], "ok");
        assert_eq!(headers.len(), 1);
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
}
