//! Where finished datagrams go, and what the client counts and says about their delivery.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::capture::CapturedLines;
use crate::telemetry::Counters;
use crate::transport::{Dropped, Transport};

/// A datagram's destination.
pub(crate) enum Destination {
    /// A socket to the Agent.
    Socket(Transport),
    /// The lines of every datagram, kept for a [`crate::Capture`] to read.
    Capture(Arc<CapturedLines>),
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Socket(transport) => transport.endpoint().fmt(f),
            Destination::Capture(_) => f.write_str("capture"),
        }
    }
}

/// The destination and the delivery counters.
pub(crate) struct Link {
    destination: Destination,
    pub(crate) counters: Counters,
    /// The destination could not be reached and that was logged; cleared by the next datagram
    /// that goes out, so a later outage is logged again.
    unreachable_warned: AtomicBool,
}

impl Link {
    pub(crate) fn new(destination: Destination) -> Link {
        Link {
            destination,
            counters: Counters::default(),
            unreachable_warned: AtomicBool::new(false),
        }
    }

    pub(crate) fn destination(&self) -> &Destination {
        &self.destination
    }

    /// Sends one datagram, counting the outcome.
    pub(crate) fn transmit(&self, datagram: &[u8]) {
        let transport = match &self.destination {
            Destination::Socket(transport) => transport,
            Destination::Capture(lines) => {
                lines.receive(datagram);
                self.counters.sent(datagram.len());
                return;
            }
        };
        match transport.send(datagram) {
            Ok(()) => {
                self.counters.sent(datagram.len());
                if self.unreachable_warned.load(Ordering::Relaxed) {
                    self.unreachable_warned.store(false, Ordering::Relaxed);
                }
            }
            Err(failure) => {
                match failure.kind {
                    Dropped::Unreachable => self.counters.dropped_unreachable(datagram.len()),
                    Dropped::Full | Dropped::Failed => {
                        self.counters.dropped_writer(datagram.len());
                    }
                }
                // A full queue is the receiver being busy (counted); anything else means it
                // cannot be reached: say so once, with the error.
                if failure.kind != Dropped::Full
                    && !self.unreachable_warned.swap(true, Ordering::Relaxed)
                {
                    datadog_env::warn(&format!(
                        "cannot send DogStatsD datagrams to {} ({}); they are dropped and counted until it can be reached",
                        transport.endpoint(),
                        failure.error
                    ));
                }
            }
        }
    }

    /// Re-opens a socket that could not be opened yet (see [`Transport::maintain`]).
    pub(crate) fn maintain(&self) {
        if let Destination::Socket(transport) = &self.destination {
            transport.maintain();
        }
    }
}
