//! Criterion benchmarks of the workspace's crates against the peer crates they replace.
//!
//! Run them with `cargo bench -p benchmarks`; each bench file compares our implementation with its
//! peers in the same run, so ratios are meaningful on any machine. This library holds what several
//! bench files share.

use std::net::TcpListener;

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
