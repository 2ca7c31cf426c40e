//! Graceful shutdown within Cloud Run's budget.
//!
//! Cloud Run sends SIGTERM and kills the container 10 s later. In-container, `serverless-init`
//! forwards the signal to this process and needs up to 5 s for its own final flush *after* this
//! process exits, so the app keeps its part under 5 s: at most [`DRAIN_TIMEOUT`] to finish
//! in-flight requests, then at most [`FLUSH_TIMEOUT`] to hand over traces and logs.

use std::future::{IntoFuture, pending};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// How long in-flight requests may run on after the signal before the server stops anyway.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// How long the final flush of traces, logs (and metrics) may take.
pub const FLUSH_TIMEOUT: Duration = Duration::from_millis(1500);

/// Serves `app` until SIGTERM or SIGINT, then stops accepting connections and lets in-flight
/// requests finish for up to [`DRAIN_TIMEOUT`].
pub async fn serve(listener: TcpListener, app: Router) -> std::io::Result<()> {
    let (signalled, on_signal) = oneshot::channel();
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            signal().await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = signalled.send(());
        })
        .into_future();
    let drain_deadline = async move {
        match on_signal.await {
            Ok(()) => tokio::time::sleep(DRAIN_TIMEOUT).await,
            // The server ended on its own; the other branch of the select has its result.
            Err(_) => pending().await,
        }
    };
    tokio::select! {
        result = server => result,
        () = drain_deadline => {
            tracing::warn!("requests still in flight after {DRAIN_TIMEOUT:?}; stopping anyway");
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
}
