//! Cost per call of a distribution with two tags (the handler pattern of the Cloud Run samples),
//! sent over loopback UDP to a socket that a thread drains.
//!
//! Contenders, in one run: `datadog-statsd` aggregating (values packed per context; per call, and
//! through a pre-registered `MetricHandle`) and plain buffered (aggregation off), cadence's
//! `BufferedUdpMetricSink` (same 8192-byte datagrams), `QueuingMetricSink` over it, and
//! `UdpMetricSink` (one datagram per metric). A reference point that sends nothing: cadence's
//! formatting alone (its `NopMetricSink`), the floor under every cadence sink.
//!
//! Each round makes a chunk of calls and a flush, then waits until the drain thread counted every
//! value of the chunk: a contender that drops or merges data fails the run instead of winning it.
//!
//! What is measured is CPU time, not wall time (the build machine has 2 cores shared with other
//! jobs, so wall time mostly measures preemption): the calling thread's CPU during the calls and
//! the flush, plus the CPU of every other thread of the process over the whole round (our
//! background sender, cadence's queue worker), except the drain thread, which stands in for the
//! Agent. Work moved to a background thread is therefore still paid for.

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cadence::{
    BufferedUdpMetricSink, Distributed, NopMetricSink, QueuingMetricSink, StatsdClient,
    UdpMetricSink,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datadog_statsd::{Statsd, StatsdBuilder};

const PREFIX: &str = "our-sample-app";
const NAME: &str = "sample-metric";
const TAGS: [&str; 2] = ["env:test", "route:/users"];
/// Datagram size for every buffered contender (ours picks it for loopback by itself).
const PAYLOAD: usize = 8192;

/// CPU clocks: the calling thread's, and the whole process's minus the drain thread's (which the
/// drain publishes itself after each datagram).
struct CpuClock {
    drain_cpu_ns: Arc<AtomicU64>,
}

impl CpuClock {
    fn caller(&self) -> Duration {
        cpu_time::ThreadTime::now().as_duration()
    }

    fn process_without_drain(&self) -> Duration {
        cpu_time::ProcessTime::now()
            .as_duration()
            .saturating_sub(Duration::from_nanos(
                self.drain_cpu_ns.load(Ordering::Acquire),
            ))
    }
}

fn thread_cpu_ns() -> u64 {
    cpu_time::ThreadTime::now().as_duration().as_nanos() as u64
}

/// A loopback UDP socket and the thread that reads it, counting metric values (packed values
/// count one each).
struct Drain {
    port: u16,
    values: Arc<AtomicU64>,
    cpu_ns: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Drain {
    fn start() -> Drain {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)
            .expect("udp socket");
        // Room for bursts of one-datagram-per-metric while the drain catches up.
        let _ = socket.set_recv_buffer_size(4 << 20);
        socket
            .bind(
                &"127.0.0.1:0"
                    .parse::<std::net::SocketAddr>()
                    .unwrap()
                    .into(),
            )
            .expect("bind loopback");
        let socket: UdpSocket = socket.into();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("read timeout");
        let port = socket.local_addr().expect("local address").port();
        let values = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let cpu_ns = Arc::new(AtomicU64::new(0));
        let (counter, stopped, cpu) = (Arc::clone(&values), Arc::clone(&stop), Arc::clone(&cpu_ns));
        std::thread::Builder::new()
            .name("statsd-drain".into())
            .spawn(move || {
                let mut buf = vec![0u8; 65_536];
                while !stopped.load(Ordering::Relaxed) {
                    let Ok(len) = socket.recv(&mut buf) else {
                        cpu.store(thread_cpu_ns(), Ordering::Release);
                        continue;
                    };
                    let count: usize = buf[..len]
                        .split(|&b| b == b'\n')
                        .filter(|line| !line.is_empty())
                        .map(|line| {
                            let head = line.split(|&b| b == b'|').next().unwrap_or_default();
                            head.iter().filter(|&&b| b == b':').count()
                        })
                        .sum();
                    // CPU first: whoever sees the values also sees the CPU spent on them.
                    cpu.store(thread_cpu_ns(), Ordering::Release);
                    counter.fetch_add(count as u64, Ordering::AcqRel);
                }
            })
            .expect("spawn the drain");
        Drain {
            port,
            values,
            cpu_ns,
            stop,
        }
    }

    fn received(&self) -> u64 {
        self.values.load(Ordering::Acquire)
    }

    /// Waits (untimed) until `expected` values arrived; calls `nudge` meanwhile (for queues that
    /// drain in the background). Panics on loss.
    fn expect(&self, expected: u64, contender: &str, nudge: &dyn Fn()) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.received() < expected {
            assert!(
                Instant::now() < deadline,
                "{contender}: {} of {expected} values arrived; the run dropped data",
                self.received()
            );
            nudge();
            std::thread::sleep(Duration::from_micros(200));
        }
        assert_eq!(
            self.received(),
            expected,
            "{contender}: more values than calls"
        );
    }
}

