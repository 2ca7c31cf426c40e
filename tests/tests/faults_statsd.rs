//! DogStatsD under faults: an unreachable destination warns once with the error and counts its
//! drops; over a Unix datagram socket the sidecar sample delivers at least 99% of its values
//! under 16 concurrent clients to a receiver that is alive but busy (the kernel's queue of 10
//! datagrams fills in bursts: sends wait briefly for room, as Datadog's Go client does).

mod examples_support;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datadog_e2e_tests::fake_agent::{Behaviour, FakeAgent};
use datadog_e2e_tests::fault_app::{FaultApp, StdoutMode, load};
use examples_support::example_binary;

const METRIC: &str = "our-sample-app.sample-metric";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faults-statsd-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn an_unreachable_unix_socket_warns_once_with_the_error_and_counts_drops() {
    let dir = temp_dir("unreachable");
    let path = dir.join("dsd.socket");
    // Warnings go to stderr as JSON lines: run the client as a process and read what it printed.
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_statsd_unreachable_client"))
        .arg(&path)
        .output()
        .expect("the client runs");
    let stdout = String::from_utf8_lossy(&child.stdout);
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(child.status.success(), "{stdout}\n{stderr}");
    let warnings: Vec<String> = stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["status"] == "warn")
        .filter_map(|line| line["message"].as_str().map(str::to_owned))
        .filter(|message| message.contains("cannot send DogStatsD datagrams"))
        .collect();
    assert_eq!(warnings.len(), 2, "one warning per outage: {stderr}");
    assert!(
        warnings[0].contains(&path.display().to_string())
            && warnings[0].contains("No such file or directory"),
        "{}",
        warnings[0]
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A receiver that is alive but busy, as the Agent is when the instance's CPU is shared: it
/// takes `per_datagram` to process each datagram, and counts the sample metric's values.
struct BusyReceiver {
    values: Arc<Mutex<usize>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl BusyReceiver {
    fn start(path: &std::path::Path, per_datagram: Duration) -> BusyReceiver {
        let socket = std::os::unix::net::UnixDatagram::bind(path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let values = Arc::new(Mutex::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (counted, stopping) = (Arc::clone(&values), Arc::clone(&stop));
        let reader = std::thread::spawn(move || {
            let mut buffer = vec![0u8; 65_536];
            while !stopping.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok(len) = socket.recv(&mut buffer) else {
                    continue;
                };
                let text = String::from_utf8_lossy(&buffer[..len]);
                let found: usize = text
                    .lines()
                    .filter_map(|line| line.strip_prefix(METRIC)?.strip_prefix(':'))
                    .map(|rest| rest.split('|').next().unwrap_or("").split(':').count())
                    .sum();
                *counted.lock().unwrap() += found;
                std::thread::sleep(per_datagram);
            }
        });
        BusyReceiver {
            values,
            stop,
            reader: Some(reader),
        }
    }

    fn values(&self) -> usize {
        *self.values.lock().unwrap()
    }
}

impl Drop for BusyReceiver {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

#[test]
fn the_sidecar_delivers_99_percent_of_values_over_a_unix_socket_under_16_clients() {
    let dir = temp_dir("uds-load");
    let socket = dir.join("dsd.socket");
    let receiver = BusyReceiver::start(&socket, Duration::from_millis(2));
    let agent = FakeAgent::start(Behaviour::Accept);
    let mut app = FaultApp::start(
        &example_binary("sidecar"),
        &[
            ("DD_DOGSTATSD_URL", format!("unix://{}", socket.display())),
            ("DD_SERVICE", "faults-uds".into()),
            ("DD_TRACE_AGENT_URL", agent.url()),
            (
                "DD_SERVERLESS_LOG_PATH",
                format!("{}/logs/*.log", dir.display()),
            ),
        ],
        StdoutMode::Read,
    );
    let answered = load(app.port(), 16, 1_500, Duration::from_secs(30), &[]);
    let exit = app.terminate();
    // The receiver may still be working through what was sent before the exit.
    let deadline = Instant::now() + Duration::from_secs(5);
    while receiver.values() < answered && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let delivered = receiver.values();
    let ratio = delivered as f64 / answered as f64;
    eprintln!(
        "UDS under 16 clients, busy receiver: {delivered} of {answered} values delivered ({:.2}%), exit {} ms",
        ratio * 100.0,
        exit.as_millis()
    );
    assert!(ratio >= 0.99, "{delivered} of {answered}");
    assert!(delivered <= answered, "values counted twice");
    drop(receiver);
    let _ = std::fs::remove_dir_all(dir);
}
