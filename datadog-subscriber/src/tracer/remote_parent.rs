//! The remote context new local roots continue: set by the code that extracted it (the tower
//! server layer), read by the tracer when a span without a local parent opens.
//!
//! There is one way to continue a trace: open the span inside [`with_remote_parent`]. The tracer
//! applies the whole continuation once, when the span opens: trace id, parent id, sampling
//! priority, origin, `_dd.p.*` tags, tracestate, baggage and its `baggage.<key>` tags, span links,
//! `_dd.parent_id` and `_dd.propagation_error`.
//!
//! The same context covers the case where no span holds the trace: when a filter (`RUST_LOG`)
//! disables the request span, the work of the request runs inside `with_remote_parent`, so its
//! spans still continue the caller's trace and its log lines carry the caller's ids. The context
//! is a thread-local set only while the closure runs (for async code: during each poll), so it
//! never leaks into unrelated work on the same thread.

use std::cell::RefCell;
use std::sync::Arc;

use crate::context::SpanContext;

thread_local! {
    static REMOTE_PARENT: RefCell<Option<Arc<SpanContext>>> = const { RefCell::new(None) };
}

/// Runs `work` with `context` as the parent of the spans it opens without a local parent, then
/// restores the previous context (also when `work` panics). `None` runs `work` with no remote
/// parent.
///
/// ```
/// use std::sync::Arc;
/// use datadog_subscriber::context::{SamplingPriority, SpanContext, SpanId, TraceId};
/// use datadog_subscriber::tracer::{TracerConfig, with_remote_parent};
/// use datadog_subscriber::DatadogSpanExt;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let (layer, _handle) = TracerConfig::new().enabled(false).build();
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
///     let mut remote = SpanContext::new(TraceId::from_u128(7), SpanId::new(8));
///     remote.sampling_priority = Some(SamplingPriority::USER_KEEP);
///     let span = with_remote_parent(Some(Arc::new(remote)), || tracing::info_span!("http.request"));
///     let context = span.datadog_context().unwrap();
///     assert_eq!(context.trace_id, TraceId::from_u128(7));
///     assert_ne!(context.span_id, SpanId::new(8));
///     assert_eq!(context.sampling_priority, Some(SamplingPriority::USER_KEEP));
/// });
/// ```
pub fn with_remote_parent<R>(context: Option<Arc<SpanContext>>, work: impl FnOnce() -> R) -> R {
    struct Restore(Option<Arc<SpanContext>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            let _ = REMOTE_PARENT.try_with(|slot| *slot.borrow_mut() = previous);
        }
    }
    let previous = REMOTE_PARENT
        .try_with(|slot| slot.replace(context))
        .ok()
        .flatten();
    let _restore = Restore(previous);
    work()
}

/// The remote context of this thread, if work is running inside [`with_remote_parent`].
pub(crate) fn remote_parent() -> Option<Arc<SpanContext>> {
    REMOTE_PARENT
        .try_with(|slot| slot.borrow().clone())
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{SpanId, TraceId};

    #[test]
    fn nested_contexts_restore_the_outer_one() {
        let outer = Arc::new(SpanContext::new(TraceId::from_u128(1), SpanId::new(1)));
        let inner = Arc::new(SpanContext::new(TraceId::from_u128(2), SpanId::new(2)));
        with_remote_parent(Some(outer.clone()), || {
            with_remote_parent(Some(inner.clone()), || {
                assert_eq!(remote_parent().unwrap().trace_id, inner.trace_id);
            });
            assert_eq!(remote_parent().unwrap().trace_id, outer.trace_id);
        });
        assert!(remote_parent().is_none());
    }

    #[test]
    fn a_panic_inside_restores_the_previous_context() {
        let context = Arc::new(SpanContext::new(TraceId::from_u128(3), SpanId::new(3)));
        let result =
            std::panic::catch_unwind(|| with_remote_parent(Some(context), || panic!("boom")));
        assert!(result.is_err());
        assert!(remote_parent().is_none());
    }
}
