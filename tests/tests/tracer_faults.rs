//! The exporter when the Agent is absent, goes away, stalls, and at shutdown.

mod tracer_support;

use std::time::Duration;

use datadog_e2e_tests::free_port;
use datadog_e2e_tests::test_agent::{TestAgent, TestAgentOptions};
use datadog_subscriber::tracer::TracerConfig;
use tracer_support::{WAIT, deliver, install};

fn config_for_port(port: u16) -> TracerConfig {
    TracerConfig::new()
        .agent_url(&format!("http://127.0.0.1:{port}"))
        .service("faults")
}

fn agent_on(port: u16) -> TestAgent {
    let agent = TestAgent::start_with(&TestAgentOptions {
        port: Some(port),
        ..TestAgentOptions::default()
    });
    agent.start_session(None);
    agent
}

#[test]
fn traces_flow_once_an_absent_agent_starts() {
    let port = free_port();
    let (_guard, handle) = install(config_for_port(port));
    tracing::info_span!("before.agent").in_scope(|| {});
    assert!(
        handle.flush(WAIT),
        "an unreachable Agent is dropped-and-counted in time"
    );
    let stats = handle.stats();
    assert_eq!(stats.traces_dropped, 1);
    assert!(stats.requests_failed >= 1);

    let agent = agent_on(port);
    tracing::info_span!("after.agent").in_scope(|| {});
    let traces = deliver(&agent, &handle, &["after.agent"]);
    assert!(!tracer_support::has_span(&traces, "before.agent"));
    assert_eq!(handle.stats().traces_sent, 1);
}

#[test]
fn delivery_resumes_after_the_agent_is_killed_and_restarted() {
    let port = free_port();
    let mut agent = agent_on(port);
    let (_guard, handle) = install(config_for_port(port));
    tracing::info_span!("first").in_scope(|| {});
    deliver(&agent, &handle, &["first"]);

    agent.kill();
    tracing::info_span!("while.down").in_scope(|| {});
    assert!(handle.flush(WAIT));
    assert_eq!(handle.stats().traces_dropped, 1);

    let agent = agent_on(port);
    tracing::info_span!("after.restart").in_scope(|| {});
    deliver(&agent, &handle, &["after.restart"]);
    assert_eq!(handle.stats().traces_sent, 2);
}

#[test]
fn a_stalled_agent_costs_bounded_memory_and_counted_drops() {
    let port = free_port();
    let mut stalled = TestAgent::start_with(&TestAgentOptions {
        port: Some(port),
        trace_request_delay: Some(30.0),
        ..TestAgentOptions::default()
    });
    let config = config_for_port(port)
        .request_timeout(Duration::from_millis(200))
        .queue_capacity(50);
    let (_guard, handle) = install(config);
    tracing::info_span!("stalled.first").in_scope(|| {});
    // A flush with a short deadline cuts the request to the stalled Agent short too: it returns
    // by then, the trace sent (perhaps received: not sent again) or dropped and counted.
    let _ = handle.flush(Duration::from_millis(1));
    for _ in 0..500 {
        tracing::info_span!("stalled.burst").in_scope(|| {});
    }
    assert!(handle.flush(WAIT));
    let stats = handle.stats();
    assert!(stats.requests_failed >= 1, "{stats:?}");
    assert!(
        stats.traces_dropped >= 450,
        "the queue holds at most 50 spans: {stats:?}"
    );
    assert_eq!(stats.traces_sent, 0);

    stalled.kill();
    let agent = agent_on(port);
    tracing::info_span!("after.stall").in_scope(|| {});
    deliver(&agent, &handle, &["after.stall"]);
}

#[test]
fn shutdown_delivers_the_last_trace_before_returning() {
    let agent = agent_on(free_port());
    // A flush interval far beyond the test: only the shutdown sends.
    let config = tracer_support::config(&agent).flush_interval(Duration::from_secs(3600));
    let (_guard, handle) = install(config);
    tracing::info_span!("last.request").in_scope(|| {});
    assert!(handle.shutdown(WAIT));
    let traces = agent.traces();
    assert!(
        tracer_support::has_span(&traces, "last.request"),
        "{traces:#?}"
    );

    tracing::info_span!("after.shutdown").in_scope(|| {});
    assert_eq!(
        handle.stats().traces_dropped,
        1,
        "traces after shutdown are counted"
    );
    assert!(
        handle.flush(Duration::from_secs(1)),
        "nothing left to flush"
    );
}
