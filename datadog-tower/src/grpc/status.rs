//! gRPC status codes as they travel in HTTP/2 headers and trailers (`grpc-status`,
//! `grpc-message`), and the sets of codes flagged as errors.

use http::{HeaderMap, StatusCode};

/// The `grpc-status` header or trailer.
pub const GRPC_STATUS: &str = "grpc-status";
/// The `grpc-message` header or trailer (percent-encoded UTF-8).
pub const GRPC_MESSAGE: &str = "grpc-message";

/// `OK`.
pub const OK: u32 = 0;
/// `CANCELLED`: the caller went away before the answer was complete.
pub const CANCELLED: u32 = 1;
/// `UNKNOWN`: also what a client makes of a `grpc-status` that does not parse.
pub const UNKNOWN: u32 = 2;
/// `UNIMPLEMENTED`: no such method on the server.
pub const UNIMPLEMENTED: u32 = 12;
/// `INTERNAL`: also a stream that ended without any status.
pub const INTERNAL: u32 = 13;

const NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The canonical name of a status code (`NOT_FOUND`), `UNKNOWN` for codes gRPC does not define.
///
/// ```
/// use datadog_tower::grpc::status::code_name;
///
/// assert_eq!(code_name(5), "NOT_FOUND");
/// assert_eq!(code_name(99), "UNKNOWN");
/// ```
pub fn code_name(code: u32) -> &'static str {
    NAMES.get(code as usize).copied().unwrap_or("UNKNOWN")
}

/// The status in `headers`, if they carry `grpc-status`; a value that is not a number reads as
/// `UNKNOWN`, as gRPC clients read it.
///
/// ```
/// use http::HeaderMap;
/// use datadog_tower::grpc::status::status_code;
///
/// let mut trailers = HeaderMap::new();
/// assert_eq!(status_code(&trailers), None);
/// trailers.insert("grpc-status", "5".parse().unwrap());
/// assert_eq!(status_code(&trailers), Some(5));
/// trailers.insert("grpc-status", "five".parse().unwrap());
/// assert_eq!(status_code(&trailers), Some(2));
/// ```
pub fn status_code(headers: &HeaderMap) -> Option<u32> {
    let value = headers.get(GRPC_STATUS)?;
    Some(
        std::str::from_utf8(value.as_bytes())
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok())
            .unwrap_or(UNKNOWN),
    )
}

/// The decoded `grpc-message` in `headers` (percent-decoding, invalid UTF-8 replaced), cut to
/// [`MAX_MESSAGE_BYTES`].
///
/// ```
/// use http::HeaderMap;
/// use datadog_tower::grpc::status::status_message;
///
/// let mut trailers = HeaderMap::new();
/// trailers.insert("grpc-message", "no%20such%20service%3A%20%C3%A9".parse().unwrap());
/// assert_eq!(status_message(&trailers).as_deref(), Some("no such service: é"));
/// ```
pub fn status_message(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get(GRPC_MESSAGE)?.as_bytes();
    let mut bytes = Vec::with_capacity(raw.len().min(MAX_MESSAGE_BYTES));
    let mut index = 0;
    while index < raw.len() && bytes.len() < MAX_MESSAGE_BYTES {
        let byte = raw[index];
        let escaped = (byte == b'%')
            .then(|| raw.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if let Some(decoded) = escaped {
            bytes.push(decoded);
            index += 3;
        } else {
            bytes.push(byte);
            index += 1;
        }
    }
    let message = String::from_utf8_lossy(&bytes).into_owned();
    (!message.is_empty()).then_some(message)
}

/// The longest `grpc-message` kept on a span, in bytes (a peer controls it).
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// The status a gRPC client derives from an HTTP status when the response carries no
/// `grpc-status` (gRPC's "HTTP to gRPC status code mapping").
///
/// ```
/// use http::StatusCode;
/// use datadog_tower::grpc::status::from_http_status;
///
/// assert_eq!(from_http_status(StatusCode::NOT_FOUND), 12); // UNIMPLEMENTED
/// assert_eq!(from_http_status(StatusCode::SERVICE_UNAVAILABLE), 14); // UNAVAILABLE
/// assert_eq!(from_http_status(StatusCode::IM_A_TEAPOT), 2); // UNKNOWN
/// ```
pub fn from_http_status(status: StatusCode) -> u32 {
    match status.as_u16() {
        400 => INTERNAL,
        401 => 16,
        403 => 7,
        404 => UNIMPLEMENTED,
        429 | 502..=504 => 14,
        _ => UNKNOWN,
    }
}

/// A set of gRPC status codes, written like Datadog's `DD_GRPC_SERVER_ERROR_STATUSES`:
/// comma-separated codes and inclusive ranges (`2-16`, `1,3-5`).
///
/// ```
/// use datadog_tower::grpc::GrpcCodes;
///
/// let codes: GrpcCodes = "2-4,13".parse().unwrap();
/// assert!(codes.contains(3) && codes.contains(13));
/// assert!(!codes.contains(5) && !codes.contains(0));
/// assert!(GrpcCodes::server_default().contains(5) && !GrpcCodes::server_default().contains(1));
/// assert!("2-x".parse::<GrpcCodes>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrpcCodes {
    bits: u64,
}

