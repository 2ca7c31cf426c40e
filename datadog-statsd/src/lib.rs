//! A DogStatsD client for services that report custom metrics to a Datadog Agent (or the
//! `serverless-init` sidecar on Cloud Run).
//!
//! It builds on [`cadence`]: code written against cadence's metric traits keeps working through
//! [`Statsd::cadence_sink`]. It adds what Datadog's official clients do and cadence leaves out:
//! configuration from the `DD_*` variables, unified service tags, transport-aware buffering,
//! client-side aggregation, events and service checks, and sends that never block or fail the
//! caller.
//!
//! ```
//! use datadog_statsd::{Event, Metric, ServiceCheck, Status};
//!
//! let statsd = datadog_statsd::global();
//! statsd.distribution("our-sample-app.sample-metric", 1.0);
//! statsd.distribution_with_tags("request.latency", 12.5, &["route:/users/{id}"]);
//! statsd.send(&Metric::count("page.views", 1).with_sample_rate(0.5));
//! statsd.event(&Event::new("Deployed", "version 42")).ok();
//! statsd.service_check(&ServiceCheck::new("db.up", Status::Ok)).ok();
//! statsd.flush();
//! ```
//!
//! The hot path allocates nothing once a context was seen: a per-thread cache maps a call's
//! name and tags to its sanitised context, and with aggregation (on by default) a call is one
//! lock and one push. [`Statsd::handle`] registers a context up front for the cheapest calls.
//!
//! # Configuration
//!
//! | Variable | Effect |
//! |---|---|
//! | `DD_DOGSTATSD_URL` | `udp://host:port`, `unix:///path`, `unixgram:///path`, `unixstream:///path`; wins over the two below |
//! | `DD_AGENT_HOST`, `DD_DOGSTATSD_PORT` | UDP host and port (default `127.0.0.1:8125`) |
//! | `DD_ENV`, `DD_SERVICE`, `DD_VERSION`, `DD_TAGS` | tags on every message |
//! | `DD_ENTITY_ID` | `dd.internal.entity_id:` tag |
//! | `DD_ORIGIN_DETECTION_ENABLED` | `false` stops sending the container id (`c:`); off anyway when `K_SERVICE` (Cloud Run) is set |
//! | `DD_EXTERNAL_ENV`, `DD_CARDINALITY` | `e:` and `card:` fields |
//! | `DD_DOGSTATSD_DISABLE_TELEMETRY` | `true` stops `datadog.dogstatsd.client.*` telemetry |

mod aggregation;
mod buffer;
mod client;
mod config;
mod context_cache;
mod event;
mod format;
mod global;
mod message;
mod origin;
mod redact;
mod service_check;
mod telemetry;
mod transport;

pub use cadence;
pub use client::{MetricHandle, Statsd, StatsdSink};
pub use config::{Profile, StatsdBuilder};
pub use event::{AlertType, Event, Priority};
pub use global::{global, set_global, shutdown_global};
pub use message::{Cardinality, Error, Metric, MetricType, MetricValue};
pub use service_check::{ServiceCheck, Status};
pub use telemetry::Stats;
pub use transport::Endpoint;
