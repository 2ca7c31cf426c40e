//! Interoperability of `datadog_tower::propagation` with the real Python tracer
//! (`ddtrace==4.16.0`'s `HTTPPropagator`, driven by `tests/python/propagation_peer.py`):
//! ddtrace injects → we extract, and we inject → ddtrace extracts, for a set of contexts and
//! styles, comparing ids, sampling priority, origin, `_dd.p.*` tags and baggage.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::process::{Command, Stdio};

use datadog_subscriber::context::{SamplingPriority, SpanContext, SpanId, TraceId};
use datadog_tower::propagation::Propagator;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

/// The style settings exercised, as `DD_TRACE_PROPAGATION_STYLE` values.
const STYLES: [&str; 6] = [
    "datadog",
    "tracecontext",
    "b3multi",
    "b3",
    "datadog,tracecontext,baggage",
    "b3multi,baggage",
];

fn contexts() -> Vec<SpanContext> {
    let with = |trace_id: TraceId,
                span_id: u64,
                priority: Option<i32>,
                origin: Option<&str>,
                tags: &[(&str, &str)],
                baggage: &[(&str, &str)]| {
        let mut context = SpanContext::new(trace_id, SpanId::new(span_id));
        context.sampling_priority = priority.map(SamplingPriority::new);
        context.origin = origin.map(str::to_owned);
        for (key, value) in tags {
            context.propagation_tags.insert(*key, *value);
        }
        for (key, value) in baggage {
            context.baggage.insert(*key, *value);
        }
        context
    };
    vec![
        with(
            TraceId::from_parts(0, 0xb5a2_814f_7006_0771),
            8_185_124_618_007_618_416,
            Some(1),
            Some("synthetics"),
            &[("_dd.p.dm", "-0")],
            &[("user.id", "alice")],
        ),
        with(
            TraceId::from_u128(0x80f1_98ee_5634_3ba8_64fe_8b2a_57d3_eff7),
            67_667_974_448_284_343,
            Some(2),
            Some("rum"),
            &[("_dd.p.dm", "-4"), ("_dd.p.usr.id", "baz64")],
            &[("session.id", "s 1"), ("region", "Amélie")],
        ),
        with(
            TraceId::from_parts(0x6553_a1b2_0000_0000, 42),
            1,
            Some(0),
            None,
            &[("_dd.p.dm", "-1")],
            &[],
        ),
        with(
            TraceId::from_parts(0, 7),
            u64::MAX,
            Some(-1),
            None,
            &[("_dd.p.usr.id", "x==")],
            &[("k", "v,w=x")],
        ),
        with(
            TraceId::from_parts(0x640c_fd8d_0000_0000, 99),
            5,
            None,
            None,
            &[],
            &[],
        ),
    ]
}

fn run_peer(env: &HashMap<String, String>, mode: &str, cases: Vec<Value>) -> Vec<Value> {
    let mut python_env = env.clone();
    python_env.insert(
        "DD_INSTRUMENTATION_TELEMETRY_ENABLED".into(),
        "false".into(),
    );
    python_env.insert("DD_REMOTE_CONFIGURATION_ENABLED".into(), "false".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/propagation_peer.py");
    let mut child = Command::new(datadog_e2e_tests::peers::python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the venv python starts");
    let request = json!({ "env": python_env, "mode": mode, "cases": cases });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "peer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the peer answers JSON")
}

fn env_for(styles: &str) -> HashMap<String, String> {
    HashMap::from([("DD_TRACE_PROPAGATION_STYLE".to_owned(), styles.to_owned())])
}

fn propagator_for(env: &HashMap<String, String>) -> Propagator {
    let env = env.clone();
    Propagator::from_lookup(move |name| env.get(name).cloned())
}

fn context_json(context: &SpanContext) -> Value {
    let tags: BTreeMap<&str, &str> = context.propagation_tags.iter().collect();
    let baggage: BTreeMap<&str, &str> = context.baggage.iter().collect();
    json!({
        "trace_id": context.trace_id.as_u128().to_string(),
        "span_id": context.span_id.as_u64().to_string(),
        "sampling_priority": context.sampling_priority.map(SamplingPriority::value),
        "origin": context.origin,
        "tags": tags,
        "baggage": baggage,
    })
}

/// What a receiver using `styles` should see of `context`.
fn expected_view(styles: &str, context: &SpanContext) -> Value {
    let first = styles.split(',').next().unwrap();
    let carries_details = first == "datadog" || first == "tracecontext";
    let priority = context.sampling_priority.map(SamplingPriority::value);
    let priority = match first {
        // W3C always carries a decision: the sampled flag (00 when there is none).
        "tracecontext" => Some(priority.unwrap_or(0)),
        // B3 has accept / deny / debug.
        "b3multi" | "b3" => priority.map(|p| p.clamp(0, 2)),
        _ => priority,
    };
    let tags: BTreeMap<&str, &str> = if carries_details {
        context.propagation_tags.iter().collect()
    } else {
        BTreeMap::new()
    };
    let baggage: BTreeMap<&str, &str> = if styles.contains("baggage") {
        context.baggage.iter().collect()
    } else {
        BTreeMap::new()
    };
    json!({
        "trace_id": context.trace_id.as_u128().to_string(),
        "span_id": context.span_id.as_u64().to_string(),
        "sampling_priority": priority,
        "origin": if carries_details { context.origin.clone() } else { None },
        "tags": tags,
        "baggage": baggage,
    })
}

/// Drops `_dd.p.tid` (the trace id carries it) from a peer answer.
fn without_tid(mut view: Value) -> Value {
    if let Some(tags) = view["tags"].as_object_mut() {
        tags.remove("_dd.p.tid");
    }
    view
}

#[test]
fn ddtrace_injects_and_we_extract() {
    let contexts = contexts();
    let mut compared = 0;
    for styles in STYLES {
        let env = env_for(styles);
        let cases = contexts.iter().map(context_json).collect();
        let injected = run_peer(&env, "inject", cases);
        let propagator = propagator_for(&env);
        for (context, headers) in contexts.iter().zip(injected) {
            let mut map = HeaderMap::new();
            for (name, value) in headers.as_object().unwrap() {
                map.append(
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value.as_str().unwrap()).unwrap(),
                );
            }
            let extracted = propagator
                .extract(&map)
                .unwrap_or_else(|| panic!("{styles}: nothing extracted from {map:?}"));
            assert_eq!(
                context_json(&extracted),
                expected_view(styles, context),
                "{styles}: ddtrace headers {map:?}"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, STYLES.len() * contexts.len());
}

#[test]
fn we_inject_and_ddtrace_extracts() {
    let contexts = contexts();
    let mut compared = 0;
    for styles in STYLES {
        let env = env_for(styles);
        let propagator = propagator_for(&env);
        let cases: Vec<Value> = contexts
            .iter()
            .map(|context| {
                let mut headers: HashMap<String, String> = HashMap::new();
                propagator.inject(context, &mut headers);
                json!(headers)
            })
            .collect();
        let extracted = run_peer(&env, "extract", cases.clone());
        for ((context, headers), view) in contexts.iter().zip(&cases).zip(extracted) {
            assert!(
                !view.is_null(),
                "{styles}: ddtrace extracted nothing from {headers}"
            );
            assert_eq!(
                without_tid(view),
                expected_view(styles, context),
                "{styles}: our headers {headers}"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, STYLES.len() * contexts.len());
}
