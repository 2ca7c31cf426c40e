//! The hand-off between the tracer layer, the log layer and the tower layers.
//!
//! Two pieces of data cross those boundaries:
//!
//! - [`CorrelationIds`]: what a log line needs of the span it was written in. The log layer reads
//!   them from the innermost span in scope (`span_ids`): from the tracer layer's own record of
//!   the span (computed when the line is written, so `sampled` is always current), or from a
//!   `CorrelationIds` that another tracer put in the span's extensions.
//! - the *detached context*: when a filter (`RUST_LOG`) disables a span that carries a trace (the
//!   tower server span, a queue consumer span), there is no span to hold the trace. The code that
//!   would have entered that span runs its work inside [`with_detached`] instead; the tracer makes
//!   new root spans children of it, and the log layer stamps events outside any tracked span with it.
//!   It is a thread-local set only while the work runs (for async code: during each poll), so it
//!   never leaks into unrelated work on the same thread.
//!
//! ```
//! use std::sync::Arc;
//! use datadog_subscriber::context::{SpanContext, SpanId, TraceId};
//! use datadog_subscriber::correlation::{detached, with_detached};
//!
//! let remote = Arc::new(SpanContext::new(TraceId::from_u128(5), SpanId::new(6)));
//! let seen = with_detached(Some(remote.clone()), || detached());
//! assert_eq!(seen.as_deref(), Some(&*remote));
//! assert!(detached().is_none());
//! ```

use std::cell::RefCell;
use std::sync::Arc;

use tracing_subscriber::registry::Extensions;

use crate::context::{CloudTrace, SpanContext, SpanId, TraceId};
use crate::tracer::SpanRecord;

/// The ids a log line is stamped with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CorrelationIds {
    /// The span's trace.
    pub trace_id: TraceId,
    /// The span itself.
    pub span_id: SpanId,
    /// Whether the trace is sampled (kept), as far as known when the line is written.
    pub sampled: bool,
    /// The platform's trace of the request (Google's frontend), when the request carried one.
    pub cloud_trace: Option<CloudTrace>,
}

impl CorrelationIds {
    /// The ids of a context (a detached context, or one the tracer hands out).
    pub fn of(context: &SpanContext) -> Self {
        CorrelationIds {
            trace_id: context.trace_id,
            span_id: context.span_id,
            sampled: context.is_sampled().unwrap_or(false),
            cloud_trace: context.cloud_trace,
        }
    }
}

/// The ids of a span from its extensions: the tracer layer's record of it, else a
/// [`CorrelationIds`] placed there by another tracer.
pub(crate) fn span_ids(extensions: &Extensions<'_>) -> Option<CorrelationIds> {
    match extensions.get::<SpanRecord>() {
        Some(record) => Some(CorrelationIds {
            trace_id: record.trace.trace_id,
            span_id: record.fields.span_id,
            sampled: record.trace.sampled(),
            cloud_trace: record.trace.cloud_trace,
        }),
        None => extensions.get::<CorrelationIds>().copied(),
    }
}

thread_local! {
    static DETACHED: RefCell<Option<Arc<SpanContext>>> = const { RefCell::new(None) };
}

/// Runs `work` with `context` as the detached context of this thread, then restores the previous
/// one (also when `work` panics).
pub fn with_detached<R>(context: Option<Arc<SpanContext>>, work: impl FnOnce() -> R) -> R {
    struct Restore(Option<Arc<SpanContext>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            let _ = DETACHED.try_with(|slot| *slot.borrow_mut() = previous);
        }
    }
    let previous = DETACHED
        .try_with(|slot| slot.replace(context))
        .ok()
        .flatten();
    let _restore = Restore(previous);
    work()
}

/// The detached context of this thread, if work is running inside [`with_detached`].
pub fn detached() -> Option<Arc<SpanContext>> {
    DETACHED
        .try_with(|slot| slot.borrow().clone())
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_detached_contexts_restore_the_outer_one() {
        let outer = Arc::new(SpanContext::new(TraceId::from_u128(1), SpanId::new(1)));
        let inner = Arc::new(SpanContext::new(TraceId::from_u128(2), SpanId::new(2)));
        with_detached(Some(outer.clone()), || {
            with_detached(Some(inner.clone()), || {
                assert_eq!(detached().unwrap().trace_id, inner.trace_id);
            });
            assert_eq!(detached().unwrap().trace_id, outer.trace_id);
        });
        assert!(detached().is_none());
    }

    #[test]
    fn a_panic_inside_restores_the_previous_context() {
        let context = Arc::new(SpanContext::new(TraceId::from_u128(3), SpanId::new(3)));
        let result = std::panic::catch_unwind(|| with_detached(Some(context), || panic!("boom")));
        assert!(result.is_err());
        assert!(detached().is_none());
    }

    #[test]
    fn correlation_ids_follow_the_sampling_decision() {
        let mut context = SpanContext::new(TraceId::from_u128(9), SpanId::new(10));
        assert!(!CorrelationIds::of(&context).sampled);
        context.sampling_priority = Some(crate::context::SamplingPriority::AUTO_KEEP);
        assert!(CorrelationIds::of(&context).sampled);
    }
}
