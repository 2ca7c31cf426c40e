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
/// one of `signals`, then lets the calls in flight finish for up to [`DRAIN_TIMEOUT`]. Streams
/// still open then are dropped: their spans end as `CANCELLED`.
pub async fn serve<S, E>(
    signals: Signals,
    serve: impl FnOnce(oneshot::Receiver<()>) -> S,
) -> Result<(), E>
where
    S: Future<Output = Result<(), E>>,
{
    let (stop, stopping) = oneshot::channel();
    let server = serve(stopping);
    let drain_deadline = async move {
        signals.recv().await;
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
