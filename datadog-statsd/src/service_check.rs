//! Service checks (`_sc|name|status|…`).

use crate::format::{push_check_message, push_field, push_tags, push_u64};
use crate::message::Error;

/// The status of a service check ([`ServiceCheck::new`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// `0`
    Ok,
    /// `1`
    Warning,
    /// `2`
    Critical,
    /// `3`
    Unknown,
}

/// A service check result.
///
/// ```
/// use datadog_statsd::{ServiceCheck, Status};
///
/// let (statsd, capture) = datadog_statsd::Statsd::capturing();
/// let check = ServiceCheck::new("db.reachable", Status::Critical)
///     .message("connection timed out after 10s")
///     .tags(&["db:orders"]);
/// statsd.service_check(&check).unwrap();
/// assert_eq!(
///     capture.lines(),
///     ["_sc|db.reachable|2|#db:orders|m:connection timed out after 10s"]
/// );
/// ```
#[derive(Clone, Debug)]
pub struct ServiceCheck<'a> {
    name: &'a str,
    status: Status,
    timestamp: Option<u64>,
    hostname: Option<&'a str>,
    message: Option<&'a str>,
    tags: &'a [&'a str],
}

impl<'a> ServiceCheck<'a> {
    /// A check with a name (not empty) and a status.
    pub fn new(name: &'a str, status: Status) -> Self {
        ServiceCheck {
            name,
            status,
            timestamp: None,
            hostname: None,
            message: None,
            tags: &[],
        }
    }

    /// When it was checked (Unix seconds; `d:`).
    pub fn timestamp(mut self, unix_seconds: u64) -> Self {
        self.timestamp = Some(unix_seconds);
        self
    }

    /// The host it concerns (`h:`).
    pub fn hostname(mut self, hostname: &'a str) -> Self {
        self.hostname = Some(hostname);
        self
    }

    /// A message (`m:`, always the last field; newlines, `m:` and `|` are escaped).
    pub fn message(mut self, message: &'a str) -> Self {
        self.message = Some(message);
        self
    }

    /// Tags, in addition to the client's own.
    pub fn tags(mut self, tags: &'a [&'a str]) -> Self {
        self.tags = tags;
        self
    }

    /// Writes the message (without the line's `\n`).
    pub(crate) fn write(
        &self,
        buf: &mut Vec<u8>,
        constant_tags: &str,
        suffix: &[u8],
    ) -> Result<(), Error> {
        if self.name.is_empty() {
            return Err(Error::EmptyName);
        }
        buf.extend_from_slice(b"_sc|");
        push_field(buf, self.name);
        buf.push(b'|');
        buf.push(b'0' + self.status as u8);
        if let Some(timestamp) = self.timestamp {
            buf.extend_from_slice(b"|d:");
            push_u64(buf, timestamp);
        }
        if let Some(hostname) = self.hostname {
            buf.extend_from_slice(b"|h:");
            push_field(buf, hostname);
        }
        push_tags(buf, self.tags, constant_tags);
        buf.extend_from_slice(suffix);
        // Last, by convention: the Agent reads the message up to the end of the line.
        if let Some(message) = self.message {
            buf.extend_from_slice(b"|m:");
            push_check_message(buf, message);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_is_last_and_escaped() {
        let mut buf = Vec::new();
        ServiceCheck::new("svc.check", Status::Critical)
            .message("m:boom\nx")
            .tags(&["a:b"])
            .write(&mut buf, "", b"")
            .unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "_sc|svc.check|2|#a:b|m:m\\:boom\\nx"
        );
    }

    #[test]
    fn every_field_and_an_empty_name() {
        let mut buf = Vec::new();
        ServiceCheck::new("c", Status::Unknown)
            .timestamp(9)
            .hostname("web-1")
            .write(&mut buf, "env:x", b"|c:ci-1")
            .unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "_sc|c|3|d:9|h:web-1|#env:x|c:ci-1"
        );
        assert_eq!(
            ServiceCheck::new("", Status::Ok).write(&mut Vec::new(), "", b""),
            Err(Error::EmptyName)
        );
    }
}
