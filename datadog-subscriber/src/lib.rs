#![doc = include_str!("../README.md")]

pub mod context;
pub mod correlation;
mod init;
pub mod logs;
#[cfg(feature = "runtime-metrics")]
pub mod runtime_metrics;
mod startup_report;
pub mod tracer;

pub use init::{Builder, DEFAULT_SHUTDOWN_TIMEOUT, DatadogGuard, ShutdownReport, builder, init};
pub use tracer::{DatadogSpanExt, current_context};
