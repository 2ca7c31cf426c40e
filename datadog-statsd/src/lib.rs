#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod aggregation;
mod buffer;
mod cadence_sink;
mod capture;
mod client;
mod config;
mod context_cache;
mod event;
mod format;
mod global;
mod message;
mod origin;
mod pipeline;
mod service_check;
mod telemetry;
mod transport;

pub use cadence;
pub use cadence_sink::StatsdSink;
pub use capture::Capture;
pub use client::{MetricHandle, Statsd};
pub use config::{Profile, StatsdBuilder};
pub use event::{AlertType, Event, Priority};
pub use global::{global, set_global, shutdown_global};
pub use message::{Cardinality, Error, Metric, MetricType};
pub use service_check::{ServiceCheck, Status};
pub use telemetry::Stats;
pub use transport::Endpoint;
