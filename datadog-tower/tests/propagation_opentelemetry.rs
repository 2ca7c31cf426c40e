//! `Propagator` used through OpenTelemetry's `TextMapPropagator` with OpenTelemetry's `Context`.
#![cfg(feature = "opentelemetry")]

use std::collections::HashMap;

use datadog_subscriber::context::SpanContext;
use datadog_tower::propagation::Propagator;
use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;

fn incoming() -> HashMap<String, String> {
    [
        ("x-datadog-trace-id", "7277407061855694839"),
        ("x-datadog-parent-id", "67667974448284343"),
        ("x-datadog-sampling-priority", "2"),
        ("x-datadog-origin", "rum"),
        ("x-datadog-tags", "_dd.p.dm=-4,_dd.p.tid=80f198ee56343ba8"),
        (
            "traceparent",
            "00-80f198ee56343ba864fe8b2a57d3eff7-00f067aa0ba902b7-01",
        ),
        ("tracestate", "dd=s:2;o:rum;t.dm:-4,congo=t61rcWkgMzE"),
        ("baggage", "user.id=alice"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[test]
fn extract_sets_the_remote_span_and_keeps_datadog_details() {
    let propagator = Propagator::default();
    let cx = TextMapPropagator::extract(&propagator, &incoming());
    let span = cx.span();
    let remote = span.span_context();
    assert!(remote.is_valid() && remote.is_remote() && remote.is_sampled());
    assert_eq!(
        format!("{}", remote.trace_id()),
        "80f198ee56343ba864fe8b2a57d3eff7"
    );
    assert_eq!(format!("{}", remote.span_id()), "00f067aa0ba902b7");
    assert_eq!(remote.trace_state().get("congo"), Some("t61rcWkgMzE"));
    let datadog = cx
        .get::<SpanContext>()
        .expect("the Datadog context is stored");
    assert_eq!(datadog.origin.as_deref(), Some("rum"));
    assert_eq!(datadog.propagation_tags.get("_dd.p.dm"), Some("-4"));
    assert_eq!(datadog.baggage.get("user.id"), Some("alice"));
}

#[test]
fn inject_round_trips_through_an_opentelemetry_context() {
    let propagator = Propagator::default();
    let cx = TextMapPropagator::extract(&propagator, &incoming());
    let mut outgoing: HashMap<String, String> = HashMap::new();
    propagator.inject_context(&cx, &mut outgoing);
    assert_eq!(outgoing["x-datadog-trace-id"], "7277407061855694839");
    assert_eq!(outgoing["x-datadog-parent-id"], "67667974448284343");
    assert_eq!(outgoing["x-datadog-sampling-priority"], "2");
    assert_eq!(outgoing["x-datadog-origin"], "rum");
    assert_eq!(
        outgoing["x-datadog-tags"],
        "_dd.p.dm=-4,_dd.p.tid=80f198ee56343ba8"
    );
    assert_eq!(
        outgoing["traceparent"],
        "00-80f198ee56343ba864fe8b2a57d3eff7-00f067aa0ba902b7-01"
    );
    assert_eq!(
        outgoing["tracestate"],
        "dd=s:2;o:rum;p:00f067aa0ba902b7;t.dm:-4,congo=t61rcWkgMzE"
    );
    assert_eq!(outgoing["baggage"], "user.id=alice");
    let fields: Vec<&str> = TextMapPropagator::fields(&propagator).collect();
    assert!(fields.contains(&"traceparent") && fields.contains(&"baggage"));
}

#[test]
fn nothing_to_extract_leaves_the_context_alone() {
    let propagator = Propagator::default();
    let empty: HashMap<String, String> = HashMap::new();
    let cx = propagator.extract_with_context(&Context::new(), &empty);
    assert!(!cx.span().span_context().is_valid());
    assert!(cx.get::<SpanContext>().is_none());
    let mut outgoing: HashMap<String, String> = HashMap::new();
    propagator.inject_context(&cx, &mut outgoing);
    assert!(outgoing.is_empty());
}
