//! Faults between `datadog-statsd` and its receiver: nothing blocks, drops are counted, delivery
//! resumes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use datadog_e2e_tests::dogstatsd_sink::{DogStatsdSink, Message};
use datadog_statsd::{Statsd, StatsdBuilder};

const WAIT: Duration = Duration::from_secs(10);

fn plain(url: &str) -> Statsd {
    StatsdBuilder::new()
        .url(url)
        .aggregation(false)
        .telemetry(false)
        .background_thread(false)
        .reconnect_interval(Duration::from_millis(5))
        .build()
}

fn temp_socket(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dsd-faults-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("dsd.socket")
}

/// Sends one metric per datagram until the sink has one, or the deadline passes.
fn send_until_delivered(statsd: &Statsd, sink: &DogStatsdSink, name: &str) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        statsd.increment(name);
        statsd.flush();
        if sink
            .wait_for(Duration::from_millis(20), |messages| {
                messages
                    .iter()
                    .any(|m| matches!(m, Message::Metric(metric) if metric.name == name))
            })
            .is_some()
        {
            return;
        }
    }
    panic!("delivery did not resume: {:?}", statsd.stats());
}

#[test]
fn udp_without_a_listener_counts_refusals_then_delivers() {
    // A port with nobody on it: the connected socket reports the ICMP refusals.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let statsd = plain(&format!("udp://127.0.0.1:{port}"));
    for _ in 0..100 {
        statsd.increment("refused");
        statsd.flush();
    }
    let stats = statsd.stats();
    assert!(stats.packets_dropped_unreachable > 0, "{stats:?}");
    assert_eq!(stats.packets_sent + stats.packets_dropped, 100);

    // The sidecar comes up: the same client delivers.
    let sink = DogStatsdSink::udp_at(port);
    send_until_delivered(&statsd, &sink, "delivered");
    assert_eq!(sink.metrics()[0].name, "delivered");
}

#[test]
fn unix_socket_removed_and_recreated() {
    let path = temp_socket("recreated");
    let sink = DogStatsdSink::unix(&path);
    let statsd = plain(&format!("unixgram://{}", path.display()));
    statsd.increment("before");
    statsd.flush();
    sink.wait_for_messages(1, WAIT);

    drop(sink); // removes the socket file
    for _ in 0..10 {
        statsd.increment("lost");
        statsd.flush();
    }
    assert!(
        statsd.stats().packets_dropped_unreachable >= 10,
        "{:?}",
        statsd.stats()
    );

    let sink = DogStatsdSink::unix(&path);
    send_until_delivered(&statsd, &sink, "after");
    assert!(sink.metrics().iter().all(|m| m.name == "after"));
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn unix_stream_listener_restarted() {
    let path = temp_socket("stream");
    let sink = DogStatsdSink::unix_stream(&path);
    let statsd = plain(&format!("unixstream://{}", path.display()));
    statsd.increment("before");
    statsd.flush();
    sink.wait_for_messages(1, WAIT);
    drop(sink);
    // Writes into a closed stream fail (or vanish in the dead socket's buffer): never block.
    for _ in 0..10 {
        statsd.increment("lost");
        statsd.flush();
    }
    let sink = DogStatsdSink::unix_stream(&path);
    send_until_delivered(&statsd, &sink, "after");
    assert!(statsd.stats().packets_dropped > 0, "{:?}", statsd.stats());
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn a_sink_slower_than_the_sender_never_blocks_it() {
    let path = temp_socket("slow");
    let sink = DogStatsdSink::unix(&path);
    sink.pause();
    let statsd = plain(&format!("unix://{}", path.display()));
    // Far more datagrams than the Unix datagram queue holds, with nobody reading.
    let datagrams: u32 = 5000;
    for i in 0..datagrams {
        statsd.distribution_with_tags("flood", f64::from(i), &["a:b"]);
        statsd.flush();
    }
    let stats = statsd.stats();
    assert!(stats.packets_dropped_writer > 0, "{stats:?}");
    assert_eq!(
        stats.packets_sent + stats.packets_dropped,
        u64::from(datagrams)
    );

    sink.resume();
    sink.wait_for_messages(stats.packets_sent as usize, WAIT);
    assert_eq!(
        sink.messages().len() as u64,
        stats.packets_sent,
        "what was sent arrives"
    );
    sink.clear();
    statsd.increment("after");
    statsd.flush();
    sink.wait_for_messages(1, WAIT);
    assert!(sink.malformed().is_empty());
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn a_paused_udp_sink_loses_datagrams_in_its_kernel_buffer_only() {
    let sink = DogStatsdSink::udp();
    sink.pause();
    let statsd = plain(sink.url());
    for i in 0..20_000 {
        statsd.distribution("flood", f64::from(i));
        statsd.flush();
    }
    sink.resume();
    sink.clear();
    send_until_delivered(&statsd, &sink, "after");
    assert!(sink.malformed().is_empty());
}
