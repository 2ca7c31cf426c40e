//! Shared helpers of the tracer end-to-end tests.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::time::Duration;

use datadog_e2e_tests::test_agent::TestAgent;
use datadog_subscriber::tracer::{TracerConfig, TracerHandle};
use serde_json::Value;
use tracing::subscriber::DefaultGuard;
use tracing_subscriber::layer::SubscriberExt;

/// Generous bound for deliveries on a loaded 2-core machine.
pub const WAIT: Duration = Duration::from_secs(20);

/// A tracer config pointed at `agent`.
pub fn config(agent: &TestAgent) -> TracerConfig {
    TracerConfig::new()
        .agent_url(&agent.url())
        .service("e2e-svc")
        .env("test")
        .version("1.0")
}

/// Installs a registry with the tracer built from `config` as this thread's default subscriber.
pub fn install(config: TracerConfig) -> (DefaultGuard, TracerHandle) {
    let (layer, handle) = config.build();
    let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    (guard, handle)
}

/// The span named `name` in `traces`.
pub fn span<'a>(traces: &'a [Vec<Value>], name: &str) -> &'a Value {
    traces
        .iter()
        .flatten()
        .find(|span| span["name"] == name)
        .unwrap_or_else(|| panic!("no span named {name} in {traces:#?}"))
}

/// Whether `traces` hold a span named `name`.
pub fn has_span(traces: &[Vec<Value>], name: &str) -> bool {
    traces.iter().flatten().any(|span| span["name"] == name)
}

/// Flushes and waits until every span of `names` arrived.
pub fn deliver(agent: &TestAgent, handle: &TracerHandle, names: &[&str]) -> Vec<Vec<Value>> {
    assert!(handle.flush(WAIT), "flush did not finish in time");
    agent.wait_for_traces(WAIT, |traces| {
        names.iter().all(|name| has_span(traces, name))
    })
}
