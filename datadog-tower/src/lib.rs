#![doc = include_str!("../README.md")]

pub mod propagation;

pub mod client;
pub mod client_ip;
pub mod cloud_trace;
pub mod config;
pub mod grpc;
pub mod header_tags;
pub mod http_tags;
mod inject;
pub mod query_obfuscation;
#[cfg(feature = "reqwest")]
pub mod reqwest_middleware;
pub mod server;
mod span_callsite;

pub use client::DatadogClientLayer;
pub use inject::{inject_current, inject_current_with};
pub use server::DatadogServerLayer;
