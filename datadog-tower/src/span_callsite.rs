//! Request spans whose field names are known only at start-up.
//!
//! `tracing` spans can only record fields their callsite declared, and the `span!` macro declares
//! them at compile time. The header tags (`DD_TRACE_HEADER_TAGS`) and baggage tags
//! (`DD_TRACE_BAGGAGE_TAG_KEYS`) a request span carries come from configuration, so the layers
//! build one callsite per distinct set of field names, register it with `tracing` like a macro
//! callsite (filters and interest caching work as usual) and keep it for the life of the process.
//! Callsites are interned: building many layers with the same settings creates one callsite.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Value};
use tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
use tracing::{Level, Metadata, Span};
use tracing_core::callsite::{Callsite, Identifier};
use tracing_core::field::FieldSet;
use tracing_core::{Interest, Kind};

/// Distinct callsites a process may create; beyond this the last one is reused (and its extra
/// fields are simply not recorded), so misuse cannot leak memory without bound.
const MAX_CALLSITES: usize = 256;

const INTEREST_NEVER: u8 = 0;
const INTEREST_SOMETIMES: u8 = 1;
const INTEREST_ALWAYS: u8 = 2;

struct DynamicCallsite {
    metadata: OnceLock<Metadata<'static>>,
    interest: AtomicU8,
}

impl Callsite for DynamicCallsite {
    fn set_interest(&self, interest: Interest) {
        let value = if interest.is_never() {
            INTEREST_NEVER
        } else if interest.is_always() {
            INTEREST_ALWAYS
        } else {
            INTEREST_SOMETIMES
        };
        self.interest.store(value, Ordering::Relaxed);
    }

    fn metadata(&self) -> &Metadata<'_> {
        self.metadata
            .get()
            .expect("the metadata is set before the callsite is registered")
    }
}

#[derive(PartialEq, Eq)]
struct Key {
    name: &'static str,
    target: &'static str,
    level: Level,
    fields: Vec<String>,
}

/// A registered span callsite with its fields resolved, ready to open spans.
#[derive(Clone, Debug)]
pub(crate) struct SpanTemplate {
    metadata: &'static Metadata<'static>,
    callsite: &'static DynamicCallsite,
}

impl std::fmt::Debug for DynamicCallsite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamicCallsite")
            .field("metadata", &self.metadata.get())
            .finish_non_exhaustive()
    }
}

impl SpanTemplate {
    /// The callsite for a span `name` at `level` with `fields`, created and registered on first use.
    pub(crate) fn new(
        name: &'static str,
        target: &'static str,
        level: Level,
        fields: Vec<String>,
    ) -> Self {
        static REGISTRY: OnceLock<Mutex<Vec<(Key, &'static DynamicCallsite)>>> = OnceLock::new();
        let key = Key {
            name,
            target,
            level,
            fields,
        };
        let mut registry = REGISTRY
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, callsite)) = registry.iter().find(|(existing, _)| *existing == key) {
            return Self::from_callsite(callsite);
        }
        if registry.len() >= MAX_CALLSITES
            && let Some((_, callsite)) = registry.last()
        {
            return Self::from_callsite(callsite);
        }
        let names: &'static [&'static str] = Box::leak(
            key.fields
                .iter()
                .map(|name| &*Box::leak(name.clone().into_boxed_str()))
                .collect::<Vec<&'static str>>()
                .into_boxed_slice(),
        );
        let callsite: &'static DynamicCallsite = Box::leak(Box::new(DynamicCallsite {
            metadata: OnceLock::new(),
            interest: AtomicU8::new(INTEREST_SOMETIMES),
        }));
        let _ = callsite.metadata.set(Metadata::new(
            name,
            target,
            level,
            Some(file!()),
            Some(line!()),
            Some(module_path!()),
            FieldSet::new(names, Identifier(callsite)),
            Kind::SPAN,
        ));
        tracing_core::callsite::register(callsite);
        registry.push((key, callsite));
        Self::from_callsite(callsite)
    }

    fn from_callsite(callsite: &'static DynamicCallsite) -> Self {
        let metadata = callsite
            .metadata
            .get()
            .expect("the metadata is set before the callsite is registered");
        SpanTemplate { metadata, callsite }
    }

    /// The field declared at `index` (the position in the names passed to [`new`](Self::new)).
    pub(crate) fn field(&self, index: usize) -> Option<Field> {
        self.metadata.fields().iter().nth(index)
    }

    /// The field called `name`.
    pub(crate) fn field_named(&self, name: &str) -> Option<Field> {
        self.metadata.fields().field(name)
    }

    /// Opens a span with `values`, or returns a disabled span when the subscriber's filters leave
    /// it out (the same checks the `span!` macro makes).
    pub(crate) fn open<const N: usize>(&self, values: [(&Field, Option<&dyn Value>); N]) -> Span {
        let level = *self.metadata.level();
        if level > STATIC_MAX_LEVEL || level > LevelFilter::current() {
            return Span::none();
        }
        let interest = self.callsite.interest.load(Ordering::Relaxed);
        if interest == INTEREST_NEVER {
            return Span::none();
        }
        tracing::dispatcher::get_default(|dispatch| {
            if interest == INTEREST_ALWAYS || dispatch.enabled(self.metadata) {
                Span::new_with(
                    self.metadata,
                    &self.metadata.fields().value_set(&values),
                    dispatch,
                )
            } else {
                Span::none()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_settings_share_one_callsite() {
        let a = SpanTemplate::new("t", "datadog_tower::test", Level::INFO, vec!["x".into()]);
        let b = SpanTemplate::new("t", "datadog_tower::test", Level::INFO, vec!["x".into()]);
        let c = SpanTemplate::new("t", "datadog_tower::test", Level::INFO, vec!["y".into()]);
        assert!(std::ptr::eq(a.metadata, b.metadata));
        assert!(!std::ptr::eq(a.metadata, c.metadata));
        assert_eq!(c.field(0).unwrap().name(), "y");
        assert!(c.field_named("x").is_none());
    }
}
