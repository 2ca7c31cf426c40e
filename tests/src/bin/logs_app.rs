//! A minimal app for the log end-to-end tests: `datadog_subscriber::init()` from the environment,
//! one traced request that logs, one line outside any trace, then exit (the guard flushes).

fn main() {
    let guard = datadog_subscriber::init();
    let request = tracing::info_span!("logs.e2e.request", resource = "GET /logs", user.id = 7);
    request.in_scope(|| {
        tracing::info!(answer = 42, "handled request");
        tracing::warn!(detail = "quote \" and newline \n", "odd content");
    });
    drop(request);
    tracing::info!("shutting down");
    drop(guard);
}
