//! A DogStatsD client for services that report custom metrics to a Datadog Agent (or the
//! `serverless-init` sidecar on Cloud Run).
//!
//! It builds on [`cadence`]: code written against cadence's metric traits keeps working. It adds
//! what Datadog's official clients do and cadence leaves out: configuration from the `DD_*`
//! variables, unified service tags, transport-aware buffering, client-side aggregation, events and
//! service checks, and sends that never block or fail the caller.
//!
//! ```
//! use cadence::{NopMetricSink, StatsdClient};
//!
//! // cadence's own client keeps working alongside this crate.
//! let client = StatsdClient::from_sink("our-sample-app", NopMetricSink);
//! # let _ = client;
//! ```

pub use cadence;
