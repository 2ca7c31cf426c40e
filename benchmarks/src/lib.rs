//! Criterion benchmarks of the workspace's crates against the peer crates they replace.
//!
//! Run them with `cargo bench -p benchmarks`; each bench file compares our implementation with its
//! peers in the same run, so ratios are meaningful on any machine. This library holds what several
//! bench files share.

use std::hint::black_box;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use tracing::Subscriber;
use tracing_subscriber::layer::SubscriberExt;

/// A loopback URL nobody listens on, for exporters whose traffic a bench does not measure.
///
/// ```
/// assert!(benchmarks::closed_port_url().starts_with("http://127.0.0.1:"));
/// ```
pub fn closed_port_url() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port");
    format!("http://127.0.0.1:{port}")
}

/// A bare `registry()` as the floor of span benches, under a layer that does nothing:
/// `tracing-subscriber` frees a closed span's slot only through a `Layered` subscriber
/// (`Registry::try_close` alone never clears it), so a `Registry` on its own grows by every span
/// and pays page faults instead.
///
/// ```
/// tracing::subscriber::with_default(benchmarks::bare_registry(), || {
///     tracing::info_span!("closed and freed").in_scope(|| {});
/// });
/// ```
pub fn bare_registry() -> impl Subscriber + Send + Sync {
    tracing_subscriber::registry().with(tracing_subscriber::layer::Identity::new())
}

/// The median time per item of each of `subjects` (stacks, subscribers) timed in turn:
/// `time_batch(i)` runs `batch` items of subject `i` and returns how long they took. One warm-up
/// round, then `rounds` timed rounds of every subject, one after the other. On a shared machine
/// the load drifts between criterion's benches, which run minutes apart; here every subject sees
/// the same drift.
///
/// ```
/// use std::time::Duration;
///
/// // Batches of 10 items: subject 0's take 10 µs, subject 1's 20 µs.
/// let medians = benchmarks::interleaved_medians(2, 5, 10, |subject| {
///     Duration::from_micros(10 * (subject as u64 + 1))
/// });
/// assert_eq!(medians, [Duration::from_micros(1), Duration::from_micros(2)]);
/// ```
pub fn interleaved_medians(
    subjects: usize,
    rounds: usize,
    batch: u32,
    mut time_batch: impl FnMut(usize) -> Duration,
) -> Vec<Duration> {
    let mut times = vec![Vec::with_capacity(rounds); subjects];
    for round in 0..=rounds {
        for (subject, times) in times.iter_mut().enumerate() {
            let elapsed = time_batch(subject);
            // The first round warms up.
            if round > 0 {
                times.push(elapsed / batch);
            }
        }
    }
    times
        .into_iter()
        .map(|mut times| {
            times.sort_unstable();
            times[times.len() / 2]
        })
        .collect()
}

/// A loopback Agent stand-in: reads every request body and answers like the Agent's
/// `/v0.4/traces` (`200 {"rate_by_service":{}}`), on a thread of its own. It publishes that
/// thread's CPU time after each request, for benches that leave it out.
///
/// ```
/// let sink = benchmarks::AgentSink::start();
/// assert!(sink.url().starts_with("http://127.0.0.1:"));
/// ```
pub struct AgentSink {
    url: String,
    cpu_ns: Arc<AtomicU64>,
}

impl AgentSink {
    /// Starts the sink on a free loopback port.
    pub fn start() -> AgentSink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let url = format!("http://{}", listener.local_addr().expect("bound address"));
        let cpu_ns = Arc::new(AtomicU64::new(0));
        let published = cpu_ns.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("sink runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = Router::new()
                    .fallback(move |body: Bytes| {
                        let published = published.clone();
                        async move {
                            black_box(body.len());
                            let cpu = cpu_time::ThreadTime::now().as_duration().as_nanos() as u64;
                            published.store(cpu, Ordering::Release);
                            (
                                [(http::header::CONTENT_TYPE, "application/json")],
                                r#"{"rate_by_service":{}}"#,
                            )
                        }
                    })
                    // Payloads reach 8 MB; the Agent takes up to 25 MB.
                    .layer(DefaultBodyLimit::disable());
                let _ = axum::serve(listener, app).await;
            });
        });
        AgentSink { url, cpu_ns }
    }

    /// The sink's base URL, for `agent_url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The CPU time the sink's thread has used so far.
    pub fn cpu(&self) -> Duration {
        Duration::from_nanos(self.cpu_ns.load(Ordering::Acquire))
    }
}
