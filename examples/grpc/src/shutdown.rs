//! Graceful shutdown within Cloud Run's budget: on SIGTERM (or SIGINT) tonic stops accepting and
//! finishes the calls in flight for at most [`DRAIN_TIMEOUT`] (a streaming call such as `Watch`
//! may never end on its own), then the traces and logs are handed over within
//! [`FLUSH_TIMEOUT`]. Cloud Run kills the container 10 s after SIGTERM and `serverless-init` needs
//! up to 5 s for its own flush after the app exits.

use std::future::{Future, pending};
use std::time::Duration;

use tokio::sync::oneshot;

/// How long the calls in flight may run on after the signal before the server stops anyway.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// How long the final flush of traces and logs may take.
pub const FLUSH_TIMEOUT: Duration = Duration::from_millis(1500);

/// Runs `serve` (a server that stops accepting when the future it was given resolves) until
/// SIGTERM or SIGINT, then lets the calls in flight finish for up to [`DRAIN_TIMEOUT`]. Streams
/// still open then are dropped: their spans end as `CANCELLED`.
pub async fn serve<S, E>(serve: impl FnOnce(oneshot::Receiver<()>) -> S) -> Result<(), E>
where
    S: Future<Output = Result<(), E>>,
{
    let (stop, stopping) = oneshot::channel();
    let server = serve(stopping);
    let drain_deadline = async move {
        signal().await;
        let _ = stop.send(());
        tokio::time::sleep(DRAIN_TIMEOUT).await;
    };
    tokio::select! {
        result = server => result,
        () = drain_deadline => {
            tracing::warn!("calls still in flight after {DRAIN_TIMEOUT:?}; stopping anyway");
            Ok(())
        }
    }
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM (what Cloud Run sends).
async fn signal() {
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
