//! A stand-in for Google's metadata server (`GCE_METADATA_HOST`): answers the project, region and
//! instance id, only to requests carrying `Metadata-Flavor: Google`, and marks its answers with
//! the same header, as the real one does. It can also misbehave (hang, refuse, lie).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the stand-in answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataBehavior {
    /// As Google's server: the values, with `Metadata-Flavor: Google`.
    Google,
    /// Never answers (the connection stays open).
    Hang,
    /// Answers every request with this status and an empty body.
    Status(u16),
    /// Answers 200 with this body but without `Metadata-Flavor` (a proxy's page).
    Impostor(String),
}

/// The running stand-in; it stops accepting when dropped.
pub struct MetadataServer {
    host: String,
    requests: Arc<AtomicUsize>,
    stop: Arc<Mutex<bool>>,
}

impl MetadataServer {
    /// Starts on a free loopback port, answering for `project` in `region`.
    pub fn start(project: &str, region: &str, behavior: MetadataBehavior) -> MetadataServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the metadata stand-in");
        let host = listener.local_addr().expect("local address").to_string();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(Mutex::new(false));
        let values = Values {
            project: project.to_owned(),
            region: format!("projects/123456789/regions/{region}"),
            behavior,
        };
        let (counted, stopped) = (Arc::clone(&requests), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("metadata-stand-in".into())
            .spawn(move || {
                let mut held = Vec::new();
                for stream in listener.incoming() {
                    if *stopped.lock().unwrap() {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    counted.fetch_add(1, Ordering::SeqCst);
                    if let Some(stream) = values.serve(stream) {
                        held.push(stream);
                    }
                }
            })
            .expect("spawn the metadata stand-in");
        MetadataServer {
            host,
            requests,
            stop,
        }
    }

    /// `127.0.0.1:<port>`, the value of `GCE_METADATA_HOST`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Connections received so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for MetadataServer {
    fn drop(&mut self) {
        *self.stop.lock().unwrap() = true;
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(&self.host);
    }
}

struct Values {
    project: String,
    region: String,
    behavior: MetadataBehavior,
}

impl Values {
    /// Answers one request; returns the stream when it must be held open (hang).
    fn serve(&self, stream: TcpStream) -> Option<TcpStream> {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut reader = BufReader::new(stream.try_clone().ok()?);
        let mut request_line = String::new();
        reader.read_line(&mut request_line).ok()?;
        let mut flavor = false;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).ok()? == 0 || line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                flavor |=
                    name.trim().eq_ignore_ascii_case("metadata-flavor") && value.trim() == "Google";
            }
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or("");
        let (status, body, marked) = match &self.behavior {
            MetadataBehavior::Hang => return Some(stream),
            MetadataBehavior::Status(status) => (*status, String::new(), true),
            MetadataBehavior::Impostor(body) => (200, body.clone(), false),
            MetadataBehavior::Google if !flavor => (403, "Missing Metadata-Flavor".into(), true),
            MetadataBehavior::Google => match path {
                "/computeMetadata/v1/project/project-id" => (200, self.project.clone(), true),
                "/computeMetadata/v1/project/numeric-project-id" => (200, "123456789".into(), true),
                "/computeMetadata/v1/instance/region" => (200, self.region.clone(), true),
                "/computeMetadata/v1/instance/id" => (200, "0087244a".into(), true),
                _ => (404, "Not Found".into(), true),
            },
        };
        let flavor_header = if marked {
            "Metadata-Flavor: Google\r\n"
        } else {
            ""
        };
        let mut stream = stream;
        let _ = write!(
            stream,
            "HTTP/1.1 {status} X\r\n{flavor_header}Content-Type: application/text\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        None
    }
}
