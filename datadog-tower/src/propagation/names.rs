//! Header names, lowercase.

pub(crate) const DATADOG_TRACE_ID: &str = "x-datadog-trace-id";
pub(crate) const DATADOG_PARENT_ID: &str = "x-datadog-parent-id";
pub(crate) const DATADOG_SAMPLING_PRIORITY: &str = "x-datadog-sampling-priority";
pub(crate) const DATADOG_ORIGIN: &str = "x-datadog-origin";
pub(crate) const DATADOG_TAGS: &str = "x-datadog-tags";
pub(crate) const TRACEPARENT: &str = "traceparent";
pub(crate) const TRACESTATE: &str = "tracestate";
pub(crate) const B3_TRACE_ID: &str = "x-b3-traceid";
pub(crate) const B3_SPAN_ID: &str = "x-b3-spanid";
pub(crate) const B3_SAMPLED: &str = "x-b3-sampled";
pub(crate) const B3_FLAGS: &str = "x-b3-flags";
pub(crate) const B3: &str = "b3";
pub(crate) const BAGGAGE: &str = "baggage";

/// A header the styles write, also an index into per-header tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Header {
    DatadogTraceId,
    DatadogParentId,
    DatadogSamplingPriority,
    DatadogOrigin,
    DatadogTags,
    Traceparent,
    Tracestate,
    B3TraceId,
    B3SpanId,
    B3Sampled,
    B3Flags,
    B3,
    Baggage,
}

impl Header {
    /// Every header, in index order.
    pub(crate) const ALL: [Header; 13] = [
        Header::DatadogTraceId,
        Header::DatadogParentId,
        Header::DatadogSamplingPriority,
        Header::DatadogOrigin,
        Header::DatadogTags,
        Header::Traceparent,
        Header::Tracestate,
        Header::B3TraceId,
        Header::B3SpanId,
        Header::B3Sampled,
        Header::B3Flags,
        Header::B3,
        Header::Baggage,
    ];

    /// The lowercase header name.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Header::DatadogTraceId => DATADOG_TRACE_ID,
            Header::DatadogParentId => DATADOG_PARENT_ID,
            Header::DatadogSamplingPriority => DATADOG_SAMPLING_PRIORITY,
            Header::DatadogOrigin => DATADOG_ORIGIN,
            Header::DatadogTags => DATADOG_TAGS,
            Header::Traceparent => TRACEPARENT,
            Header::Tracestate => TRACESTATE,
            Header::B3TraceId => B3_TRACE_ID,
            Header::B3SpanId => B3_SPAN_ID,
            Header::B3Sampled => B3_SAMPLED,
            Header::B3Flags => B3_FLAGS,
            Header::B3 => B3,
            Header::Baggage => BAGGAGE,
        }
    }

    /// The header called `name` (lowercase).
    pub(crate) fn from_name(name: &str) -> Option<Header> {
        // A `match` on strings dispatches on the length first: cheaper than a scan.
        Some(match name {
            DATADOG_TRACE_ID => Header::DatadogTraceId,
            DATADOG_PARENT_ID => Header::DatadogParentId,
            DATADOG_SAMPLING_PRIORITY => Header::DatadogSamplingPriority,
            DATADOG_ORIGIN => Header::DatadogOrigin,
            DATADOG_TAGS => Header::DatadogTags,
            TRACEPARENT => Header::Traceparent,
            TRACESTATE => Header::Tracestate,
            B3_TRACE_ID => Header::B3TraceId,
            B3_SPAN_ID => Header::B3SpanId,
            B3_SAMPLED => Header::B3Sampled,
            B3_FLAGS => Header::B3Flags,
            B3 => Header::B3,
            BAGGAGE => Header::Baggage,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_and_names_agree() {
        for (index, header) in Header::ALL.into_iter().enumerate() {
            assert_eq!(header as usize, index);
            assert_eq!(Header::from_name(header.name()), Some(header));
        }
        assert_eq!(Header::from_name("x-other"), None);
    }
}
