//! The trace exporter against a misbehaving Agent: at most once per span (a slow Agent that
//! times out the client never gets a payload twice; `DD_TRACE_AGENT_TIMEOUT_SECONDS` is
//! honoured), retries only for what the Agent cannot have kept (no connection, 408/429/5xx), and
//! every outcome counted, none blocking a flush past its deadline.

mod examples_support;
mod tracer_support;

use std::time::{Duration, Instant};

use datadog_e2e_tests::fake_agent::{Behaviour, FakeAgent};
use datadog_e2e_tests::fault_app::{FaultApp, StdoutMode, load};
use datadog_subscriber::tracer::TracerConfig;
use examples_support::example_binary;
use tracer_support::{WAIT, install};

#[test]
fn a_slow_agent_never_receives_a_span_twice_and_the_timeout_is_honoured() {
    // Slower than the client's timeout: every request times out, yet the Agent keeps each payload.
    let agent = FakeAgent::start(Behaviour::Slow(Duration::from_millis(1500)));
    let mut app = FaultApp::start(
        &example_binary("in-container"),
        &[
            ("DD_TRACE_AGENT_URL", agent.url()),
            ("DD_TRACE_AGENT_TIMEOUT_SECONDS", "0.5".into()),
            ("DD_SERVICE", "faults-slow".into()),
        ],
        StdoutMode::Read,
    );
    let answered = load(app.port(), 2, usize::MAX, Duration::from_secs(4), &[]);
    agent.wait_for(Duration::from_secs(5), |received| {
        received.requests >= 3 && received.client_left_after.len() >= 3
    });
    let exit = app.terminate();
    let received = agent.received();
    eprintln!(
        "slow Agent: {answered} requests answered, {} payloads and {} spans received, {} duplicates; the client left after {:?}; exit {} ms",
        received.requests,
        received.span_ids.len(),
        received.duplicates(),
        received.client_left_after,
        exit.as_millis()
    );
    assert!(received.requests >= 3, "{} payloads", received.requests);
    assert_eq!(received.duplicates(), 0, "a span was received twice");
    assert!(!received.client_left_after.is_empty());
    for waited in &received.client_left_after {
        // 0.5 s, not the 2 s default: the variable is honoured (margin for a loaded machine).
        assert!(
            *waited >= Duration::from_millis(400) && *waited < Duration::from_millis(1400),
            "the client waited {waited:?}"
        );
    }
}

/// Sends 5 traces to an Agent that behaves as `behaviour`; returns the exporter's counters and
/// what the Agent saw, after a flush that must finish in time.
fn export_five_traces(behaviour: Behaviour) -> (datadog_subscriber::tracer::ExportStats, usize) {
    let agent = FakeAgent::start(behaviour);
    let config = TracerConfig::new()
        .agent_url(&agent.url())
        .service("faults-agent")
        .request_timeout(Duration::from_millis(500))
        .flush_interval(Duration::from_secs(3600));
    let (_guard, handle) = install(config);
    for _ in 0..5 {
        tracing::info_span!("faulty.request").in_scope(|| {});
    }
    let started = Instant::now();
    assert!(
        handle.flush(WAIT),
        "{behaviour:?}: the flush did not finish in {WAIT:?}"
    );
    let took = started.elapsed();
    let stats = handle.stats();
    let requests = agent.received().requests;
    eprintln!("{behaviour:?}: flush {took:?}, {requests} requests, {stats:?}");
    (stats, requests)
}

#[test]
fn what_the_agent_may_have_kept_is_sent_once_and_counted() {
    for behaviour in [
        Behaviour::Hang,
        Behaviour::Garbage,
        Behaviour::Close,
        Behaviour::Status(400),
    ] {
        let (stats, requests) = export_five_traces(behaviour);
        assert_eq!(requests, 1, "{behaviour:?}: sent again");
        assert_eq!(stats.traces_dropped, 5, "{behaviour:?}: {stats:?}");
        assert_eq!(stats.traces_sent, 0, "{behaviour:?}: {stats:?}");
        assert_eq!(stats.requests_failed, 1, "{behaviour:?}: {stats:?}");
    }
}

#[test]
fn what_the_agent_did_not_take_is_retried_then_counted() {
    for behaviour in [
        Behaviour::Status(429),
        Behaviour::Status(500),
        Behaviour::Status(503),
    ] {
        let (stats, requests) = export_five_traces(behaviour);
        // The first attempt and three retries.
        assert_eq!(requests, 4, "{behaviour:?}");
        assert_eq!(stats.traces_dropped, 5, "{behaviour:?}: {stats:?}");
        assert_eq!(stats.requests_failed, 4, "{behaviour:?}: {stats:?}");
    }
}

#[test]
fn a_huge_answer_still_counts_as_delivered() {
    let (stats, requests) = export_five_traces(Behaviour::Huge(512 << 20));
    assert_eq!(requests, 1);
    assert_eq!(stats.traces_sent, 5, "{stats:?}");
    assert_eq!(stats.traces_dropped, 0, "{stats:?}");
}
