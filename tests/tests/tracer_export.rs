//! The tracer layer's spans, as the real test agent decodes them.

mod tracer_support;

use std::sync::Arc;

use datadog_e2e_tests::test_agent::TestAgent;
use datadog_subscriber::context::{SamplingPriority, SpanContext, SpanId, SpanLink, TraceId};
use datadog_subscriber::tracer::with_remote_parent;
use datadog_subscriber::{DatadogSpanExt, current_context};
use serde_json::Value;
use tracer_support::{config, deliver, install, span};
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn nested_spans_arrive_as_one_trace_with_datadog_fields_and_headers() {
    let agent = TestAgent::start();
    agent.start_session(None);
    let (guard, handle) = install(config(&agent).tag("team", "tracing"));
    let (root_context, child_context) = {
        let root = tracing::info_span!(
            "http.request",
            resource = "GET /users/{id}",
            span.type = "web",
            http.method = "GET",
            http.status_code = "200",
            cache.hit = true,
        );
        let _root = root.enter();
        let child = tracing::info_span!(
            "db.query",
            service = "e2e-db",
            rows = 3,
            db.statement = "SELECT 1"
        );
        {
            let _child = child.enter();
            tracing::info_span!("db.fetch", error = true, error.message = "boom", error.type = "Timeout")
                .in_scope(|| {});
            tracing::error!(error.type = "QueryError", "query failed");
        }
        (
            root.datadog_context().unwrap(),
            child.datadog_context().unwrap(),
        )
    };
    let traces = deliver(&agent, &handle, &["http.request", "db.query", "db.fetch"]);
    drop(guard);
    assert_eq!(traces.len(), 1, "one trace: {traces:#?}");
    assert_eq!(traces[0].len(), 3);

    let (root, child, grandchild) = (
        span(&traces, "http.request"),
        span(&traces, "db.query"),
        span(&traces, "db.fetch"),
    );
    let trace_id = root_context.trace_id;
    for span in [root, child, grandchild] {
        assert_eq!(span["trace_id"], trace_id.low());
    }
    assert_eq!(root["span_id"], root_context.span_id.as_u64());
    assert_eq!(root["parent_id"], 0);
    assert_eq!(child["span_id"], child_context.span_id.as_u64());
    assert_eq!(child["parent_id"], root["span_id"]);
    assert_eq!(grandchild["parent_id"], child["span_id"]);

    assert_eq!(root["service"], "e2e-svc");
    assert_eq!(root["resource"], "GET /users/{id}");
    assert_eq!(root["type"], "web");
    assert_eq!(root["error"], 0);
    let meta = &root["meta"];
    assert_eq!(meta["http.method"], "GET");
    assert_eq!(meta["http.status_code"], "200");
    assert_eq!(meta["cache.hit"], "true");
    assert_eq!(meta["env"], "test");
    assert_eq!(meta["version"], "1.0");
    assert_eq!(meta["team"], "tracing");
    assert_eq!(meta["language"], "rust");
    assert_eq!(meta["_dd.p.dm"], "-0");
    assert!(meta["runtime-id"].as_str().is_some_and(|id| id.len() == 36));
    let tid = meta["_dd.p.tid"]
        .as_str()
        .expect("_dd.p.tid on the chunk root");
    assert_eq!(tid, format!("{:016x}", trace_id.high()));
    assert!(tid.ends_with("00000000") && tid != "0000000000000000");
    let metrics = &root["metrics"];
    assert_eq!(metrics["_sampling_priority_v1"], 1.0);
    assert_eq!(metrics["_dd.top_level"], 1.0);
    assert_eq!(metrics["process_id"], f64::from(std::process::id()));
    assert!(root["start"].as_i64().unwrap() > 1_700_000_000_000_000_000);
    assert!(root["duration"].as_i64().unwrap() >= child["duration"].as_i64().unwrap());

    assert_eq!(child["service"], "e2e-db");
    assert_eq!(child["resource"], "db.query");
    assert_eq!(child["error"], 1, "an ERROR event inside marks the span");
    assert_eq!(child["meta"]["error.message"], "query failed");
    assert_eq!(child["meta"]["error.type"], "QueryError");
    assert_eq!(child["meta"]["db.statement"], "SELECT 1");
    assert_eq!(child["meta"]["_dd.base_service"], "e2e-svc");
    assert_eq!(child["meta"].get("version"), None);
    assert_eq!(child["meta"].get("_dd.p.tid"), None);
    assert_eq!(child["metrics"]["rows"], 3.0);
    assert_eq!(
        child["metrics"]["_dd.top_level"], 1.0,
        "the service changes here"
    );

    assert_eq!(grandchild["service"], "e2e-db", "the service is inherited");
    assert_eq!(grandchild["error"], 1);
    assert_eq!(grandchild["meta"]["error.message"], "boom");
    assert_eq!(grandchild["meta"]["error.type"], "Timeout");
    assert_eq!(grandchild["metrics"].get("_dd.top_level"), None);

    let requests = agent.requests();
    let request = requests
        .iter()
        .find(|request| {
            request["url"]
                .as_str()
                .is_some_and(|url| url.contains("/v0.4/traces"))
        })
        .expect("a /v0.4/traces request");
    let header = |name: &str| -> String {
        request["headers"]
            .as_object()
            .and_then(|headers| {
                headers
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(name))
            })
            .and_then(|(_, value)| value.as_str())
            .unwrap_or_else(|| panic!("no {name} header in {request:#?}"))
            .to_owned()
    };
    assert_eq!(header("Content-Type"), "application/msgpack");
    assert_eq!(header("X-Datadog-Trace-Count"), "1");
    assert_eq!(header("Datadog-Meta-Lang"), "rust");
    assert_eq!(
        header("Datadog-Meta-Tracer-Version"),
        env!("CARGO_PKG_VERSION")
    );
    assert!(header("Datadog-Meta-Lang-Version").starts_with("1."));
    assert_eq!(header("Datadog-Client-Computed-Top-Level"), "yes");
    assert!(handle.stats().traces_sent >= 1);
}