impl Drop for Drain {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn ours(port: u16, aggregation: bool) -> Statsd {
    StatsdBuilder::new()
        .url(&format!("udp://127.0.0.1:{port}"))
        .namespace(PREFIX)
        .aggregation(aggregation)
        .telemetry(false)
        .build()
}

fn cadence_client<S: cadence::MetricSink + Send + Sync + std::panic::RefUnwindSafe + 'static>(
    sink: S,
) -> StatsdClient {
    StatsdClient::from_sink(PREFIX, sink)
}

fn cadence_call(client: &StatsdClient) {
    client
        .distribution_with_tags(NAME, 1)
        .with_tag("env", "test")
        .with_tag("route", "/users")
        .send();
}

/// Runs `iters` calls in chunks of `chunk`; returns the CPU they cost (see the module comment).
fn measure(
    clock: &CpuClock,
    drain: &Drain,
    contender: &str,
    iters: u64,
    chunk: u64,
    call: &dyn Fn(),
    flush: &dyn Fn(),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = chunk.min(iters - done);
        let expected = drain.received() + n;
        let process = clock.process_without_drain();
        for _ in 0..n {
            call();
        }
        flush();
        let waiting_from = clock.caller();
        drain.expect(expected, contender, flush);
        let waiting = clock.caller().saturating_sub(waiting_from);
        // The calls and the flush, plus what other threads did until every value arrived; not
        // the caller's own waiting.
        total += clock
            .process_without_drain()
            .saturating_sub(process)
            .saturating_sub(waiting);
        done += n;
    }
    total
}

fn distribution_with_two_tags(c: &mut Criterion) {
    let drain = Drain::start();
    let clock = CpuClock {
        drain_cpu_ns: Arc::clone(&drain.cpu_ns),
    };
    let port = drain.port;
    let target = format!("127.0.0.1:{port}");
    let local = || UdpSocket::bind("127.0.0.1:0").expect("sender socket");

    let aggregating = ours(port, true);
    let buffered = ours(port, false);
    assert_eq!(buffered.max_payload(), PAYLOAD);
    let cadence_buffered = cadence_client(
        BufferedUdpMetricSink::with_capacity(target.as_str(), local(), PAYLOAD).expect("sink"),
    );
    let cadence_queuing = cadence_client(QueuingMetricSink::with_capacity(
        BufferedUdpMetricSink::with_capacity(target.as_str(), local(), PAYLOAD).expect("sink"),
        1 << 16,
    ));
    let cadence_udp = cadence_client(UdpMetricSink::from(target.as_str(), local()).expect("sink"));
    let cadence_nop = cadence_client(NopMetricSink);

    let mut group = c.benchmark_group("statsd_distribution_2_tags");
    group.throughput(Throughput::Elements(1));
    // Nothing is delivered, so there is nothing to wait for: the calling thread's CPU only.
    group.bench_function("cadence_formatting_only", |b| {
        b.iter_custom(|iters| {
            let start = clock.caller();
            for _ in 0..iters {
                cadence_call(&cadence_nop);
            }
            clock.caller().saturating_sub(start)
        });
    });
    group.bench_function("datadog_statsd_aggregating", |b| {
        b.iter_custom(|iters| {
            measure(
                &clock,
                &drain,
                "aggregating",
                iters,
                1000,
                &|| aggregating.distribution_with_tags(NAME, 1.0, &TAGS),
                &|| aggregating.flush(),
            )
        });
    });
    let handle = aggregating.handle(datadog_statsd::MetricType::Distribution, NAME, &TAGS);
    group.bench_function("datadog_statsd_aggregating_handle", |b| {
        b.iter_custom(|iters| {
            measure(
                &clock,
                &drain,
                "aggregating handle",
                iters,
                1000,
                &|| handle.record(1.0),
                &|| aggregating.flush(),
            )
        });
    });
    group.bench_function("datadog_statsd_buffered", |b| {
        b.iter_custom(|iters| {
            measure(
                &clock,
                &drain,
                "buffered",
                iters,
                1000,
                &|| buffered.distribution_with_tags(NAME, 1.0, &TAGS),
                &|| buffered.flush(),
            )
        });
    });
    group.bench_function("cadence_buffered_udp", |b| {
        b.iter_custom(|iters| {
            measure(
                &clock,
                &drain,
                "cadence buffered",
                iters,
                1000,
                &|| cadence_call(&cadence_buffered),
                &|| drop(cadence_buffered.flush()),
            )
        });
    });
    group.bench_function("cadence_queuing_buffered_udp", |b| {
        b.iter_custom(|iters| {
            measure(
                &clock,
                &drain,
                "cadence queuing",
                iters,
                1000,
                &|| cadence_call(&cadence_queuing),
                &|| drop(cadence_queuing.flush()),
            )
        });
    });
    group.bench_function("cadence_udp_one_datagram_per_metric", |b| {
        b.iter_custom(|iters| {
            measure(
                &clock,
                &drain,
                "cadence udp",
                iters,
                200,
                &|| cadence_call(&cadence_udp),
                &|| {},
            )
        });
    });
    group.finish();
    assert_eq!(aggregating.stats().packets_dropped, 0);
    assert_eq!(buffered.stats().packets_dropped, 0);
}

criterion_group!(benches, distribution_with_two_tags);
criterion_main!(benches);
