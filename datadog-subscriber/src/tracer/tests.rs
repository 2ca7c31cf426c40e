//! The layer's ids, parenting and correlation data, without export.

use std::sync::Arc;

use tracing_subscriber::Registry;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;

use super::{DatadogSpanExt, TracerConfig, current_context, with_remote_parent};
use crate::context::{SamplingPriority, SpanContext, SpanId, SpanLink, TraceId};
use crate::correlation::CorrelationIds;

fn with_tracer<R>(config: TracerConfig, work: impl FnOnce() -> R) -> R {
    let (layer, _handle) = config.enabled(false).build();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), work)
}

/// What the log layer would read from the span's extensions.
fn correlation(span: &tracing::Span) -> Option<CorrelationIds> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        crate::correlation::span_ids(&registry.span(id)?.extensions())
    })
    .flatten()
}

#[test]
fn children_inherit_the_trace_and_correlation_ids_follow_the_decision() {
    with_tracer(TracerConfig::new(), || {
        let root = tracing::info_span!("root");
        let before = correlation(&root).unwrap();
        assert!(!before.sampled, "undecided until the root is entered");
        let _root = root.enter();
        assert!(correlation(&root).unwrap().sampled);
        let child = tracing::info_span!("child");
        let (root_context, child_context) = (
            root.datadog_context().unwrap(),
            child.datadog_context().unwrap(),
        );
        assert_eq!(child_context.trace_id, root_context.trace_id);
        assert_ne!(child_context.span_id, root_context.span_id);
        assert_eq!(root_context.trace_id.high() & 0xffff_ffff, 0);
        assert_ne!(root_context.trace_id.high(), 0);
        assert_eq!(root_context.propagation_tags.get("_dd.p.dm"), Some("-0"));
        let ids = correlation(&child).unwrap();
        assert_eq!(
            (ids.trace_id, ids.span_id),
            (child_context.trace_id, child_context.span_id)
        );
        assert!(ids.sampled);
        assert_eq!(child.in_scope(current_context), Some(child_context));
    });
}

#[test]
fn sixty_four_bit_generation_and_manual_drop() {
    with_tracer(TracerConfig::new().trace_id_128_bit(false), || {
        let root = tracing::info_span!("root");
        root.reject_trace();
        let context = root.datadog_context().unwrap();
        assert_eq!(context.trace_id.high(), 0);
        assert_eq!(
            context.sampling_priority,
            Some(SamplingPriority::USER_REJECT)
        );
        assert!(!correlation(&root).unwrap().sampled);
    });
}

#[test]
fn an_invalid_remote_context_starts_a_trace_that_keeps_baggage() {
    with_tracer(TracerConfig::new(), || {
        let mut remote = SpanContext::default();
        remote.baggage.insert("user.id", "42");
        remote
            .span_links
            .push(SpanLink::new(TraceId::from_u128(3), SpanId::new(4)));
        let span = with_remote_parent(Some(Arc::new(remote)), || tracing::info_span!("request"));
        let other = tracing::info_span!("other");
        let context = span.datadog_context().unwrap();
        assert!(context.is_valid());
        assert_ne!(context.trace_id, other.datadog_context().unwrap().trace_id);
        assert_eq!(context.baggage.get("user.id"), Some("42"));
        assert_eq!(correlation(&span).unwrap().trace_id, context.trace_id);
    });
}

#[test]
fn a_remote_trace_without_parent_id_is_continued_as_a_root() {
    with_tracer(TracerConfig::new(), || {
        let mut remote = SpanContext::new(TraceId::from_u128(77), SpanId::INVALID);
        remote.sampling_priority = Some(SamplingPriority::USER_KEEP);
        let span = with_remote_parent(Some(Arc::new(remote)), || tracing::info_span!("request"));
        let context = span.datadog_context().unwrap();
        assert_eq!(context.trace_id, TraceId::from_u128(77));
        assert_eq!(context.sampling_priority, Some(SamplingPriority::USER_KEEP));
        assert!(context.span_id.is_valid());
    });
}

#[test]
fn a_remote_parent_does_not_change_spans_with_a_local_parent() {
    with_tracer(TracerConfig::new(), || {
        let root = tracing::info_span!("root");
        let remote = Arc::new(SpanContext::new(TraceId::from_u128(9), SpanId::new(9)));
        let child =
            with_remote_parent(Some(remote), || tracing::info_span!(parent: &root, "child"));
        assert_eq!(
            child.datadog_context().unwrap().trace_id,
            root.datadog_context().unwrap().trace_id
        );
    });
}

