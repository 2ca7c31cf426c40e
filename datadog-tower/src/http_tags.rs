//! Datadog's HTTP span conventions (dd-trace-go `httptrace`): span names, tag names and the values
//! the server and client layers derive from requests and responses.

use std::borrow::Cow;

use http::{Method, Uri};

use crate::query_obfuscation::QueryObfuscator;

/// The name of server and client request spans (Datadog's v0 naming schema).
pub const SPAN_NAME: &str = "http.request";

/// Field of the Datadog resource.
pub const RESOURCE: &str = "resource";
/// Field of the Datadog span type (`web` for servers, `http` for clients).
pub const SPAN_TYPE: &str = "span.type";
/// `server` or `client`.
pub const SPAN_KIND: &str = "span.kind";
/// The integration that made the span.
pub const COMPONENT: &str = "component";
/// Request method.
pub const HTTP_METHOD: &str = "http.method";
/// Route template (`/users/{id}`).
pub const HTTP_ROUTE: &str = "http.route";
/// `scheme://host/path[?obfuscated query]`.
pub const HTTP_URL: &str = "http.url";
/// `User-Agent` of the request.
pub const HTTP_USERAGENT: &str = "http.useragent";
/// `Host` of the request.
pub const HTTP_HOST: &str = "http.host";
/// The end user's address.
pub const HTTP_CLIENT_IP: &str = "http.client_ip";
/// Response status, as a string.
pub const HTTP_STATUS_CODE: &str = "http.status_code";
/// Host a client span talks to.
pub const OUT_HOST: &str = "out.host";
/// Port a client span talks to.
pub const NETWORK_DESTINATION_PORT: &str = "network.destination.port";
/// `true` on spans flagged as errors (the tracer sets the Datadog `error` field from it).
pub const ERROR: &str = "error";
/// Error message (`500: Internal Server Error`, the service error, ...).
pub const ERROR_MESSAGE: &str = "error.message";
/// Error type (the Rust type name of a service error, `panic`, ...).
pub const ERROR_TYPE: &str = "error.type";
/// `true` on a server span whose response body was dropped before it was sent completely (the
/// client went away, a timeout fired, ...).
pub const RESPONSE_BODY_DROPPED: &str = "http.response.body.dropped";
/// Metric `1` on server spans: compute trace metrics for them (Datadog's `_dd.measured`).
pub const MEASURED: &str = "_dd.measured";

/// The resource of a request: `"<METHOD> <route>"`, or the method alone when no route matched
/// (never the raw path, which would explode the number of resources).
///
/// ```
/// use http::Method;
/// use datadog_tower::http_tags::resource;
///
/// assert_eq!(resource(&Method::GET, Some("/users/{id}")), "GET /users/{id}");
/// assert_eq!(resource(&Method::POST, None), "POST");
/// ```
pub fn resource(method: &Method, route: Option<&str>) -> String {
    let mut resource = String::with_capacity(method.as_str().len() + 1 + route.map_or(0, str::len));
    push_resource(&mut resource, method, route);
    resource
}

/// Appends the [`resource`] of a request to `out`.
pub(crate) fn push_resource(out: &mut String, method: &Method, route: Option<&str>) {
    out.push_str(method.as_str());
    if let Some(route) = route {
        out.push(' ');
        out.push_str(route);
    }
}

/// The `http.url` tag: `scheme://host/path`, with the query string obfuscated when `query` is on.
///
/// ```
/// use datadog_tower::http_tags::url;
/// use datadog_tower::query_obfuscation::QueryObfuscator;
///
/// let uri = "/search?q=rust&token=s3cr3t".parse().unwrap();
/// let obfuscator = QueryObfuscator::datadog_default();
/// assert_eq!(url(&uri, Some("example.com"), Some(&obfuscator)), "http://example.com/search?q=rust&<redacted>");
/// assert_eq!(url(&uri, None, None), "/search");
/// ```
pub fn url(uri: &Uri, host: Option<&str>, query: Option<&QueryObfuscator>) -> String {
    let mut url = String::with_capacity(64);
    push_url(&mut url, uri, host, query);
    url
}

/// Appends the [`url`] of a request to `out`.
pub(crate) fn push_url(
    out: &mut String,
    uri: &Uri,
    host: Option<&str>,
    query: Option<&QueryObfuscator>,
) {
    if let Some(host) = uri.authority().map(http::uri::Authority::as_str).or(host) {
        out.push_str(uri.scheme_str().unwrap_or("http"));
        out.push_str("://");
        out.push_str(host);
    }
    out.push_str(uri.path());
    if let (Some(obfuscator), Some(raw)) = (query, uri.query())
        && !raw.is_empty()
    {
        out.push('?');
        out.push_str(&obfuscator.obfuscate(raw));
    }
}

/// The `error.message` of a response whose status is flagged as an error: `"500: Internal Server
/// Error"`, as dd-trace-go writes it.
pub fn status_error_message(status: http::StatusCode) -> Cow<'static, str> {
    match status.canonical_reason() {
        Some(reason) => Cow::Owned(format!("{}: {reason}", status.as_u16())),
        None => Cow::Owned(status.as_u16().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_uris_keep_their_authority_and_scheme() {
        let uri: Uri = "https://api.example.com:8443/v1/items?page=2"
            .parse()
            .unwrap();
        let obfuscator = QueryObfuscator::datadog_default();
        assert_eq!(
            url(&uri, Some("ignored"), Some(&obfuscator)),
            "https://api.example.com:8443/v1/items?page=2"
        );
    }

    #[test]
    fn resource_and_url_in_one_buffer_match_the_separate_values() {
        let obfuscator = QueryObfuscator::datadog_default();
        for (method, route, uri, host, query) in [
            (
                Method::GET,
                Some("/users/{id}"),
                "/users/42?token=abc",
                Some("h"),
                true,
            ),
            (Method::POST, None, "/x", None, false),
            (
                Method::DELETE,
                Some("/"),
                "https://a.example/?q=1",
                None,
                true,
            ),
        ] {
            let uri: Uri = uri.parse().unwrap();
            let query = query.then_some(&obfuscator);
            let mut text = String::new();
            push_resource(&mut text, &method, route);
            let end = text.len();
            push_url(&mut text, &uri, host, query);
            assert_eq!(
                text.split_at(end),
                (
                    resource(&method, route).as_str(),
                    url(&uri, host, query).as_str()
                )
            );
        }
    }

    #[test]
    fn status_messages_follow_dd_trace_go() {
        assert_eq!(
            status_error_message(http::StatusCode::INTERNAL_SERVER_ERROR),
            "500: Internal Server Error"
        );
        assert_eq!(
            status_error_message(http::StatusCode::from_u16(599).unwrap()),
            "599"
        );
    }
}
