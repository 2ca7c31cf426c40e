//! Graceful shutdown within Cloud Run's budget.
//!
//! Cloud Run sends SIGTERM and kills the container 10 s later. In-container, `serverless-init`
//! forwards the signal to this process and needs up to 5 s for its own final flush *after* this
//! process exits, so the app keeps its part to one budget, [`SHUTDOWN_BUDGET`], from the signal
//! to its exit: at most [`DRAIN_TIMEOUT`] to finish in-flight requests, then what is left (at
//! least [`MIN_FLUSH_TIMEOUT`]) to hand over traces and logs. Whatever the Agent, stdout or the
//! clients do, nothing waits past it: what is not delivered by then is dropped and counted.

use std::future::{IntoFuture, pending};
use std::time::{Duration, Instant};

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// From the signal to the process's exit, everything included.
pub const SHUTDOWN_BUDGET: Duration = Duration::from_secs(4);

/// How long in-flight requests may run on after the signal before the server stops anyway.
pub const DRAIN_TIMEOUT: Duration = Duration::from_millis(2500);

/// The final flush of traces, logs (and metrics) gets what is left of [`SHUTDOWN_BUDGET`], and
/// at least this.
pub const MIN_FLUSH_TIMEOUT: Duration = Duration::from_millis(1000);

/// How long the final flush may take when the shutdown began at `signalled`.
pub fn flush_timeout(signalled: Instant) -> Duration {
    SHUTDOWN_BUDGET
        .saturating_sub(signalled.elapsed())
        .max(MIN_FLUSH_TIMEOUT)
}

/// Serves `app` until one of `signals`, then stops accepting connections and lets in-flight
/// requests finish for up to [`DRAIN_TIMEOUT`]. Returns the server's result and when the
/// shutdown began (the signal, or now if the server stopped by itself).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    signals: Signals,
) -> (std::io::Result<()>, Instant) {
    let (signalled, on_signal) = oneshot::channel();
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            signals.recv().await;
            let _ = signalled.send(Instant::now());
            tracing::info!("shutting down: finishing in-flight requests");
        })
        .into_future();
    let mut signal_time = None;
    let drain_deadline = async {
        match on_signal.await {
            Ok(at) => {
                signal_time = Some(at);
                tokio::time::sleep_until((at + DRAIN_TIMEOUT).into()).await;
            }
            // The server ended on its own; the other branch of the select has its result.
            Err(_) => pending().await,
        }
    };
    let result = tokio::select! {
        result = server => result,
        () = drain_deadline => {
            tracing::warn!("requests still in flight after {DRAIN_TIMEOUT:?}; stopping anyway");
            Ok(())
        }
    };
    (result, signal_time.unwrap_or_else(Instant::now))
}

/// SIGTERM (what Cloud Run sends) and SIGINT (Ctrl-C), listened for from the moment this is
/// created. Create it before binding the port: Cloud Run's startup probe passes as soon as the
/// port accepts, and a SIGTERM arriving before the server first polls its shutdown future would
/// otherwise kill the process without a flush.
pub struct Signals {
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Starts listening (inside the tokio runtime).
    pub fn listen() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind: SignalKind, name: &str| {
                signal(kind)
                    .inspect_err(|error| {
                        tracing::warn!(
                            "cannot listen for {name} ({error}); it will not stop the server"
                        );
                    })
                    .ok()
            };
            Signals {
                terminate: listen(SignalKind::terminate(), "SIGTERM"),
                interrupt: listen(SignalKind::interrupt(), "SIGINT"),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Resolves on the first signal.
    async fn recv(self) {
        #[cfg(unix)]
        {
            async fn next(signal: Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(mut signal) => {
                        signal.recv().await;
                    }
                    None => pending::<()>().await,
                }
            }
            tokio::select! {
                () = next(self.terminate) => {}
                () = next(self.interrupt) => {}
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            pending::<()>().await;
        }
    }
}
