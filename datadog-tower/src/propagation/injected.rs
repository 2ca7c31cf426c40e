//! The headers of one injection, formatted back to back in one buffer.

use std::ops::Range;

use super::names::Header;

/// How many distinct headers the styles can write; inject styles are deduplicated.
const MAX_HEADERS: usize = Header::ALL.len();

/// The headers one [`Propagator::inject`](super::Propagator::inject) writes, handed to the
/// carrier at once through [`Injector::set_all`](super::Injector::set_all).
///
/// Every value is formatted into one buffer, so a carrier that shares bytes (`http::HeaderMap`)
/// stores all of them with one allocation, and a carrier of owned strings copies each value once.
///
/// ```
/// use datadog_subscriber::context::{SpanContext, SpanId, TraceId};
/// use datadog_tower::propagation::{InjectedHeaders, Injector, Propagator};
///
/// /// Message headers as a queue client keeps them: names and raw bytes.
/// struct MessageHeaders(Vec<(String, Vec<u8>)>);
///
/// impl Injector for MessageHeaders {
///     fn set(&mut self, name: &str, value: String) {
///         self.0.push((name.to_owned(), value.into_bytes()));
///     }
///
///     // Optional: take every header at once.
///     fn set_all(&mut self, headers: InjectedHeaders) {
///         self.0.reserve(headers.len());
///         for (name, value) in headers.iter() {
///             self.0.push((name.to_owned(), value.as_bytes().to_vec()));
///         }
///     }
/// }
///
/// let context = SpanContext::new(TraceId::from_u128(1), SpanId::new(2));
/// let mut message = MessageHeaders(Vec::new());
/// Propagator::default().inject(&context, &mut message);
/// assert_eq!(message.0[0], ("x-datadog-trace-id".to_owned(), b"1".to_vec()));
/// ```
#[derive(Clone, Debug)]
pub struct InjectedHeaders {
    /// The values, back to back.
    buffer: Vec<u8>,
    headers: [Header; MAX_HEADERS],
    /// Where each value ends in `buffer` (it starts where the previous one ends).
    ends: [usize; MAX_HEADERS],
    len: usize,
}

impl InjectedHeaders {
    /// An empty set with room for `bytes` of values.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        InjectedHeaders {
            buffer: Vec::with_capacity(bytes),
            headers: [Header::DatadogTraceId; MAX_HEADERS],
            ends: [0; MAX_HEADERS],
            len: 0,
        }
    }

    /// The buffer to append the next value to; [`finish`](Self::finish) names it.
    pub(crate) fn value_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buffer
    }

    /// Where the value being formatted starts in the buffer.
    pub(crate) fn value_start(&self) -> usize {
        self.len.checked_sub(1).map_or(0, |last| self.ends[last])
    }

    /// Ends the value being formatted as `header`.
    pub(crate) fn finish(&mut self, header: Header) {
        if self.len == MAX_HEADERS {
            // Unreachable with deduplicated styles; drop the value rather than an earlier one.
            let start = self.value_start();
            self.buffer.truncate(start);
            return;
        }
        self.headers[self.len] = header;
        self.ends[self.len] = self.buffer.len();
        self.len += 1;
    }

    /// Drops the value being formatted.
    pub(crate) fn discard(&mut self) {
        let start = self.value_start();
        self.buffer.truncate(start);
    }

    /// Appends a whole value as `header`.
    pub(crate) fn push(&mut self, header: Header, value: &[u8]) {
        self.buffer.extend_from_slice(value);
        self.finish(header);
    }

    /// The headers and the byte range of each value in the buffer, in order.
    fn ranges(&self) -> impl ExactSizeIterator<Item = (Header, Range<usize>)> + use<> {
        let (headers, ends) = (self.headers, self.ends);
        (0..self.len).map(move |index| {
            let start = index.checked_sub(1).map_or(0, |previous| ends[previous]);
            (headers[index], start..ends[index])
        })
    }

    /// The headers (lowercase name, value) in the order they were formatted.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        // Values are whole `&str`s and ASCII pieces, so the buffer and every range in it are
        // valid UTF-8; one check of the whole buffer costs far less than one per value.
        let text = std::str::from_utf8(&self.buffer).unwrap_or_default();
        self.ranges()
            .filter_map(move |(header, range)| text.get(range).map(|value| (header.name(), value)))
    }

    /// The value of the header `name`, if it is part of the set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(candidate, _)| *candidate == name)
            .map(|(_, value)| value)
    }

    /// Number of headers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The buffer of all values and the header and range of each, for carriers that share bytes.
    pub(crate) fn into_parts(
        self,
    ) -> (
        Vec<u8>,
        impl ExactSizeIterator<Item = (Header, Range<usize>)>,
    ) {
        let ranges = self.ranges();
        (self.buffer, ranges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_cut_where_they_were_finished() {
        let mut headers = InjectedHeaders::with_capacity(4);
        headers.push(Header::B3, b"1");
        headers.value_mut().extend_from_slice(b"dropped");
        headers.discard();
        headers.value_mut().extend_from_slice(b"");
        headers.finish(Header::DatadogOrigin);
        headers.push(Header::Baggage, "\u{e9}t\u{e9}".as_bytes());
        assert_eq!(
            headers.iter().collect::<Vec<_>>(),
            [
                ("b3", "1"),
                ("x-datadog-origin", ""),
                ("baggage", "\u{e9}t\u{e9}")
            ]
        );
        assert_eq!(headers.get("baggage"), Some("\u{e9}t\u{e9}"));
        assert_eq!(headers.len(), 3);
        let (buffer, ranges) = headers.into_parts();
        assert_eq!(buffer, "1\u{e9}t\u{e9}".as_bytes());
        assert_eq!(
            ranges.collect::<Vec<_>>(),
            [
                (Header::B3, 0..1),
                (Header::DatadogOrigin, 1..1),
                (Header::Baggage, 1..6)
            ]
        );
    }

    #[test]
    fn a_full_set_drops_further_values() {
        let mut headers = InjectedHeaders::with_capacity(0);
        for _ in 0..MAX_HEADERS {
            headers.push(Header::B3, b"1");
        }
        headers.push(Header::Baggage, b"2");
        assert_eq!(headers.len(), MAX_HEADERS);
        assert_eq!(headers.get("baggage"), None);
        assert_eq!(headers.into_parts().0.len(), MAX_HEADERS);
    }
}
