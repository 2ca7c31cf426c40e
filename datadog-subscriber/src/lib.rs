//! The Datadog tracer for services instrumented with [`tracing`](https://docs.rs/tracing).
//!
//! In the `tracing` ecosystem the subscriber *is* the tracer: it sees every span open, enter, exit
//! and close. This crate holds everything that turns those events into Datadog traces and logs:
//!
//! - [`context`]: the Datadog trace model (128-bit trace ids, span ids, sampling priority, origin,
//!   propagated `_dd.p.*` tags, span links, baggage). It does no I/O and does not depend on `tracing`;
//!   the propagation codecs of `datadog-tower` read and write it.
//! - [`correlation`]: the hand-off between the tracer, the log layer and the tower layers: the ids a
//!   log line is stamped with, and the trace that stays current when `RUST_LOG` filters out a span.
//! - [`logs`]: the JSON log layer (Datadog and Cloud Logging attributes, `dd.trace_id`/`dd.span_id`)
//!   and its non-blocking writers (stdout, the sidecar's log file, or both).
//! - `runtime_metrics` (feature `runtime-metrics`, on by default): process and tokio gauges over
//!   DogStatsD, tagged with the tracer's `runtime-id` (`DD_RUNTIME_METRICS_ENABLED`).
//!
//! ```
//! use datadog_subscriber::context::{SpanContext, SpanId, TraceId, SamplingPriority};
//!
//! let mut remote = SpanContext::new(TraceId::from_u128(0x6553_0000_0000_0000_0000_0000_0000_0001), SpanId::new(42));
//! remote.sampling_priority = Some(SamplingPriority::USER_KEEP);
//! assert_eq!(remote.trace_id.high(), 0x6553_0000_0000_0000);
//! assert!(remote.is_valid());
//! ```

pub mod context;
pub mod correlation;
mod init;
pub mod logs;
#[cfg(feature = "runtime-metrics")]
pub mod runtime_metrics;
mod startup_report;
pub mod tracer;

pub use init::{Builder, DEFAULT_SHUTDOWN_TIMEOUT, DatadogGuard, ShutdownReport, builder, init};
pub use tracer::{DatadogSpanExt, current_context};
