//! Secrets out of messages: every URL in a warning loses its user info and its query string.
//!
//! A DogStatsD URL may carry credentials (`udp://user:password@host`) or a key in its query;
//! warnings quote the values they refuse, and logs end up in log collectors, so each URL a
//! message quotes is cut down to scheme, host, port and path. (The tracer has the same helper:
//! neither crate depends on the other.)

/// What replaces the user info and the query string of a URL.
const REDACTED: &str = "REDACTED";

/// `text` with the user info (`user:password@`), query string and fragment of every URL in it
/// replaced by `REDACTED`.
pub(crate) fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, from_separator) = rest.split_at(at);
        out.push_str(before);
        let url_end = from_separator[3..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .map_or(from_separator.len(), |end| end + 3);
        out.push_str("://");
        out.push_str(&redact_after_scheme(&from_separator[3..url_end]));
        rest = &from_separator[url_end..];
    }
    out.push_str(rest);
    out
}

/// Redacts `authority/path?query#fragment` (what follows `scheme://`).
fn redact_after_scheme(url: &str) -> String {
    let authority_end = url.find(['/', '?', '#']).unwrap_or(url.len());
    let (authority, tail) = url.split_at(authority_end);
    let mut out = String::with_capacity(url.len());
    match authority.rfind('@') {
        Some(at) => {
            out.push_str(REDACTED);
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
    out.push_str(&tail[..path_end]);
    if path_end < tail.len() {
        out.push(tail.as_bytes()[path_end] as char);
        out.push_str(REDACTED);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_and_queries_are_redacted_everywhere_in_a_message() {
        assert_eq!(
            redact_urls(
                "DD_TRACE_AGENT_URL=\"http://user:s3cret@127.0.0.1:8126/x?api_key=abc#f\" is bad"
            ),
            "DD_TRACE_AGENT_URL=\"http://REDACTED@127.0.0.1:8126/x?REDACTED\" is bad"
        );
        assert_eq!(
            redact_urls("a http://h:1/ and unix:///var/run/apm.sock?k=v end"),
            "a http://h:1/ and unix:///var/run/apm.sock?REDACTED end"
        );
        assert_eq!(redact_urls("no url here"), "no url here");
        assert_eq!(
            redact_urls("udp://:pw@[::1]:8125"),
            "udp://REDACTED@[::1]:8125"
        );
        assert_eq!(redact_urls("x://@@@"), "x://REDACTED@");
        assert_eq!(redact_urls("://"), "://");
    }

    #[test]
    fn no_input_makes_it_panic() {
        for text in [
            "http://",
            "http://?",
            "http://#",
            "é://é@é?é",
            "a://b://c@d",
        ] {
            let redacted = redact_urls(text);
            assert!(!redacted.contains("é@"), "{text:?} -> {redacted:?}");
        }
    }
}
