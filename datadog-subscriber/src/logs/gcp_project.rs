//! The Google Cloud project whose traces the `logging.googleapis.com/trace` field names: set in
//! code or by `GOOGLE_CLOUD_PROJECT`, else asked once of the metadata server.
//!
//! Cloud Run does not set `GOOGLE_CLOUD_PROJECT`; its metadata server (reached through
//! `GCE_METADATA_HOST`, as Google's client libraries do, else `metadata.google.internal`) knows
//! the project. The lookup runs on its own thread with short timeouts, so logging and serving
//! never wait for it: lines written before the answer lack the Cloud Logging fields.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::HOST;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;

use super::json;
use super::writer::warn;

/// Google's metadata server name (Cloud Run, GCE, GKE).
pub(crate) const DEFAULT_METADATA_HOST: &str = "metadata.google.internal";
/// The project id's path on the metadata server.
const PROJECT_ID_PATH: &str = "/computeMetadata/v1/project/project-id";
/// How long one request may take (serverless-init allows 300 ms per metadata call).
const REQUEST_TIMEOUT: Duration = Duration::from_millis(500);
/// Attempts before giving up, and the pause between two.
const ATTEMPTS: u32 = 3;
const RETRY_PAUSE: Duration = Duration::from_millis(500);
/// Project ids are at most 30 characters (legacy domain-scoped ones a little more); anything
/// longer is not a project id.
const MAX_PROJECT_BYTES: usize = 128;

/// The `,"logging.googleapis.com/trace":"projects/<id>/traces/` prefix, once the project is known.
#[derive(Debug, Default)]
pub(crate) struct GcpProject {
    prefix: OnceLock<Box<[u8]>>,
}

impl GcpProject {
    /// A project known from the start.
    pub(crate) fn known(project: &str) -> Arc<Self> {
        let slot = Arc::new(GcpProject::default());
        slot.set(project);
        slot
    }

    /// A project to be asked of the metadata server at `host` (`host[:port]`), in the background.
    pub(crate) fn from_metadata_server(host: String) -> Arc<Self> {
        let slot = Arc::new(GcpProject::default());
        let filled = Arc::clone(&slot);
        let spawned = std::thread::Builder::new()
            .name("datadog-gcp-metadata".into())
            .spawn(move || match fetch_project_id(&host) {
                Ok(project) => filled.set(&project),
                Err(problem) => warn(&format!(
                    "could not read the Google Cloud project from the metadata server at {host} ({problem}); log lines carry no logging.googleapis.com/trace field (set GOOGLE_CLOUD_PROJECT to add it)"
                )),
            });
        if let Err(error) = spawned {
            warn(&format!(
                "cannot start the metadata lookup thread ({error}); log lines carry no logging.googleapis.com/trace field"
            ));
        }
        slot
    }

    fn set(&self, project: &str) {
        let mut prefix = Vec::new();
        json::key(&mut prefix, "logging.googleapis.com/trace", true);
        prefix.extend_from_slice(b"\"projects/");
        json::escaped(&mut prefix, project);
        prefix.extend_from_slice(b"/traces/");
        let _ = self.prefix.set(prefix.into_boxed_slice());
    }

    /// The field prefix, once the project is known.
    pub(crate) fn prefix(&self) -> Option<&[u8]> {
        self.prefix.get().map(|prefix| &**prefix)
    }
}

/// Asks `host` for the project id, retrying a few times; the error says what went wrong last.
fn fetch_project_id(host: &str) -> Result<String, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|error| format!("no runtime: {error}"))?;
    let mut last_problem = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(RETRY_PAUSE);
        }
        let answer = runtime.block_on(async {
            tokio::time::timeout(REQUEST_TIMEOUT, request_project_id(host)).await
        });
        match answer {
            Ok(Ok(project)) => return Ok(project),
            // A clear refusal will not change: no point asking again.
            Ok(Err(Problem::Final(problem))) => return Err(problem),
            Ok(Err(Problem::Transient(problem))) => last_problem = problem,
            Err(_) => last_problem = format!("no answer within {REQUEST_TIMEOUT:?}"),
        }
    }
    Err(last_problem)
}

enum Problem {
    /// Worth asking again (connection refused, reset, 5xx).
    Transient(String),
    /// The server answered, and not with a project id.
    Final(String),
}

