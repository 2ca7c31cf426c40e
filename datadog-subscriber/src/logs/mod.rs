//! JSON logs correlated with traces, for Datadog and Google Cloud Logging.
//!
//! [`JsonLogLayer`] writes one JSON object per `tracing` event, one per line:
//!
//! ```json
//! {"timestamp":"2026-11-22T05:00:00.123456Z","status":"info","severity":"INFO",
//!  "logger.name":"checkout::cart","logger.thread_name":"tokio-runtime-worker",
//!  "user":42,"message":"signed in","dd.trace_id":"6553a1b2000000004f2c...","dd.span_id":"1234",
//!  "dd.service":"checkout","dd.env":"prod","dd.version":"1.2.3"}
//! ```
//!
//! (shown on several lines here; one line in the output). The correlation strings are exactly
//! what Datadog's Python tracer writes: `dd.span_id` in decimal, `dd.trace_id` as 32 hex digits
//! when its upper 64 bits are set, else in decimal. Lines go to stdout, to the sidecar's file under
//! `DD_SERVERLESS_LOG_PATH`, or both ([`Destination`]), through a bounded buffer and a background
//! thread ([`NonBlocking`]) so that logging never waits on I/O.
//!
//! ```
//! use datadog_subscriber::logs::{Destination, LogConfig};
//! use tracing_subscriber::prelude::*;
//!
//! let (layer, guard) = LogConfig::from_env()
//!     .destination(Destination::Stdout)
//!     .build();
//! tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
//!     tracing::info_span!("request", path = "/").in_scope(|| tracing::info!("hello"));
//! });
//! drop(guard);
//! ```

mod config;
mod destination;
mod fields;
mod gcp_project;
mod json;
mod layer;
mod log_records;
mod timestamp;
mod writer;

pub use config::{DEFAULT_BUFFER_BYTES, DEFAULT_MAX_VALUE_BYTES, LogConfig};
pub use destination::{
    DEFAULT_SERVERLESS_LOG_FILE, Destination, MAX_LOG_FILE_BYTES, REOPEN_CHECK_INTERVAL,
    SERVERLESS_LOG_PATH_ENV,
};
pub use layer::JsonLogLayer;
pub(crate) use writer::warn as warn_stderr;
pub(crate) use writer::warn_within;
pub use writer::{DROP_FLUSH_TIMEOUT, LineWriter, LogGuard, NonBlocking};

#[cfg(test)]
mod tests;
