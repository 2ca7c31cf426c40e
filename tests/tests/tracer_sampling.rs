//! Sampling decisions as the test agent receives them: Agent rates, rules, rate limit, manual.

mod tracer_support;

use datadog_e2e_tests::test_agent::TestAgent;
use datadog_subscriber::DatadogSpanExt;
use serde_json::{Value, json};
use tracer_support::{config, deliver, install, span};

fn priority(span: &Value) -> f64 {
    span["metrics"]["_sampling_priority_v1"]
        .as_f64()
        .expect("a sampling priority")
}

#[test]
fn agent_rates_apply_to_the_next_traces() {
    let agent = TestAgent::start();
    agent.start_session(Some(&json!({
        "service:rated-keep,env:test": 1.0,
        "service:rated-drop,env:test": 0.0,
    })));
    let (_guard, handle) = install(config(&agent));
    tracing::info_span!("before.rates").in_scope(|| {});
    // The answer to this payload carries the session's rates.
    deliver(&agent, &handle, &["before.rates"]);

    tracing::info_span!("kept.by.agent", service = "rated-keep").in_scope(|| {});
    tracing::info_span!("dropped.by.agent", service = "rated-drop").in_scope(|| {});
    let traces = deliver(&agent, &handle, &["kept.by.agent", "dropped.by.agent"]);

    let before = span(&traces, "before.rates");
    assert_eq!(before["meta"]["_dd.p.dm"], "-0");
    assert_eq!(before["metrics"].get("_dd.agent_psr"), None);

    let kept = span(&traces, "kept.by.agent");
    assert_eq!(priority(kept), 1.0);
    assert_eq!(kept["meta"]["_dd.p.dm"], "-1");
    assert_eq!(kept["metrics"]["_dd.agent_psr"], 1.0);

    let dropped = span(&traces, "dropped.by.agent");
    assert_eq!(priority(dropped), 0.0);
    assert_eq!(dropped["metrics"]["_dd.agent_psr"], 0.0);
    assert_eq!(
        dropped["meta"].get("_dd.p.dm"),
        None,
        "only kept traces carry a decision maker"
    );
}

#[test]
fn sampling_rules_match_name_resource_and_tags() {
    let agent = TestAgent::start();
    agent.start_session(None);
    let rules = r#"[
        {"name": "drop.*", "sample_rate": 0},
        {"resource": "GET /keep", "tags": {"tier": "gold*"}, "sample_rate": 1},
        {"service": 42},
        {"sample_rate": "bad"}
    ]"#;
    let (_guard, handle) = install(config(&agent).sampling_rules_json(rules));
    tracing::info_span!("drop.job").in_scope(|| {});
    tracing::info_span!("keep.request", resource = "GET /keep", tier = "golden").in_scope(|| {});
    tracing::info_span!("no.rule", resource = "GET /keep", tier = "silver").in_scope(|| {});
    let traces = deliver(&agent, &handle, &["drop.job", "keep.request", "no.rule"]);

    let dropped = span(&traces, "drop.job");
    assert_eq!(priority(dropped), -1.0);
    assert_eq!(dropped["metrics"]["_dd.rule_psr"], 0.0);
    assert_eq!(dropped["metrics"].get("_dd.limit_psr"), None);
    assert_eq!(dropped["meta"].get("_dd.p.dm"), None);

    let kept = span(&traces, "keep.request");
    assert_eq!(priority(kept), 2.0);
    assert_eq!(kept["meta"]["_dd.p.dm"], "-3");
    assert_eq!(kept["metrics"]["_dd.rule_psr"], 1.0);
    assert_eq!(kept["metrics"]["_dd.limit_psr"], 1.0);

    let default = span(&traces, "no.rule");
    assert_eq!(priority(default), 1.0);
    assert_eq!(default["meta"]["_dd.p.dm"], "-0");
}

#[test]
fn the_rate_limit_caps_traces_kept_by_rules() {
    let agent = TestAgent::start();
    agent.start_session(None);
    let (_guard, handle) = install(config(&agent).sample_rate(1.0).rate_limit(1.0));
    const BURST: usize = 20;
    for _ in 0..BURST {
        tracing::info_span!("burst").in_scope(|| {});
    }
    assert!(handle.flush(tracer_support::WAIT));
    let traces = agent.wait_for_traces(tracer_support::WAIT, |traces| traces.len() == BURST);
    let roots: Vec<&Value> = traces.iter().map(|trace| &trace[0]).collect();
    let kept = roots.iter().filter(|span| priority(span) == 2.0).count();
    let limited: Vec<&&Value> = roots.iter().filter(|span| priority(span) == -1.0).collect();
    assert!(kept >= 1, "the first trace fits the limit");
    assert!(!limited.is_empty(), "a burst of 20 exceeds 1 per second");
    assert_eq!(kept + limited.len(), BURST);
    for span in limited {
        assert_eq!(span["metrics"]["_dd.rule_psr"], 1.0);
        assert!(span["metrics"]["_dd.limit_psr"].as_f64().unwrap() < 1.0);
        assert_eq!(span["meta"].get("_dd.p.dm"), None);
    }
}

#[test]
fn sample_rate_zero_and_manual_decisions() {
    let agent = TestAgent::start();
    agent.start_session(None);
    let (_guard, handle) = install(config(&agent).sample_rate(0.0));
    tracing::info_span!("rate.zero").in_scope(|| {});
    let forced = tracing::info_span!("manual.keep");
    forced.in_scope(|| tracing::info_span!("manual.keep.child").in_scope(|| {}));
    forced.keep_trace();
    assert_eq!(
        forced
            .datadog_context()
            .unwrap()
            .sampling_priority
            .unwrap()
            .value(),
        2
    );
    drop(forced);
    let rejected = tracing::info_span!("manual.reject", service = "other");
    rejected.reject_trace();
    drop(rejected);
    let traces = deliver(
        &agent,
        &handle,
        &["rate.zero", "manual.keep", "manual.reject"],
    );

    let zero = span(&traces, "rate.zero");
    assert_eq!(priority(zero), -1.0);
    assert_eq!(zero["metrics"]["_dd.rule_psr"], 0.0);
    let kept = span(&traces, "manual.keep");
    assert_eq!(priority(kept), 2.0);
    assert_eq!(kept["meta"]["_dd.p.dm"], "-4");
    let rejected = span(&traces, "manual.reject");
    assert_eq!(priority(rejected), -1.0);
    assert_eq!(rejected["meta"].get("_dd.p.dm"), None);
}
