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
