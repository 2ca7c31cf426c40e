//! Google's trace context of a request: the trace Google's frontend (Cloud Run, App Engine, the
//! load balancers) put it in, read from `traceparent` or, without one, `X-Cloud-Trace-Context`.
//!
//! It is read for Cloud Logging alone (see [`CloudTrace`]): it never decides sampling and is
//! never injected. Which trace the request continues is the
//! [`Propagator`](crate::propagation::Propagator)'s business.
//!
//! ```
//! use datadog_tower::cloud_trace;
//! use http::HeaderMap;
//!
//! let mut headers = HeaderMap::new();
//! headers.insert(
//!     "x-cloud-trace-context",
//!     "105445aa7843bc8bf206b12000100000/1;o=1".parse().unwrap(),
//! );
//! let cloud = cloud_trace::from_headers(&headers).unwrap();
//! assert_eq!(cloud.trace_id_hex(), "105445aa7843bc8bf206b12000100000");
//! assert!(cloud.sampled);
//! ```

use datadog_subscriber::context::{CloudTrace, TraceId};
use http::HeaderMap;

use crate::propagation::Extractor;

/// Google's trace context of a request, if its headers carry a valid one.
pub fn from_headers(headers: &HeaderMap) -> Option<CloudTrace> {
    from_carrier(headers)
}

/// [`from_headers`] from any carrier: the server layer reads the headers it already scanned for
/// extraction.
pub(crate) fn from_carrier<E: Extractor + ?Sized>(carrier: &E) -> Option<CloudTrace> {
    carrier
        .get("traceparent")
        .and_then(parse_traceparent)
        .or_else(|| {
            carrier
                .get("x-cloud-trace-context")
                .and_then(parse_x_cloud_trace_context)
        })
}

/// Google's context from `traceparent`, read by the same parser as W3C extraction.
fn parse_traceparent(value: &str) -> Option<CloudTrace> {
    crate::propagation::parse_traceparent(value)
        .map(|(trace_id, _, sampled)| CloudTrace::new(trace_id, sampled))
}

/// `<32 hex trace id>[/<decimal span id>][;o=<0|1>]`.
fn parse_x_cloud_trace_context(value: &str) -> Option<CloudTrace> {
    let value = value.trim();
    let (ids, options) = value.split_once(';').unwrap_or((value, ""));
    let (trace_id, span_id) = ids.split_once('/').unwrap_or((ids, ""));
    if trace_id.len() != 32 || !trace_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    if !span_id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let trace_id = u128::from_str_radix(trace_id, 16).ok()?;
    let sampled = options.split(';').any(|option| option.trim() == "o=1");
    (trace_id != 0).then(|| CloudTrace::new(TraceId::from_u128(trace_id), sampled))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn traceparent_wins_over_x_cloud_trace_context() {
        let cloud = from_headers(&headers(&[
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            ),
            (
                "x-cloud-trace-context",
                "105445aa7843bc8bf206b12000100000/1;o=1",
            ),
        ]))
        .unwrap();
        assert_eq!(cloud.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(!cloud.sampled);
    }

    #[test]
    fn an_invalid_traceparent_falls_back_to_x_cloud_trace_context() {
        for traceparent in [
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "garbage",
        ] {
            let cloud = from_headers(&headers(&[
                ("traceparent", traceparent),
                (
                    "x-cloud-trace-context",
                    "105445aa7843bc8bf206b12000100000/7",
                ),
            ]))
            .unwrap();
            assert_eq!(cloud.trace_id_hex(), "105445aa7843bc8bf206b12000100000");
            assert!(!cloud.sampled, "{traceparent}");
        }
    }

    #[test]
    fn x_cloud_trace_context_forms() {
        let parse =
            |value| parse_x_cloud_trace_context(value).map(|c| (c.trace_id_hex(), c.sampled));
        let id = "105445aa7843bc8bf206b12000100000".to_owned();
        assert_eq!(
            parse("105445aa7843bc8bf206b12000100000"),
            Some((id.clone(), false))
        );
        assert_eq!(
            parse("105445AA7843BC8BF206B12000100000/0;o=1"),
            Some((id.clone(), true))
        );
        assert_eq!(
            parse("105445aa7843bc8bf206b12000100000/99;o=0"),
            Some((id, false))
        );
        for bad in [
            "",
            "/1;o=1",
            "105445aa7843bc8bf206b1200010000/1",
            "zz5445aa7843bc8bf206b12000100000",
            "105445aa7843bc8bf206b12000100000/x1",
            "00000000000000000000000000000000/1",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_later_traceparent_version_may_carry_more_fields() {
        let cloud =
            parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever")
                .unwrap();
        assert!(cloud.sampled);
    }

    #[test]
    fn no_headers_no_context() {
        assert_eq!(from_headers(&HeaderMap::new()), None);
    }
}