/// The largest code a [`GrpcCodes`] holds (gRPC defines 0 to 16).
const MAX_CODE: u32 = 63;

impl GrpcCodes {
    /// No code.
    pub const fn empty() -> Self {
        GrpcCodes { bits: 0 }
    }

    /// The codes from `low` to `high`, both included (codes above 63 are left out).
    pub fn range(low: u32, high: u32) -> Self {
        let mut bits = 0;
        for code in low..=high.min(MAX_CODE) {
            bits |= 1 << code;
        }
        GrpcCodes { bits }
    }

    /// The server default of Datadog's tracers: `2-16` (everything but `OK` and `CANCELLED`).
    pub fn server_default() -> Self {
        Self::range(2, 16)
    }

    /// The client default of Datadog's tracers: `1-16` (everything but `OK`).
    pub fn client_default() -> Self {
        Self::range(1, 16)
    }

    /// Whether `code` is in the set.
    pub fn contains(&self, code: u32) -> bool {
        code <= MAX_CODE && self.bits & (1 << code) != 0
    }
}

/// Why a gRPC code list did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrpcCodesError(String);

impl std::fmt::Display for GrpcCodesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GrpcCodesError {}

impl std::str::FromStr for GrpcCodes {
    type Err = GrpcCodesError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parse_code = |part: &str| {
            part.trim()
                .parse::<u32>()
                .ok()
                .filter(|code| *code <= MAX_CODE)
                .ok_or_else(|| GrpcCodesError(format!("`{part}` is not a gRPC status code")))
        };
        let mut codes = GrpcCodes::empty();
        let mut any = false;
        for item in text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            let (low, high) = if let Some((low, high)) = item.split_once('-') {
                (parse_code(low)?, parse_code(high)?)
            } else {
                let code = parse_code(item)?;
                (code, code)
            };
            if low > high {
                return Err(GrpcCodesError(format!("`{item}` is an empty range")));
            }
            codes.bits |= GrpcCodes::range(low, high).bits;
            any = true;
        }
        if any {
            Ok(codes)
        } else {
            Err(GrpcCodesError("no status codes".to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_decoded_leniently_and_bounded() {
        let mut headers = HeaderMap::new();
        headers.insert(GRPC_MESSAGE, "50%25 off %zz %4".parse().unwrap());
        assert_eq!(status_message(&headers).as_deref(), Some("50% off %zz %4"));
        headers.insert(GRPC_MESSAGE, "%FF%FE".parse().unwrap());
        assert_eq!(
            status_message(&headers).as_deref(),
            Some("\u{fffd}\u{fffd}")
        );
        let long = "a".repeat(5000);
        headers.insert(GRPC_MESSAGE, long.parse().unwrap());
        assert_eq!(status_message(&headers).unwrap().len(), MAX_MESSAGE_BYTES);
        headers.insert(GRPC_MESSAGE, "".parse().unwrap());
        assert_eq!(status_message(&headers), None);
    }

    #[test]
    fn code_lists_parse_like_datadogs() {
        let codes: GrpcCodes = " 1 , 3-5,".parse().unwrap();
        assert!(codes.contains(1) && codes.contains(4) && !codes.contains(2));
        assert!("5-3".parse::<GrpcCodes>().is_err());
        assert!("".parse::<GrpcCodes>().is_err());
        assert!("64".parse::<GrpcCodes>().is_err());
        assert!(!GrpcCodes::client_default().contains(0));
        assert!(GrpcCodes::client_default().contains(1));
        assert!(!GrpcCodes::range(0, 100).contains(64));
    }
}