#[test]
fn roots_continue_the_remote_parent_unless_explicitly_parentless() {
    let mut remote = SpanContext::new(TraceId::from_u128(77), SpanId::new(78));
    remote.sampling_priority = Some(SamplingPriority::USER_KEEP);
    remote.origin = Some("synthetics".into());
    let remote = Arc::new(remote);
    with_tracer(TracerConfig::new(), || {
        with_remote_parent(Some(remote.clone()), || {
            let root = tracing::info_span!("work");
            let context = root.datadog_context().unwrap();
            assert_eq!(context.trace_id, remote.trace_id);
            assert_eq!(context.sampling_priority, Some(SamplingPriority::USER_KEEP));
            assert_eq!(context.origin.as_deref(), Some("synthetics"));
            assert!(correlation(&root).unwrap().sampled);
            let fresh = tracing::info_span!(parent: None, "unrelated");
            assert_ne!(fresh.datadog_context().unwrap().trace_id, remote.trace_id);
            assert_eq!(current_context().as_ref(), Some(&*remote));
        });
    });
}

#[test]
fn untracked_spans_have_no_context() {
    assert!(
        tracing::info_span!("no subscriber")
            .datadog_context()
            .is_none()
    );
    with_tracer(TracerConfig::new(), || {
        assert!(tracing::Span::none().datadog_context().is_none());
        assert!(current_context().is_none());
    });
}

#[test]
fn a_span_opened_in_a_remote_context_takes_the_whole_continuation_once() {
    let mut remote = SpanContext::new(
        TraceId::from_parts(0x6553_0000_0000_0000, 11),
        SpanId::new(12),
    );
    remote.sampling_priority = Some(SamplingPriority::USER_KEEP);
    remote.origin = Some("rum".into());
    remote.propagation_tags.insert("_dd.p.usr.id", "baz64");
    remote.last_parent_id = Some("00000000000000aa".into());
    remote.propagation_error = Some("extract_max_size".into());
    remote.baggage.insert("user.id", "alice");
    remote.baggage.insert("team", "core");
    remote
        .span_links
        .push(SpanLink::new(TraceId::from_u128(3), SpanId::new(4)));
    let remote = Arc::new(remote);
    let spans = super::CapturedSpans::new();
    let (layer, _handle) = TracerConfig::new()
        .service("svc")
        .capture(spans.clone())
        .build();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let server =
            with_remote_parent(Some(remote.clone()), || tracing::info_span!("http.request"));
        server.in_scope(|| tracing::info_span!("db.query").in_scope(|| {}));
    });
    let spans = spans.take();
    let server = spans
        .iter()
        .find(|span| span.name == "http.request")
        .unwrap();
    let child = spans.iter().find(|span| span.name == "db.query").unwrap();
    assert_eq!(server.trace_id, remote.trace_id);
    assert_eq!(server.parent_id, SpanId::new(12));
    assert_eq!(child.parent_id, server.span_id);
    let meta = |span: &super::FinishedSpan, key: &str| span.meta.get(key).cloned();
    assert_eq!(
        meta(server, "_dd.parent_id").as_deref(),
        Some("00000000000000aa")
    );
    assert_eq!(
        meta(server, "_dd.propagation_error").as_deref(),
        Some("extract_max_size")
    );
    assert_eq!(meta(server, "baggage.user.id").as_deref(), Some("alice"));
    assert_eq!(
        meta(server, "baggage.team"),
        None,
        "not in the default keys"
    );
    assert_eq!(meta(server, "_dd.origin").as_deref(), Some("rum"));
    assert_eq!(meta(server, "_dd.p.usr.id").as_deref(), Some("baz64"));
    assert_eq!(
        meta(server, "_dd.p.tid").as_deref(),
        Some("6553000000000000")
    );
    assert_eq!(
        server.sampling_priority(),
        Some(SamplingPriority::USER_KEEP)
    );
    assert_eq!(server.links, remote.span_links);
    for key in ["_dd.parent_id", "baggage.user.id", "_dd.propagation_error"] {
        assert_eq!(meta(child, key), None, "{key} only on the local root");
    }
    assert!(child.links.is_empty());
}

#[test]
fn the_span_hook_works_in_any_subscriber_stack() {
    // Layers over the tracer and a filter around it: the span is found through the tracer's
    // downcast hook, not by assuming the dispatch is a bare `Registry`.
    let (layer, _handle) = TracerConfig::new().enabled(false).build();
    let subscriber = tracing_subscriber::registry()
        .with(layer)
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink));
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("work");
        span.keep_trace();
        let context = span.datadog_context().expect("the span is tracked");
        assert_eq!(context.sampling_priority, Some(SamplingPriority::USER_KEEP));
        assert!(tracing::debug_span!("filtered").datadog_context().is_none());
    });
}
