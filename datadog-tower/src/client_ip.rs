//! `http.client_ip`: the address of the end user, resolved like Datadog's SDKs do.
//!
//! With `DD_TRACE_CLIENT_IP_ENABLED=true`, the headers below are read in order (or only
//! `DD_TRACE_CLIENT_IP_HEADER` when set); each may hold a comma-separated list. The first public
//! address wins; otherwise the peer address of the connection when it is public; otherwise the
//! first private (loopback, link-local, private-range) address seen in a header; otherwise the
//! peer address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use http::HeaderMap;

/// The headers Datadog's SDKs read the client IP from, in order of precedence.
pub const DATADOG_CLIENT_IP_HEADERS: [&str; 10] = [
    "x-forwarded-for",
    "x-real-ip",
    "true-client-ip",
    "x-client-ip",
    "x-forwarded",
    "forwarded-for",
    "x-cluster-client-ip",
    "fastly-client-ip",
    "cf-connecting-ip",
    "cf-connecting-ipv6",
];

/// Whether and how the client IP is collected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ClientIpConfig {
    pub(crate) enabled: bool,
    /// The only header to read (lowercase), instead of [`DATADOG_CLIENT_IP_HEADERS`].
    pub(crate) header: Option<String>,
}

/// Resolves the client IP from `headers` and the connection's `peer` address.
///
/// ```
/// use std::net::IpAddr;
/// use http::HeaderMap;
/// use datadog_tower::client_ip::resolve;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("x-forwarded-for", "10.0.0.1, 203.0.113.7".parse().unwrap());
/// let peer: IpAddr = "127.0.0.1".parse().unwrap();
/// assert_eq!(resolve(&headers, None, Some(peer)), Some("203.0.113.7".parse().unwrap()));
/// ```
pub fn resolve(headers: &HeaderMap, header: Option<&str>, peer: Option<IpAddr>) -> Option<IpAddr> {
    let mut first_private = None;
    let custom = header.map(|name| [name]);
    let names: &[&str] = match &custom {
        Some(one) => one,
        None => &DATADOG_CLIENT_IP_HEADERS,
    };
    for name in names {
        for value in headers.get_all(*name) {
            let Ok(value) = value.to_str() else { continue };
            for candidate in value.split(',').filter_map(parse_address) {
                if is_public(candidate) {
                    return Some(candidate);
                }
                first_private.get_or_insert(candidate);
            }
        }
    }
    match peer {
        Some(peer) if is_public(peer) => Some(peer),
        _ => first_private.or(peer),
    }
}

/// One list item: an address, optionally quoted, with an optional port (`1.2.3.4:80`, `[::1]:80`).
fn parse_address(item: &str) -> Option<IpAddr> {
    let item = item.trim().trim_matches('"');
    if let Ok(address) = item.parse::<IpAddr>() {
        return Some(address);
    }
    if let Ok(socket) = item.parse::<std::net::SocketAddr>() {
        return Some(socket.ip());
    }
    // `[v6]` without a port.
    item.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse::<Ipv6Addr>().ok())
        .map(IpAddr::V6)
}

fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => {
                !(v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || v6.is_unique_local()
                    || v6.is_unicast_link_local())
            }
        },
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    !(v4.is_private()
        || v4.is_loopback()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        // 100.64.0.0/10, carrier-grade NAT: never an end user's address.
        || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn precedence_follows_the_header_list() {
        let map = headers(&[
            ("x-real-ip", "198.51.100.2"),
            ("x-forwarded-for", "198.51.100.1"),
        ]);
        assert_eq!(
            resolve(&map, None, None),
            Some("198.51.100.1".parse().unwrap())
        );
    }

    #[test]
    fn a_private_address_is_used_when_no_public_one_exists() {
        let map = headers(&[("x-forwarded-for", "10.1.2.3, 192.168.0.1")]);
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            resolve(&map, None, Some(loopback)),
            Some("10.1.2.3".parse().unwrap())
        );
        assert_eq!(
            resolve(&HeaderMap::new(), None, Some(loopback)),
            Some(loopback)
        );
    }

    #[test]
    fn ports_brackets_and_garbage_are_handled() {
        let map = headers(&[("x-forwarded-for", "garbage, \"[2001:db8::1]:443\"")]);
        assert_eq!(
            resolve(&map, None, None),
            Some("2001:db8::1".parse().unwrap())
        );
        let map = headers(&[("x-client-ip", "203.0.113.9:8080")]);
        assert_eq!(
            resolve(&map, None, None),
            Some("203.0.113.9".parse().unwrap())
        );
    }

    #[test]
    fn a_custom_header_replaces_the_list() {
        let map = headers(&[
            ("x-forwarded-for", "203.0.113.1"),
            ("x-my-ip", "203.0.113.2"),
        ]);
        assert_eq!(
            resolve(&map, Some("x-my-ip"), None),
            Some("203.0.113.2".parse().unwrap())
        );
    }
}
