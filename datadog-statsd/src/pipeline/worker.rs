//! The background thread: flushes on a timer, re-opens a socket that could not be opened and
//! reports client telemetry.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Instant;

use super::{Pipeline, lock};
use crate::config::StatsdBuilder;

/// Starts the thread. It holds only a weak reference: dropping the last client ends it. A thread
/// that cannot be started is logged; the client then sends when datagrams fill, on flush and on
/// drop.
pub(crate) fn spawn(pipeline: &Arc<Pipeline>, builder: &StatsdBuilder) {
    let weak: Weak<Pipeline> = Arc::downgrade(pipeline);
    let tick = builder.flush_interval;
    let aggregation_every = builder.aggregation_interval;
    let telemetry_every = builder.telemetry_interval;
    let spawned = std::thread::Builder::new()
        .name("datadog-statsd".into())
        .spawn(move || {
            let mut next_aggregation = Instant::now() + aggregation_every;
            let mut next_telemetry = Instant::now() + telemetry_every;
            loop {
                std::thread::park_timeout(tick);
                let Some(pipeline) = weak.upgrade() else {
                    break;
                };
                if pipeline.stopped.load(Ordering::Relaxed) {
                    break;
                }
                let now = Instant::now();
                if now >= next_aggregation {
                    pipeline.flush_aggregator();
                    next_aggregation = now + aggregation_every;
                }
                if now >= next_telemetry {
                    pipeline.report_telemetry();
                    next_telemetry = now + telemetry_every;
                }
                pipeline.flush_batch();
                pipeline.link.maintain();
            }
        });
    match spawned {
        Ok(handle) => *lock(&pipeline.worker) = Some(handle.thread().clone()),
        Err(error) => {
            datadog_env::warn(&format!(
                "no DogStatsD background thread ({error}); sending when datagrams fill, on flush() and on drop"
            ));
        }
    }
}
