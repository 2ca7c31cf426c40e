//! `DD_SPAN_SAMPLING_RULES` end to end: spans of a dropped trace that match a rule reach the test
//! agent tagged for single span ingestion; the others carry no such tag.

mod tracer_support;

use datadog_e2e_tests::test_agent::TestAgent;
use datadog_subscriber::tracer::TracerConfig;
use tracer_support::{deliver, install, span};

#[test]
fn spans_of_a_dropped_trace_matching_a_rule_are_marked_for_ingestion() {
    let agent = TestAgent::start();
    agent.start_session(None);
    let url = agent.url();
    // Read as the environment would give it: every trace dropped, db spans kept alone.
    let config = TracerConfig::from_lookup(|name| match name {
        "DD_TRACE_AGENT_URL" => Some(url.clone()),
        "DD_SERVICE" => Some("span-sampling".into()),
        "DD_TRACE_SAMPLE_RATE" => Some("0".into()),
        "DD_SPAN_SAMPLING_RULES" => {
            Some(r#"[{"service":"span-*","name":"db.*","max_per_second":100}]"#.into())
        }
        _ => None,
    });
    let (guard, handle) = install(config);
    tracing::info_span!("http.request").in_scope(|| {
        tracing::info_span!("db.query").in_scope(|| {});
        tracing::info_span!("cache.get").in_scope(|| {});
    });
    let traces = deliver(&agent, &handle, &["http.request", "db.query", "cache.get"]);
    drop(guard);

    let root = span(&traces, "http.request");
    assert!(root["metrics"]["_sampling_priority_v1"].as_f64().unwrap() <= 0.0);
    let kept = &span(&traces, "db.query")["metrics"];
    assert_eq!(kept["_dd.span_sampling.mechanism"], 8.0);
    assert_eq!(kept["_dd.span_sampling.rule_rate"], 1.0);
    assert_eq!(kept["_dd.span_sampling.max_per_second"], 100.0);
    for other in ["http.request", "cache.get"] {
        assert!(
            span(&traces, other)["metrics"]
                .get("_dd.span_sampling.mechanism")
                .is_none(),
            "{other}"
        );
    }
}