#[test]
fn a_span_continued_from_a_remote_context_keeps_its_trace() {
    let agent = TestAgent::start();
    agent.start_session(None);
    let (guard, handle) = install(config(&agent));
    let mut remote = SpanContext::new(
        TraceId::from_parts(0x6553_1111_0000_0000, 0xabc),
        SpanId::new(0xdef),
    );
    remote.sampling_priority = Some(SamplingPriority::USER_KEEP);
    remote.origin = Some("rum".into());
    remote.propagation_tags.insert("_dd.p.dm", "-4");
    remote.propagation_tags.insert("_dd.p.usr.id", "baz64");
    remote.last_parent_id = Some("00000000000000aa".into());
    let mut link = SpanLink::new(TraceId::from_parts(5, 6), SpanId::new(7))
        .with_attribute("reason", "terminated_context")
        .with_attribute("context_headers", "tracecontext");
    link.flags = Some(1);
    link.tracestate = Some("dd=s:1".into());
    remote.span_links.push(link);

    let child_context = {
        let server = with_remote_parent(Some(Arc::new(remote.clone())), || {
            tracing::info_span!("http.request")
        });
        server.in_scope(|| {
            let client = tracing::info_span!("http.client");
            client.in_scope(current_context).unwrap()
        })
    };
    let traces = deliver(&agent, &handle, &["http.request", "http.client"]);
    drop(guard);

    assert_eq!(child_context.trace_id, remote.trace_id);
    assert_eq!(
        child_context.sampling_priority,
        Some(SamplingPriority::USER_KEEP)
    );
    assert_eq!(child_context.origin.as_deref(), Some("rum"));
    assert_eq!(
        child_context.propagation_tags.get("_dd.p.usr.id"),
        Some("baz64")
    );
    assert_eq!(child_context.propagation_tags.get("_dd.p.dm"), Some("-4"));

    let (server, client) = (span(&traces, "http.request"), span(&traces, "http.client"));
    assert_eq!(server["trace_id"], 0xabc);
    assert_eq!(client["trace_id"], 0xabc);
    assert_eq!(server["parent_id"], 0xdef);
    assert_eq!(client["parent_id"], server["span_id"]);
    assert_eq!(client["span_id"], child_context.span_id.as_u64());
    let meta = &server["meta"];
    assert_eq!(meta["_dd.origin"], "rum");
    assert_eq!(client["meta"]["_dd.origin"], "rum");
    assert_eq!(meta["_dd.p.dm"], "-4");
    assert_eq!(meta["_dd.p.usr.id"], "baz64");
    assert_eq!(meta["_dd.p.tid"], "6553111100000000");
    assert_eq!(meta["_dd.parent_id"], "00000000000000aa");
    assert_eq!(server["metrics"]["_sampling_priority_v1"], 2.0);
    assert_eq!(server["metrics"]["_dd.top_level"], 1.0);
    assert_eq!(
        server["metrics"].get("_dd.agent_psr"),
        None,
        "upstream decided"
    );

    let links = server["span_links"]
        .as_array()
        .expect("span links on the server span");
    assert_eq!(links.len(), 1);
    assert_eq!(links[0]["trace_id"], 6);
    assert_eq!(links[0]["trace_id_high"], 5);
    assert_eq!(links[0]["span_id"], 7);
    assert_eq!(links[0]["attributes"]["reason"], "terminated_context");
    assert_eq!(links[0]["tracestate"], "dd=s:1");
    assert_eq!(links[0]["flags"], 1 | (1u64 << 31));
    assert_eq!(
        client
            .get("span_links")
            .and_then(Value::as_array)
            .map(Vec::len)
            .unwrap_or(0),
        0
    );
}

