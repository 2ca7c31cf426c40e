//! The client of the unreachable-socket fault test (`faults_statsd`), run as its own process so
//! the test reads its warnings where they go (JSON lines on stderr): nobody listens at the Unix
//! socket given as the argument (100 drops), a receiver comes up (delivery resumes), it goes away
//! again (a second outage). Exits non-zero when the client does not behave so.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use datadog_e2e_tests::dogstatsd_sink::DogStatsdSink;
use datadog_statsd::StatsdBuilder;

fn main() {
    let path = PathBuf::from(std::env::args_os().nth(1).expect("the socket path"));
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
}
