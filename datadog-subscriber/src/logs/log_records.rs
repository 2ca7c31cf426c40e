//! Events that `tracing-log` made from records of the `log` crate (feature `log`).
//!
//! Such an event has the generic callsite of its level (target `log`) and carries the record's
//! target, module, file and line as `log.*` fields. Its line shows the record's target as
//! `logger.name`, like `tracing_subscriber::fmt` does, and leaves those fields out.

use std::error::Error;
use std::fmt;

use tracing_core::field::{Field, Visit};
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

/// Visits the fields of a `log` record's event but its `log.*` ones (already in the metadata).
pub(crate) struct WithoutLogFields<'a>(pub(crate) &'a mut dyn Visit);

impl WithoutLogFields<'_> {
    fn keeps(field: &Field) -> bool {
        !field.name().starts_with("log.")
    }
}

impl Visit for WithoutLogFields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if Self::keeps(field) {
            self.0.record_f64(field, value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if Self::keeps(field) {
            self.0.record_i64(field, value);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if Self::keeps(field) {
            self.0.record_u64(field, value);
        }
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        if Self::keeps(field) {
            self.0.record_i128(field, value);
        }
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        if Self::keeps(field) {
            self.0.record_u128(field, value);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if Self::keeps(field) {
            self.0.record_bool(field, value);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if Self::keeps(field) {
            self.0.record_str(field, value);
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        if Self::keeps(field) {
            self.0.record_error(field, value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if Self::keeps(field) {
            self.0.record_debug(field, value);
        }
    }
}
