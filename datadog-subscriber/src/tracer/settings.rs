//! What every span and the export worker need to know about the tracer: plain data, resolved
//! once from the [`TracerConfig`](super::TracerConfig).

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::config::TracerConfig;
use crate::context::BaggageTagKeys;

/// What every span and the export worker need to know about the tracer.
pub(crate) struct Settings {
    pub(crate) service: Arc<str>,
    pub(crate) env: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) runtime_id: String,
    pub(crate) process_id: f64,
    pub(crate) trace_id_128_bit: bool,
    pub(crate) partial_flush_min_spans: usize,
    /// `DD_TRACE_BAGGAGE_TAG_KEYS`: the baggage items a continued trace's local root is
    /// tagged with.
    pub(crate) baggage_tag_keys: BaggageTagKeys,
    pub(crate) clock: Clock,
}

impl Settings {
    pub(crate) fn new(config: &TracerConfig) -> Self {
        Settings {
            service: Arc::from(
                config
                    .service
                    .clone()
                    .unwrap_or_else(datadog_env::executable_name),
            ),
            env: config.env.clone(),
            version: config.version.clone(),
            tags: config.tags.clone(),
            runtime_id: runtime_id(),
            process_id: f64::from(std::process::id()),
            trace_id_128_bit: config.trace_id_128_bit,
            partial_flush_min_spans: config.partial_flush_min_spans,
            baggage_tag_keys: config.baggage_tag_keys.clone(),
            clock: Clock::now(),
        }
    }
}

/// A random UUID v4 identifying this tracer instance (`runtime-id`).
fn runtime_id() -> String {
    let high = fastrand::u64(..);
    let low = fastrand::u64(..);
    let bytes = (u128::from(high) << 64 | u128::from(low)) & !(0xf000 << 64) & !(0xc000 << 48);
    let bytes = bytes | (0x4000 << 64) | (0x8000 << 48);
    let hex = format!("{bytes:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Wall-clock nanoseconds at one monotonic instant: span times come from monotonic readings
/// alone (taken by the caller), converted to Unix time by the export worker.
#[derive(Clone, Copy)]
pub(crate) struct Clock {
    anchor: Instant,
    wall_ns_at_anchor: i64,
}

impl Clock {
    pub(crate) fn now() -> Self {
        let anchor = Instant::now();
        let wall_ns_at_anchor = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos() as i64);
        Clock {
            anchor,
            wall_ns_at_anchor,
        }
    }

    /// Nanoseconds since the Unix epoch at `instant`.
    pub(crate) fn unix_nanos(&self, instant: Instant) -> i64 {
        self.wall_ns_at_anchor + instant.saturating_duration_since(self.anchor).as_nanos() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_ids_are_uuid_v4() {
        let id = runtime_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
    }
}
