//! Events (`_e{title_len,text_len}:title|text|…`).

use crate::format::{push_event_text, push_field, push_tags, push_u64};
use crate::message::Error;

/// How important an event is ([`Event::priority`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Priority {
    /// `normal` (the Agent's default).
    Normal,
    /// `low`
    Low,
}

/// The kind of an event ([`Event::alert_type`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AlertType {
    /// `error`
    Error,
    /// `warning`
    Warning,
    /// `info` (the Agent's default).
    Info,
    /// `success`
    Success,
}

/// An event for the Datadog event stream.
///
/// ```
/// use datadog_statsd::{AlertType, Event};
///
/// let (statsd, capture) = datadog_statsd::Statsd::capturing();
/// let event = Event::new("Deploy finished", "version 42\nall green")
///     .alert_type(AlertType::Success)
///     .tags(&["team:web"]);
/// statsd.event(&event).unwrap();
/// assert_eq!(
///     capture.lines(),
///     ["_e{15,21}:Deploy finished|version 42\\nall green|t:success|#team:web"]
/// );
/// ```
#[derive(Clone, Debug)]
pub struct Event<'a> {
    title: &'a str,
    text: &'a str,
    timestamp: Option<u64>,
    hostname: Option<&'a str>,
    aggregation_key: Option<&'a str>,
    priority: Option<Priority>,
    source_type: Option<&'a str>,
    alert_type: Option<AlertType>,
    tags: &'a [&'a str],
}

impl<'a> Event<'a> {
    /// An event with a title (not empty) and a text (newlines allowed).
    pub fn new(title: &'a str, text: &'a str) -> Self {
        Event {
            title,
            text,
            timestamp: None,
            hostname: None,
            aggregation_key: None,
            priority: None,
            source_type: None,
            alert_type: None,
            tags: &[],
        }
    }

    /// When it happened (Unix seconds; `d:`).
    pub fn timestamp(mut self, unix_seconds: u64) -> Self {
        self.timestamp = Some(unix_seconds);
        self
    }

    /// The host it concerns (`h:`).
    pub fn hostname(mut self, hostname: &'a str) -> Self {
        self.hostname = Some(hostname);
        self
    }

    /// Groups events in the event stream (`k:`).
    pub fn aggregation_key(mut self, key: &'a str) -> Self {
        self.aggregation_key = Some(key);
        self
    }

    /// `p:normal` or `p:low`.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = Some(priority);
        self
    }

    /// The source type name (`s:`).
    pub fn source_type(mut self, source_type: &'a str) -> Self {
        self.source_type = Some(source_type);
        self
    }

    /// `t:error`, `t:warning`, `t:info` or `t:success`.
    pub fn alert_type(mut self, alert_type: AlertType) -> Self {
        self.alert_type = Some(alert_type);
        self
    }

    /// Tags, in addition to the client's own.
    pub fn tags(mut self, tags: &'a [&'a str]) -> Self {
        self.tags = tags;
        self
    }

    /// Writes the message (without the line's `\n`), lengths counted in UTF-8 bytes after
    /// escaping, as the Agent reads them.
    pub(crate) fn write(
        &self,
        buf: &mut Vec<u8>,
        constant_tags: &str,
        suffix: &[u8],
    ) -> Result<(), Error> {
        if self.title.is_empty() {
            return Err(Error::EmptyTitle);
        }
        let mut title = Vec::with_capacity(self.title.len());
        push_event_text(&mut title, self.title);
        let mut text = Vec::with_capacity(self.text.len());
        push_event_text(&mut text, self.text);
        buf.extend_from_slice(b"_e{");
        push_u64(buf, title.len() as u64);
        buf.push(b',');
        push_u64(buf, text.len() as u64);
        buf.extend_from_slice(b"}:");
        buf.extend_from_slice(&title);
        buf.push(b'|');
        buf.extend_from_slice(&text);
        if let Some(timestamp) = self.timestamp {
            buf.extend_from_slice(b"|d:");
            push_u64(buf, timestamp);
        }
        let mut field = |prefix: &[u8], value: Option<&str>| {
            if let Some(value) = value {
                buf.extend_from_slice(prefix);
                push_field(buf, value);
            }
        };
        field(b"|h:", self.hostname);
        field(b"|k:", self.aggregation_key);
        field(
            b"|p:",
            self.priority.map(|p| match p {
                Priority::Normal => "normal",
                Priority::Low => "low",
            }),
        );
        field(b"|s:", self.source_type);
        field(
            b"|t:",
            self.alert_type.map(|t| match t {
                AlertType::Error => "error",
                AlertType::Warning => "warning",
                AlertType::Info => "info",
                AlertType::Success => "success",
            }),
        );
        push_tags(buf, self.tags, constant_tags);
        buf.extend_from_slice(suffix);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_utf8_bytes_after_escaping() {
        let mut buf = Vec::new();
        Event::new("Tïtle", "line1\nline2")
            .alert_type(AlertType::Warning)
            .tags(&["a:b"])
            .write(&mut buf, "", b"")
            .unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "_e{6,12}:Tïtle|line1\\nline2|t:warning|#a:b"
        );
    }

    #[test]
    fn every_field_and_an_empty_title() {
        let mut buf = Vec::new();
        Event::new("t", "")
            .timestamp(7)
            .hostname("h|x")
            .aggregation_key("k")
            .priority(Priority::Low)
            .source_type("s")
            .alert_type(AlertType::Error)
            .write(&mut buf, "env:x", b"|c:ci-1")
            .unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "_e{1,0}:t||d:7|h:h_x|k:k|p:low|s:s|t:error|#env:x|c:ci-1"
        );
        assert_eq!(
            Event::new("", "x").write(&mut Vec::new(), "", b""),
            Err(Error::EmptyTitle)
        );
    }
}
