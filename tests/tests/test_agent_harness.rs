//! Proves the harness is real: a hand-built `/v0.4/traces` payload goes to Datadog's test agent and
//! comes back through `/test/session/traces`.

use std::time::Duration;

use datadog_e2e_tests::test_agent::TestAgent;

fn write_str_pair(buffer: &mut Vec<u8>, key: &str, value: &str) {
    rmp::encode::write_str(buffer, key).unwrap();
    rmp::encode::write_str(buffer, value).unwrap();
}

/// One trace holding one span, encoded by hand in the v0.4 msgpack layout.
fn one_span_payload(trace_id: u64, span_id: u64) -> Vec<u8> {
    let mut buffer = Vec::new();
    rmp::encode::write_array_len(&mut buffer, 1).unwrap(); // traces
    rmp::encode::write_array_len(&mut buffer, 1).unwrap(); // spans of the trace
    rmp::encode::write_map_len(&mut buffer, 11).unwrap();
    write_str_pair(&mut buffer, "service", "harness-service");
    write_str_pair(&mut buffer, "name", "harness.span");
    write_str_pair(&mut buffer, "resource", "GET /harness");
    rmp::encode::write_str(&mut buffer, "trace_id").unwrap();
    rmp::encode::write_u64(&mut buffer, trace_id).unwrap();
    rmp::encode::write_str(&mut buffer, "span_id").unwrap();
    rmp::encode::write_u64(&mut buffer, span_id).unwrap();
    rmp::encode::write_str(&mut buffer, "parent_id").unwrap();
    rmp::encode::write_u64(&mut buffer, 0).unwrap();
    rmp::encode::write_str(&mut buffer, "start").unwrap();
    rmp::encode::write_i64(&mut buffer, 1_700_000_000_000_000_000).unwrap();
    rmp::encode::write_str(&mut buffer, "duration").unwrap();
    rmp::encode::write_i64(&mut buffer, 1_500).unwrap();
    rmp::encode::write_str(&mut buffer, "error").unwrap();
    rmp::encode::write_i32(&mut buffer, 0).unwrap();
    rmp::encode::write_str(&mut buffer, "meta").unwrap();
    rmp::encode::write_map_len(&mut buffer, 1).unwrap();
    write_str_pair(&mut buffer, "language", "rust");
    rmp::encode::write_str(&mut buffer, "metrics").unwrap();
    rmp::encode::write_map_len(&mut buffer, 1).unwrap();
    rmp::encode::write_str(&mut buffer, "_sampling_priority_v1").unwrap();
    rmp::encode::write_f64(&mut buffer, 1.0).unwrap();
    buffer
}

fn post_traces(agent: &TestAgent, payload: &[u8], trace_count: &str) -> (u16, String) {
    let http = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut response = http
        .post(format!("{}/v0.4/traces", agent.url()))
        .header("Content-Type", "application/msgpack")
        .header("X-Datadog-Trace-Count", trace_count)
        .header("Datadog-Meta-Lang", "rust")
        .header("Datadog-Meta-Tracer-Version", "0.1.0")
        .send(payload)
        .expect("the test agent should answer");
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

#[test]
fn a_hand_built_v04_span_round_trips_through_the_test_agent() {
    let agent = TestAgent::start();
    agent.start_session(None);

    let (status, body) = post_traces(&agent, &one_span_payload(1234, 5678), "1");
    assert_eq!(status, 200, "agent answered: {body}");
    assert!(body.contains("rate_by_service"), "agent answered: {body}");

    let traces = agent.wait_for_traces(Duration::from_secs(10), |traces| !traces.is_empty());
    assert_eq!(traces.len(), 1);
    let span = &traces[0][0];
    assert_eq!(span["trace_id"], 1234);
    assert_eq!(span["span_id"], 5678);
    assert_eq!(span["name"], "harness.span");
    assert_eq!(span["service"], "harness-service");
    assert_eq!(span["resource"], "GET /harness");
    assert_eq!(span["meta"]["language"], "rust");
    assert_eq!(span["metrics"]["_sampling_priority_v1"], 1.0);
}

#[test]
fn the_enabled_checks_reject_a_wrong_trace_count() {
    let agent = TestAgent::start();
    agent.start_session(None);
    let (status, body) = post_traces(&agent, &one_span_payload(1, 2), "3");
    assert_eq!(
        status, 400,
        "a wrong X-Datadog-Trace-Count must fail the check: {body}"
    );
    assert!(
        body.contains("trace_count_header") || body.contains("Trace-Count"),
        "{body}"
    );
}

#[test]
fn session_rates_come_back_in_trace_responses() {
    let agent = TestAgent::start();
    let rates = serde_json::json!({"service:harness-service,env:test": 0.25});
    agent.start_session(Some(&rates));
    let (status, body) = post_traces(&agent, &one_span_payload(3, 4), "1");
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        answer["rate_by_service"]["service:harness-service,env:test"],
        0.25
    );
}