#[test]
fn spans_under_a_filtered_request_span_continue_the_remote_parent() {
    let agent = TestAgent::start();
    agent.start_session(None);
    let (layer, handle) = config(&agent).build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("info"))
        .with(layer);
    let remote = Arc::new({
        let mut remote = SpanContext::new(TraceId::from_parts(0, 0x1234), SpanId::new(0x5678));
        remote.sampling_priority = Some(SamplingPriority::AUTO_KEEP);
        remote
    });
    let (outside, inside) = tracing::subscriber::with_default(subscriber, || {
        with_remote_parent(Some(remote.clone()), || {
            let request = tracing::debug_span!("filtered.request");
            let _request = request.enter();
            let outside = current_context();
            let inside = tracing::info_span!("handler.work").in_scope(current_context);
            (outside, inside)
        })
    });
    let traces = deliver(&agent, &handle, &["handler.work"]);

    assert_eq!(
        outside.as_ref(),
        Some(&*remote),
        "no tracked span: the remote parent"
    );
    let inside = inside.unwrap();
    assert_eq!(inside.trace_id, remote.trace_id);
    let work = span(&traces, "handler.work");
    assert_eq!(work["trace_id"], 0x1234);
    assert_eq!(work["parent_id"], 0x5678);
    assert_eq!(work["span_id"], inside.span_id.as_u64());
    assert_eq!(
        work["meta"].get("_dd.p.tid"),
        None,
        "a 64-bit trace stays 64-bit"
    );
    assert!(
        !traces
            .iter()
            .flatten()
            .any(|span| span["name"] == "filtered.request")
    );
}

#[test]
fn follows_from_becomes_a_span_link() {
    let agent = TestAgent::start();
    agent.start_session(None);
    let (guard, handle) = install(config(&agent));
    let producer = tracing::info_span!("queue.produce");
    let producer_context = producer.datadog_context().unwrap();
    drop(producer);
    let consumer = tracing::info_span!("queue.consume");
    consumer.follows_from(tracing::Span::none());
    let producer_again = tracing::info_span!("queue.produce.again");
    // Reading the context makes the sampling decision the link's flags carry.
    let again_context = producer_again.datadog_context().unwrap();
    consumer.follows_from(&producer_again);
    drop((consumer, producer_again));
    let traces = deliver(&agent, &handle, &["queue.produce", "queue.consume"]);
    drop(guard);

    let consumer = span(&traces, "queue.consume");
    assert_ne!(consumer["trace_id"], producer_context.trace_id.low());
    let links = consumer["span_links"].as_array().expect("a span link");
    assert_eq!(links.len(), 1);
    assert_eq!(links[0]["trace_id"], again_context.trace_id.low());
    assert_eq!(links[0]["span_id"], again_context.span_id.as_u64());
    assert_eq!(links[0]["flags"], 1 | (1u64 << 31));
}

#[cfg(unix)]
#[test]
fn traces_reach_an_agent_on_a_unix_socket() {
    use datadog_e2e_tests::test_agent::TestAgentOptions;

    let socket = std::env::temp_dir().join(format!(
        "dd-tracer-e2e-{}-{}.sock",
        std::process::id(),
        datadog_e2e_tests::free_port()
    ));
    let agent = TestAgent::start_with(&TestAgentOptions {
        env: vec![(
            "DD_APM_RECEIVER_SOCKET".into(),
            socket.display().to_string(),
        )],
        ..TestAgentOptions::default()
    });
    agent.start_session(None);
    let url = format!("unix://{}", socket.display());
    let (guard, handle) = install(datadog_subscriber::tracer::TracerConfig::new().agent_url(&url));
    tracing::info_span!("over.unix.socket").in_scope(|| {});
    let traces = deliver(&agent, &handle, &["over.unix.socket"]);
    drop(guard);
    assert_eq!(
        span(&traces, "over.unix.socket")["meta"]["language"],
        "rust"
    );
    // The agent is killed, so its own clean-up of the socket file never runs.
    drop(agent);
    let _ = std::fs::remove_file(&socket);
}
