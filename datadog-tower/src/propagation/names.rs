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
