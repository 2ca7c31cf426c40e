//! Query-string obfuscation for `http.url`, as Datadog's SDKs do it: every match of a regular
//! expression is replaced by `<redacted>`.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use regex::Regex;

/// The pattern Datadog's SDKs (dd-trace-go, dd-trace-php, dd-trace-java, dd-trace-js) use when
/// `DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP` is unset: credentials in `key=value` and JSON-ish
/// forms, bearer tokens, GitHub tokens, JWTs, private keys and ssh keys.
pub const DATADOG_DEFAULT_PATTERN: &str = concat!(
    r"(?i)(?:p(?:ass)?w(?:or)?d|pass(?:_?phrase)?|secret|(?:api_?|private_?|public_?|access_?|secret_?)key(?:_?id)?|token|consumer_?(?:id|key|secret)|sign(?:ed|ature)?|auth(?:entication|orization)?)",
    r#"(?:(?:\s|%20)*(?:=|%3D)[^&]+|(?:"|%22)(?:\s|%20)*(?::|%3A)(?:\s|%20)*(?:"|%22)(?:%2[^2]|%[^2]|[^"%])+(?:"|%22))"#,
    r"|bearer(?:\s|%20)+[a-z0-9\._\-]+",
    r"|token(?::|%3A)[a-z0-9]{13}",
    r"|gh[opsu]_[0-9a-zA-Z]{36}",
    r"|ey[I-L](?:[\w=-]|%3D)+\.ey[I-L](?:[\w=-]|%3D)+(?:\.(?:[\w.+\/=-]|%3D|%2F|%2B)+)?",
    r"|[\-]{5}BEGIN(?:[a-z\s]|%20)+PRIVATE(?:\s|%20)KEY[\-]{5}[^\-]+[\-]{5}END(?:[a-z\s]|%20)+PRIVATE(?:\s|%20)KEY",
    r"|ssh-rsa(?:\s|%20)*(?:[a-z0-9\/\.+]|%2F|%5C|%2B){100,}",
);

/// What replaces a match.
pub const REDACTED: &str = "<redacted>";

/// Replaces sensitive parts of query strings with `<redacted>`.
///
/// ```
/// use datadog_tower::query_obfuscation::QueryObfuscator;
///
/// let obfuscator = QueryObfuscator::datadog_default();
/// assert_eq!(obfuscator.obfuscate("user=1&password=hunter2&x=2"), "user=1&<redacted>&x=2");
/// // An empty pattern turns redaction off, as in Datadog's SDKs.
/// assert_eq!(QueryObfuscator::new("").unwrap().obfuscate("token=abc"), "token=abc");
/// ```
#[derive(Clone, Debug)]
pub struct QueryObfuscator {
    regex: Option<Arc<Regex>>,
}

impl QueryObfuscator {
    /// Datadog's default pattern ([`DATADOG_DEFAULT_PATTERN`]), compiled once per process.
    pub fn datadog_default() -> Self {
        static DEFAULT: OnceLock<Arc<Regex>> = OnceLock::new();
        let regex = DEFAULT.get_or_init(|| {
            Arc::new(Regex::new(DATADOG_DEFAULT_PATTERN).expect("the default pattern compiles"))
        });
        QueryObfuscator {
            regex: Some(regex.clone()),
        }
    }

    /// A custom pattern (the syntax of the [`regex`](https://docs.rs/regex) crate); an empty
    /// one disables redaction.
    pub fn new(pattern: &str) -> Result<Self, InvalidPattern> {
        if pattern.is_empty() {
            return Ok(QueryObfuscator { regex: None });
        }
        let regex = Regex::new(pattern).map_err(|error| InvalidPattern(error.to_string()))?;
        Ok(QueryObfuscator {
            regex: Some(Arc::new(regex)),
        })
    }

    /// `query` with every match replaced by `<redacted>`.
    pub fn obfuscate<'a>(&self, query: &'a str) -> Cow<'a, str> {
        match &self.regex {
            Some(regex) => regex.replace_all(query, REDACTED),
            None => Cow::Borrowed(query),
        }
    }
}

/// Why a pattern given to [`QueryObfuscator::new`] is not a valid regular expression.
///
/// ```
/// use datadog_tower::query_obfuscation::QueryObfuscator;
///
/// let error = QueryObfuscator::new("(unclosed").unwrap_err();
/// assert!(error.to_string().contains("unclosed group"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidPattern(String);

impl std::fmt::Display for InvalidPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidPattern {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_pattern_redacts_datadogs_examples() {
        let obfuscator = QueryObfuscator::datadog_default();
        // dd-trace-php's `root_span_url_with_query_params_obfuscation` case.
        assert_eq!(
            obfuscator.obfuscate(
                "key1=val1&token=a0b21ce2-006f-4cc6-95d5-d7b550698482&key2=val2&password=something"
            ),
            "key1=val1&<redacted>&key2=val2&<redacted>"
        );
        assert_eq!(
            obfuscator.obfuscate("api_key=1234&q=rust"),
            "<redacted>&q=rust"
        );
        assert_eq!(obfuscator.obfuscate("auth=Bearer%20abc.def"), "<redacted>");
        assert_eq!(
            obfuscator.obfuscate("x=bearer%20abc.def-ghi&y=1"),
            "x=<redacted>&y=1"
        );
        assert_eq!(obfuscator.obfuscate("page=2&sort=asc"), "page=2&sort=asc");
    }

    #[test]
    fn a_custom_pattern_replaces_the_default() {
        let obfuscator = QueryObfuscator::new(r"ssn=\d{3}-\d{2}-\d{4}").unwrap();
        assert_eq!(
            obfuscator.obfuscate("ssn=123-45-6789&password=x"),
            "<redacted>&password=x"
        );
        assert!(QueryObfuscator::new("(").is_err());
    }
}
