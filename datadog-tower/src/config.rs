//! The HTTP settings the server and client layers share, read from the same `DD_*` variables as
//! Datadog's SDKs.
//!
//! | Variable | Default | Meaning |
//! |---|---|---|
//! | `DD_HTTP_SERVER_TAG_QUERY_STRING` | `true` | put the (obfuscated) query string in `http.url` of server spans |
//! | `DD_TRACE_HTTP_CLIENT_TAG_QUERY_STRING` | `true` | the same for client spans |
//! | `DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP` | Datadog's pattern | what is replaced by `<redacted>`; empty disables redaction |
//! | `DD_TRACE_HTTP_SERVER_ERROR_STATUSES` | `500-599` | server responses flagged as errors |
//! | `DD_TRACE_HTTP_CLIENT_ERROR_STATUSES` | `400-499` | client responses flagged as errors |
//! | `DD_TRACE_HEADER_TAGS` | none | `header[:tag]` pairs tagged on request spans |
//! | `DD_TRACE_CLIENT_IP_ENABLED` | `false` | tag `http.client_ip` on server spans |
//! | `DD_TRACE_CLIENT_IP_HEADER` | none | the only header the client IP is read from |
//!
//! A value that does not parse is reported once (a warning on the diagnostics channel,
//! [`datadog_env::warn`]) and the default is used.

use crate::client_ip::ClientIpConfig;
use crate::header_tags::HeaderTags;
use crate::query_obfuscation::QueryObfuscator;

/// A set of HTTP status codes, written like Datadog's `DD_TRACE_HTTP_*_ERROR_STATUSES`:
/// comma-separated codes and inclusive ranges (`500-599,404`).
///
/// ```
/// use datadog_tower::config::StatusCodes;
///
/// let statuses: StatusCodes = "500-599,404".parse().unwrap();
/// assert!(statuses.contains(404));
/// assert!(statuses.contains(503));
/// assert!(!statuses.contains(400));
/// assert!("5xx".parse::<StatusCodes>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusCodes {
    // One bit per code 100..=599 would be smaller, but ranges keep any code a user writes.
    ranges: Vec<(u16, u16)>,
}

impl StatusCodes {
    /// The server default: 500-599.
    pub fn server_default() -> Self {
        StatusCodes {
            ranges: vec![(500, 599)],
        }
    }

    /// The client default: 400-499.
    pub fn client_default() -> Self {
        StatusCodes {
            ranges: vec![(400, 499)],
        }
    }

    /// Whether `status` is in the set.
    pub fn contains(&self, status: u16) -> bool {
        self.ranges
            .iter()
            .any(|&(low, high)| (low..=high).contains(&status))
    }
}

/// Why a status list did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusCodesError(String);

impl std::fmt::Display for StatusCodesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StatusCodesError {}

impl std::str::FromStr for StatusCodes {
    type Err = StatusCodesError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parse_code = |part: &str| {
            part.trim()
                .parse::<u16>()
                .ok()
                .filter(|code| (100..=999).contains(code))
                .ok_or_else(|| StatusCodesError(format!("`{part}` is not an HTTP status code")))
        };
        let mut ranges = Vec::new();
        for item in text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            let range = if let Some((low, high)) = item.split_once('-') {
                let (low, high) = (parse_code(low)?, parse_code(high)?);
                if low > high {
                    return Err(StatusCodesError(format!("`{item}` is an empty range")));
                }
                (low, high)
            } else {
                let code = parse_code(item)?;
                (code, code)
            };
            ranges.push(range);
        }
        if ranges.is_empty() {
            return Err(StatusCodesError("no status codes".to_owned()));
        }
        Ok(StatusCodes { ranges })
    }
}

/// The settings of the server and client layers. Build it with [`HttpConfig::from_env`] (or
/// [`HttpConfig::default`], which ignores the environment) and adjust it with the setters named
/// after each setting (code wins over the environment).
///
/// ```
/// use datadog_tower::config::{HttpConfig, StatusCodes};
///
/// let config = HttpConfig::from_env()
///     .query_string(false)
///     .server_error_statuses("500-599,429".parse().unwrap());
/// # let _ = config;
/// ```
#[derive(Clone, Debug)]
pub struct HttpConfig {
    pub(crate) query_string: bool,
    pub(crate) client_query_string: bool,
    pub(crate) obfuscator: QueryObfuscator,
    pub(crate) server_error_statuses: StatusCodes,
    pub(crate) client_error_statuses: StatusCodes,
    pub(crate) header_tags: HeaderTags,
    pub(crate) client_ip: ClientIpConfig,
}

impl Default for HttpConfig {
    /// Datadog's defaults, ignoring the environment.
    fn default() -> Self {
        HttpConfig {
            query_string: true,
            client_query_string: true,
            obfuscator: QueryObfuscator::datadog_default(),
            server_error_statuses: StatusCodes::server_default(),
            client_error_statuses: StatusCodes::client_default(),
            header_tags: HeaderTags::default(),
            client_ip: ClientIpConfig::default(),
        }
    }
}