async fn request_project_id(host: &str) -> Result<String, Problem> {
    let address = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:80")
    };
    let stream = tokio::net::TcpStream::connect(address.as_str())
        .await
        .map_err(|error| Problem::Transient(format!("cannot connect: {error}")))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| Problem::Transient(format!("handshake: {error}")))?;
    tokio::spawn(connection);
    let request = http::Request::get(PROJECT_ID_PATH)
        .header(HOST, host)
        .header("metadata-flavor", "Google")
        .body(Empty::<Bytes>::new())
        .map_err(|error| Problem::Final(error.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|error| Problem::Transient(format!("request: {error}")))?;
    let status = response.status();
    if status.is_server_error() {
        return Err(Problem::Transient(format!("HTTP {}", status.as_u16())));
    }
    if !status.is_success() {
        return Err(Problem::Final(format!("HTTP {}", status.as_u16())));
    }
    // The real server marks every answer; anything else (a proxy's page) is not it.
    let flavor = response.headers().get("metadata-flavor");
    if flavor.is_none_or(|value| value.as_bytes() != b"Google") {
        return Err(Problem::Final(
            "the answer lacks `Metadata-Flavor: Google`".into(),
        ));
    }
    let body = Limited::new(response.into_body(), MAX_PROJECT_BYTES)
        .collect()
        .await
        .map_err(|error| Problem::Final(format!("body: {error}")))?
        .to_bytes();
    parse_project_id(&body).ok_or_else(|| Problem::Final("the answer is not a project id".into()))
}

/// A project id: lower-case letters, digits and hyphens (legacy ones may have a `domain:`
/// prefix, with dots), at most [`MAX_PROJECT_BYTES`].
fn parse_project_id(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?.trim();
    let valid = !text.is_empty()
        && text.len() <= MAX_PROJECT_BYTES
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.:".contains(&b))
        && text.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
    valid.then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::Instant;

    use super::*;

    #[test]
    fn project_ids_are_checked() {
        assert_eq!(
            parse_project_id(b"my-project-123\n").as_deref(),
            Some("my-project-123")
        );
        assert_eq!(
            parse_project_id(b"example.com:proj").as_deref(),
            Some("example.com:proj")
        );
        for bad in [
            &b""[..],
            b"  ",
            b"<html>",
            b"My-Project",
            b"1abc",
            b"\xff\xfe",
            b"a b",
        ] {
            assert_eq!(parse_project_id(bad), None, "{bad:?}");
        }
    }

    /// A one-thread stand-in that answers every request with `response` (or hangs without
    /// answering when it is `None`), counting requests and checking the `Metadata-Flavor` header.
    fn stand_in(response: Option<&'static str>) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = Arc::clone(&count);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut request = [0u8; 1024];
                let read = stream.read(&mut request).unwrap_or(0);
                let request = String::from_utf8_lossy(&request[..read]).to_ascii_lowercase();
                assert!(request.contains("metadata-flavor: google"), "{request}");
                assert!(request.starts_with("get /computemetadata/v1/project/project-id "));
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                match response {
                    Some(response) => {
                        let _ = stream.write_all(response.as_bytes());
                    }
                    None => held.push(stream),
                }
            }
        });
        (host, count)
    }

    fn answer(status: &str, flavor: bool, body: &str) -> &'static str {
        let flavor = if flavor {
            "Metadata-Flavor: Google\r\n"
        } else {
            ""
        };
        format!(
            "HTTP/1.1 {status}\r\n{flavor}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .leak()
    }

    #[test]
    fn a_good_answer_gives_the_project() {
        let (host, _) = stand_in(Some(answer("200 OK", true, "my-project")));
        assert_eq!(fetch_project_id(&host).as_deref(), Ok("my-project"));
    }

    #[test]
    fn refusals_and_lies_are_final() {
        for (response, problem) in [
            (answer("403 Forbidden", true, "no"), "HTTP 403"),
            (answer("404 Not Found", true, ""), "HTTP 404"),
            (answer("200 OK", false, "my-project"), "Metadata-Flavor"),
            (
                answer("200 OK", true, "<html>hello</html>"),
                "not a project id",
            ),
            (answer("200 OK", true, &"a".repeat(4096)), "body"),
        ] {
            let (host, count) = stand_in(Some(response));
            let error = fetch_project_id(&host).unwrap_err();
            assert!(error.contains(problem), "{error}");
            assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
        }
    }

    #[test]
    fn server_errors_are_retried_then_reported() {
        let (host, count) = stand_in(Some(answer("503 Service Unavailable", true, "")));
        assert!(fetch_project_id(&host).unwrap_err().contains("HTTP 503"));
        assert_eq!(
            count.load(std::sync::atomic::Ordering::SeqCst),
            ATTEMPTS as usize
        );
    }

    #[test]
    fn a_hanging_server_costs_bounded_time_and_a_missing_one_an_error() {
        let (host, _) = stand_in(None);
        let started = Instant::now();
        assert!(fetch_project_id(&host).unwrap_err().contains("no answer"));
        // Three timeouts and two pauses, with room for a loaded machine.
        assert!(started.elapsed() < Duration::from_secs(10));

        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert!(
            fetch_project_id(&closed.to_string())
                .unwrap_err()
                .contains("connect")
        );
    }

    #[test]
    fn the_background_lookup_fills_the_prefix() {
        let (host, _) = stand_in(Some(answer("200 OK", true, "p-1")));
        let project = GcpProject::from_metadata_server(host);
        let deadline = Instant::now() + Duration::from_secs(10);
        while project.prefix().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            project.prefix(),
            Some(&b",\"logging.googleapis.com/trace\":\"projects/p-1/traces/"[..])
        );
    }
}
