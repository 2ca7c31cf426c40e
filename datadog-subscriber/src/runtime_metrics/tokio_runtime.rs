//! The tokio runtime's stable metrics.

use std::time::Duration;

use tokio::runtime::Handle;

/// One reading of a tokio runtime.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TokioSample {
    /// Worker threads.
    pub(crate) workers: usize,
    /// Tasks spawned and not yet finished.
    pub(crate) alive_tasks: usize,
    /// Tasks waiting in the global (injection) queue.
    pub(crate) global_queue_depth: usize,
    /// Time all workers spent running tasks since the runtime started.
    pub(crate) busy: Duration,
    /// Times the workers parked (went idle) since the runtime started.
    pub(crate) parks: u64,
}

/// Reads the runtime behind `handle`.
pub(crate) fn sample(handle: &Handle) -> TokioSample {
    let metrics = handle.metrics();
    let workers = metrics.num_workers();
    let (busy, parks) = worker_totals(&metrics, workers);
    TokioSample {
        workers,
        alive_tasks: metrics.num_alive_tasks(),
        global_queue_depth: metrics.global_queue_depth(),
        busy,
        parks,
    }
}

/// Busy time and parks summed over the workers (tokio counts them in 64-bit atomics).
#[cfg(target_has_atomic = "64")]
fn worker_totals(metrics: &tokio::runtime::RuntimeMetrics, workers: usize) -> (Duration, u64) {
    (0..workers).fold((Duration::ZERO, 0), |(busy, parks), worker| {
        (
            busy + metrics.worker_total_busy_duration(worker),
            parks + metrics.worker_park_count(worker),
        )
    })
}

#[cfg(not(target_has_atomic = "64"))]
fn worker_totals(_metrics: &tokio::runtime::RuntimeMetrics, _workers: usize) -> (Duration, u64) {
    (Duration::ZERO, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runtime_reads_its_workers_and_tasks() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(async move {
            let _ = wait.await;
        });
        let sample = sample(runtime.handle());
        assert_eq!(sample.workers, 2);
        assert_eq!(sample.alive_tasks, 1);
        release.send(()).unwrap();
        runtime.block_on(task).unwrap();
    }
}
