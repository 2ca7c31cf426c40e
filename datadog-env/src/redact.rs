//! Secrets out of messages: every URL in a warning loses its user info and its query string.
//!
//! An Agent URL may carry credentials (`http://user:password@host`) or an API key in its query
//! (`?api_key=...`); warnings quote the values they refuse, and stderr ends up in log
//! collectors, so each URL a message quotes is cut down to scheme, host, port and path. Every
//! diagnostic line goes through [`redact_urls`]; [`redact_value`] also hides the values of
//! variables that hold keys.

/// What replaces the user info and the query string of a URL.
const REDACTED: &str = "REDACTED";

/// `text` with the user info (`user:password@`), query string and fragment of every URL in it
/// replaced by `REDACTED`.
///
/// ```
/// use datadog_env::redact_urls;
///
/// assert_eq!(
///     redact_urls("agent at http://user:secret@agent:8126/path?token=x refused"),
///     "agent at http://REDACTED@agent:8126/path?REDACTED refused"
/// );
/// ```
pub fn redact_urls(text: &str) -> String {
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

/// `value` of `variable` as it may be printed: `REDACTED` for keys and secrets (`*API_KEY*`,
/// `*APP_KEY*`, `*SECRET*`, `*TOKEN*`, `*PASSWORD*`), URLs without their user information and
/// query string, a bare `user@host` without the user; anything else as is.
pub fn redact_value(variable: &str, value: &str) -> String {
    let upper = variable.to_ascii_uppercase();
    if ["API_KEY", "APP_KEY", "SECRET", "TOKEN", "PASSWORD"]
        .iter()
        .any(|secret| upper.contains(secret))
    {
        return REDACTED.to_owned();
    }
    if !value.contains("://")
        && let Some((_, host)) = value.rsplit_once('@')
    {
        return format!("{REDACTED}@{host}");
    }
    redact_urls(value)
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

    #[test]
    fn secrets_never_show() {
        assert_eq!(redact_value("DD_API_KEY", "abc123"), "REDACTED");
        assert_eq!(redact_value("dd_app_key", "abc123"), "REDACTED");
        assert_eq!(
            redact_value("DD_TRACE_AGENT_URL", "http://u:p@h:1?k=v"),
            "http://REDACTED@h:1?REDACTED"
        );
        assert_eq!(redact_value("DD_AGENT_HOST", "user@host"), "REDACTED@host");
        assert_eq!(redact_value("DD_ENV", "prod"), "prod");
    }
}
