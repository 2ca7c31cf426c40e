//! DogStatsD under faults: an unreachable destination warns once with the error and counts its
//! drops; over a Unix datagram socket the sidecar sample delivers at least 99% of its values
//! under 16 concurrent clients to a receiver that is alive but busy (the kernel's queue of 10
//! datagrams fills in bursts: sends wait briefly for room, as Datadog's Go client does).

mod examples_support;

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datadog_e2e_tests::dogstatsd_sink::DogStatsdSink;
use datadog_e2e_tests::fake_agent::{Behaviour, FakeAgent};
use datadog_e2e_tests::fault_app::{FaultApp, StdoutMode, load};
use datadog_statsd::StatsdBuilder;
use examples_support::example_binary;

const METRIC: &str = "our-sample-app.sample-metric";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faults-statsd-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What `tracing` warnings say, captured.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines_with(&self, text: &str) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|line| line.contains(text))
            .map(str::to_owned)
            .collect()
    }
}

#[test]
fn an_unreachable_unix_socket_warns_once_with_the_error_and_counts_drops() {
    let dir = temp_dir("unreachable");
    let path = dir.join("dsd.socket");
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let statsd = StatsdBuilder::new()
            .url(&format!("unixgram://{}", path.display()))
            .aggregation(false)
            .telemetry(false)
            .background_thread(false)
            .reconnect_interval(Duration::from_millis(5))
            .build();
        for _ in 0..100 {
            statsd.increment("nobody.listens");
            statsd.flush();
        }
        let stats = statsd.stats();
        assert_eq!(stats.packets_dropped_unreachable, 100, "{stats:?}");
        let warnings = captured.lines_with("cannot send DogStatsD datagrams");
        assert_eq!(warnings.len(), 1, "{warnings:#?}");
        assert!(
            warnings[0].contains(&path.display().to_string())
                && warnings[0].contains("No such file or directory"),
            "{}",
            warnings[0]
        );

        // The receiver comes up: delivery resumes; it goes away: one new warning.
        let sink = DogStatsdSink::unix(&path);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            statsd.increment("delivered");
            statsd.flush();
            if sink
                .wait_for(Duration::from_millis(20), |messages| !messages.is_empty())
                .is_some()
            {
                break;
            }
            assert!(Instant::now() < deadline, "delivery did not resume");
        }
        drop(sink);
        for _ in 0..10 {
            statsd.increment("lost.again");
            statsd.flush();
        }
        assert_eq!(
            captured.lines_with("cannot send DogStatsD datagrams").len(),
            2,
            "one warning per outage"
        );
    });
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
