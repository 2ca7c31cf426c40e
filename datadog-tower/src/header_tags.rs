//! `DD_TRACE_HEADER_TAGS`: request and response headers copied into span tags.
//!
//! The value is a comma-separated list of `header[:tag]` items. Header names match
//! case-insensitively. Without a tag name, request headers become
//! `http.request.headers.<header>` and response headers `http.response.headers.<header>`, the
//! header name lowercased with every character other than letters, digits, `-` and `_` replaced by
//! `_`. With a tag name, both directions use it. Items that cannot be used are reported once and
//! skipped.

use http::HeaderMap;
use http::header::HeaderName;

use crate::config::warn_once;

/// One configured header.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeaderTag {
    /// The header (lowercase).
    pub header: HeaderName,
    /// The tag set from the request header.
    pub request_tag: String,
    /// The tag set from the response header.
    pub response_tag: String,
}

/// The headers tagged on request spans.
///
/// ```
/// use datadog_tower::header_tags::HeaderTags;
///
/// let tags = HeaderTags::parse("X-Request-Id, user-agent:http.agent ,Content.Type");
/// let names: Vec<_> = tags.iter().map(|t| (t.request_tag.as_str(), t.response_tag.as_str())).collect();
/// assert_eq!(names, [
///     ("http.request.headers.x-request-id", "http.response.headers.x-request-id"),
///     ("http.agent", "http.agent"),
///     ("http.request.headers.content_type", "http.response.headers.content_type"),
/// ]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderTags {
    tags: Vec<HeaderTag>,
}

impl HeaderTags {
    /// Parses a `DD_TRACE_HEADER_TAGS` value; unusable items are reported once and skipped.
    pub fn parse(text: &str) -> Self {
        let mut tags = HeaderTags::default();
        for item in text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            // The tag name may not contain `:`, the header name never does: split at the last one.
            let (header, tag) = match item.rsplit_once(':') {
                Some((header, tag)) => (header.trim(), Some(tag.trim())),
                None => (item, None),
            };
            if tag == Some("") {
                warn_once(
                    "DD_TRACE_HEADER_TAGS",
                    &format!("`{item}` has an empty tag name; skipping it"),
                );
                continue;
            }
            let Ok(name) = HeaderName::from_bytes(header.to_ascii_lowercase().as_bytes()) else {
                warn_once(
                    "DD_TRACE_HEADER_TAGS",
                    &format!("`{item}` does not start with a valid header name; skipping it"),
                );
                continue;
            };
            tags = tags.with(name, tag);
        }
        tags
    }

    /// Adds `header`, tagged as `tag` or under the default names.
    pub fn with(mut self, header: HeaderName, tag: Option<&str>) -> Self {
        let (request_tag, response_tag) = if let Some(tag) = tag {
            (tag.to_owned(), tag.to_owned())
        } else {
            let normalized = normalize(header.as_str());
            (
                format!("http.request.headers.{normalized}"),
                format!("http.response.headers.{normalized}"),
            )
        };
        self.tags.retain(|existing| existing.header != header);
        self.tags.push(HeaderTag {
            header,
            request_tag,
            response_tag,
        });
        self
    }

    /// The configured headers, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &HeaderTag> {
        self.tags.iter()
    }

    /// Whether no header is configured.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// Every tag name (request and response), each once.
    pub(crate) fn tag_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for tag in &self.tags {
            for name in [&tag.request_tag, &tag.response_tag] {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        names
    }
}

/// The tag value of `header` in `headers`: all values joined by `,`.
pub(crate) fn header_value(headers: &HeaderMap, header: &HeaderName) -> Option<String> {
    let mut values = headers
        .get_all(header)
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()));
    let mut joined = values.next()?.into_owned();
    for value in values {
        joined.push(',');
        joined.push_str(&value);
    }
    Some(joined)
}

fn normalize(header: &str) -> String {
    header
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_items_are_skipped() {
        let tags = HeaderTags::parse(":leading, trailing: , bad header, ok");
        let headers: Vec<_> = tags.iter().map(|t| t.header.as_str()).collect();
        assert_eq!(headers, ["ok"]);
    }

    #[test]
    fn a_repeated_header_keeps_the_last_tag() {
        let tags = HeaderTags::parse("x-a:first,X-A:second");
        assert_eq!(tags.iter().len(), 1);
        assert_eq!(tags.iter().next().unwrap().request_tag, "second");
    }

    #[test]
    fn multiple_values_are_joined() {
        let mut headers = HeaderMap::new();
        headers.append("x-a", "1".parse().unwrap());
        headers.append("x-a", "2".parse().unwrap());
        let name = HeaderName::from_static("x-a");
        assert_eq!(header_value(&headers, &name).as_deref(), Some("1,2"));
        assert_eq!(header_value(&HeaderMap::new(), &name), None);
    }
}
