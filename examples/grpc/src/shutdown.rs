//! Graceful shutdown within Cloud Run's budget: on SIGTERM (or SIGINT) tonic stops accepting and
//! finishes the calls in flight, then the traces and logs are handed over within
//! [`FLUSH_TIMEOUT`]. Cloud Run kills the container 10 s after SIGTERM and `serverless-init` needs
//! up to 5 s for its own flush after the app exits.

use std::future::pending;
use std::time::Duration;

/// How long the final flush of traces and logs may take.
pub const FLUSH_TIMEOUT: Duration = Duration::from_millis(1500);

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM (what Cloud Run sends).
pub async fn signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for SIGINT ({error}); only SIGTERM stops the server");
            pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(error) => {
                tracing::warn!("cannot listen for SIGTERM ({error}); only SIGINT stops the server");
                pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing the calls in flight");
}
