//! Events that `tracing-log` made from records of the `log` crate (feature `log`).
//!
//! Such an event has the generic callsite of its level (target `log`) and carries the record's
//! target, module, file and line as `log.*` fields. Its line shows the record's target as
//! `logger.name`, like `tracing_subscriber::fmt` does, and leaves those fields out
//! ([`FieldWriter::log_record`](super::fields::FieldWriter::log_record)).

use tracing_core::{Event, Metadata};

/// The metadata of the `log` record `event` stands for, or `None` for a plain `tracing` event.
#[cfg(feature = "log")]
pub(crate) fn record_metadata<'a>(event: &'a Event<'_>) -> Option<Metadata<'a>> {
    tracing_log::NormalizeEvent::normalized_metadata(event)
}

/// Without the `log` feature no event comes from a `log` record.
#[cfg(not(feature = "log"))]
pub(crate) fn record_metadata<'a>(_event: &'a Event<'_>) -> Option<Metadata<'a>> {
    None
}
