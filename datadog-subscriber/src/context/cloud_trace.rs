use super::TraceId;

/// The trace Google's frontend put a request in (Cloud Run, App Engine, GCLB): its trace id and
/// whether Google samples it for Cloud Trace.
///
/// It is not a Datadog context: it never decides sampling and is never injected. The log layer
/// names it in `logging.googleapis.com/trace`, so Cloud Logging groups a request's lines with the
/// platform's own request log, while `dd.trace_id` stays Datadog's.
///
/// ```
/// use datadog_subscriber::context::{CloudTrace, TraceId};
///
/// let cloud = CloudTrace::new(TraceId::from_u128(0x4bf9_2f35_77b3_4da6), true);
/// assert_eq!(cloud.trace_id_hex(), "00000000000000004bf92f3577b34da6");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloudTrace {
    /// Google's 128-bit trace id.
    pub trace_id: TraceId,
    /// Google's sampling flag (`traceparent` flags `01`, `X-Cloud-Trace-Context` `o=1`).
    pub sampled: bool,
}

impl CloudTrace {
    /// A platform trace context.
    pub const fn new(trace_id: TraceId, sampled: bool) -> Self {
        CloudTrace { trace_id, sampled }
    }

    /// The trace id as Cloud Logging writes it: 32 lower-case hex digits.
    pub fn trace_id_hex(&self) -> String {
        format!("{:032x}", self.trace_id.as_u128())
    }
}
