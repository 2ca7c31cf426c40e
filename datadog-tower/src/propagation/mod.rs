//! Trace-context propagation exactly as Datadog SDKs do it.
//!
//! A [`Propagator`] reads the remote parent of a request from its headers and writes the current
//! span's context into outgoing headers, in the styles configured by
//! `DD_TRACE_PROPAGATION_STYLE[_EXTRACT|_INJECT]` (or `OTEL_PROPAGATORS`, or the builder):
//!
//! | style | headers |
//! |---|---|
//! | `datadog` | `x-datadog-trace-id`, `-parent-id`, `-sampling-priority`, `-origin`, `-tags` |
//! | `tracecontext` | `traceparent`, `tracestate` (with the `dd=` member) |
//! | `b3multi` | `x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled`, `x-b3-flags` |
//! | `b3` | `b3` (single header) |
//! | `baggage` | `baggage` |
//! | `none` | nothing (only on its own) |
//!
//! Extraction runs the styles in order: the first valid context wins, contexts of other traces
//! become span links, a W3C context of the same trace contributes its `tracestate` vendors and
//! parent id. Carriers are [`http::HeaderMap`] or any string map (message headers), through
//! [`Extractor`] and [`Injector`]. Bad header bytes never panic: the style yields nothing.

/// Warns the first time a call site is reached (bad input repeats on every request).
macro_rules! warn_once {
    ($($arg:tt)*) => {{
        static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if !WARNED.load(std::sync::atomic::Ordering::Relaxed)
            && !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            datadog_env::warn(&format!($($arg)*));
        }
    }};
}

mod b3;
mod b3multi;
mod baggage;
mod carrier;
mod config;
mod datadog;
mod names;
mod number;
#[cfg(feature = "opentelemetry")]
mod opentelemetry;
mod propagator;
mod text;
mod tracecontext;

pub(crate) use carrier::ScannedHeaders;
pub use carrier::{Extractor, Injector};
pub use config::{DEFAULT_STYLES, ExtractBehavior, PropagationConfig, PropagatorBuilder, Style};
pub use propagator::Propagator;
pub(crate) use tracecontext::parse_traceparent;