impl HttpConfig {
    /// Reads the `DD_*` variables listed in the [module docs](self).
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let env = datadog_env::Env::new(&lookup);
        let defaults = HttpConfig::default();
        let query_string = env.flag("DD_HTTP_SERVER_TAG_QUERY_STRING", defaults.query_string);
        let client_query_string = env.flag(
            "DD_TRACE_HTTP_CLIENT_TAG_QUERY_STRING",
            defaults.client_query_string,
        );
        let obfuscator = match lookup("DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP") {
            None => defaults.obfuscator,
            Some(pattern) => QueryObfuscator::new(&pattern).unwrap_or_else(|error| {
                warn_once(
                    "DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP",
                    &format!(
                        "is not a valid regular expression ({error}); using Datadog's default"
                    ),
                );
                QueryObfuscator::datadog_default()
            }),
        };
        let statuses = |name: &str, default: StatusCodes| match lookup(name) {
            None => default,
            Some(text) => text.parse().unwrap_or_else(|error| {
                warn_once(
                    name,
                    &format!("`{text}` is invalid ({error}); using {default:?}"),
                );
                default
            }),
        };
        HttpConfig {
            query_string,
            client_query_string,
            obfuscator,
            server_error_statuses: statuses(
                "DD_TRACE_HTTP_SERVER_ERROR_STATUSES",
                defaults.server_error_statuses,
            ),
            client_error_statuses: statuses(
                "DD_TRACE_HTTP_CLIENT_ERROR_STATUSES",
                defaults.client_error_statuses,
            ),
            header_tags: lookup("DD_TRACE_HEADER_TAGS")
                .map(|text| HeaderTags::parse(&text))
                .unwrap_or_default(),
            client_ip: ClientIpConfig {
                enabled: env.flag("DD_TRACE_CLIENT_IP_ENABLED", false),
                header: lookup("DD_TRACE_CLIENT_IP_HEADER")
                    .map(|name| name.trim().to_ascii_lowercase())
                    .filter(|name| !name.is_empty()),
            },
        }
    }

    /// Whether `http.url` of server spans carries the (obfuscated) query string
    /// (`DD_HTTP_SERVER_TAG_QUERY_STRING`).
    pub fn query_string(mut self, enabled: bool) -> Self {
        self.query_string = enabled;
        self
    }

    /// Whether `http.url` of client spans carries the (obfuscated) query string
    /// (`DD_TRACE_HTTP_CLIENT_TAG_QUERY_STRING`).
    pub fn client_query_string(mut self, enabled: bool) -> Self {
        self.client_query_string = enabled;
        self
    }

    /// Replaces the query-string obfuscation (`DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP`).
    pub fn obfuscator(mut self, obfuscator: QueryObfuscator) -> Self {
        self.obfuscator = obfuscator;
        self
    }

    /// The server responses flagged as errors (`DD_TRACE_HTTP_SERVER_ERROR_STATUSES`).
    pub fn server_error_statuses(mut self, statuses: StatusCodes) -> Self {
        self.server_error_statuses = statuses;
        self
    }

    /// The client responses flagged as errors (`DD_TRACE_HTTP_CLIENT_ERROR_STATUSES`).
    pub fn client_error_statuses(mut self, statuses: StatusCodes) -> Self {
        self.client_error_statuses = statuses;
        self
    }

    /// The request and response headers tagged on spans (`DD_TRACE_HEADER_TAGS`).
    pub fn header_tags(mut self, header_tags: HeaderTags) -> Self {
        self.header_tags = header_tags;
        self
    }

    /// Whether server spans carry `http.client_ip`, and from which header (`None`: Datadog's
    /// list) (`DD_TRACE_CLIENT_IP_ENABLED`, `DD_TRACE_CLIENT_IP_HEADER`).
    pub fn client_ip(mut self, enabled: bool, header: Option<&str>) -> Self {
        self.client_ip = ClientIpConfig {
            enabled,
            header: header.map(str::to_ascii_lowercase),
        };
        self
    }
}

/// Emits `message` about `subject` once per process, through the workspace's diagnostics
/// channel.
pub(crate) fn warn_once(subject: &str, message: &str) {
    let line = format!("{subject}: {message}");
    datadog_env::warn_once(&line, || line.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn status_ranges_and_single_codes_parse() {
        let codes: StatusCodes = " 500-502 , 404,".parse().unwrap();
        assert!(codes.contains(404) && codes.contains(501) && !codes.contains(503));
        assert!("600-500".parse::<StatusCodes>().is_err());
        assert!("".parse::<StatusCodes>().is_err());
        assert!("abc".parse::<StatusCodes>().is_err());
    }

    #[test]
    fn bad_values_fall_back_to_the_defaults() {
        let config = HttpConfig::from_lookup(lookup(&[
            ("DD_TRACE_HTTP_SERVER_ERROR_STATUSES", "5xx"),
            ("DD_TRACE_HTTP_CLIENT_ERROR_STATUSES", "400-404"),
            ("DD_HTTP_SERVER_TAG_QUERY_STRING", "maybe"),
            ("DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP", "(unclosed"),
        ]));
        assert_eq!(config.server_error_statuses, StatusCodes::server_default());
        assert!(
            config.client_error_statuses.contains(404)
                && !config.client_error_statuses.contains(405)
        );
        assert!(config.query_string);
        assert_eq!(
            config.obfuscator.obfuscate("password=hunter2"),
            "<redacted>"
        );
    }

    #[test]
    fn client_ip_settings_are_read() {
        let config = HttpConfig::from_lookup(lookup(&[
            ("DD_TRACE_CLIENT_IP_ENABLED", "true"),
            ("DD_TRACE_CLIENT_IP_HEADER", "X-My-IP"),
        ]));
        assert!(config.client_ip.enabled);
        assert_eq!(config.client_ip.header.as_deref(), Some("x-my-ip"));
    }
}
