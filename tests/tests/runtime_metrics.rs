//! Runtime metrics reach the workspace's DogStatsD sink with Datadog's names, types and tags,
//! and the `runtime-id` the tracer's root spans carry (read back from the real APM test agent).

use std::collections::HashSet;
use std::time::Duration;

use datadog_e2e_tests::dogstatsd_sink::{DogStatsdSink, Message, MetricMessage};
use datadog_e2e_tests::test_agent::TestAgent;
use datadog_statsd::StatsdBuilder;

const INTERVAL: Duration = Duration::from_millis(200);

const PROCESS_METRICS: [&str; 6] = [
    "runtime.rust.cpu.time.user",
    "runtime.rust.cpu.time.sys",
    "runtime.rust.cpu.percent",
    "runtime.rust.mem.rss",
    "runtime.rust.thread_count",
    "runtime.rust.fd_count",
];

const TOKIO_METRICS: [&str; 5] = [
    "runtime.rust.tokio.workers",
    "runtime.rust.tokio.alive_tasks",
    "runtime.rust.tokio.global_queue_depth",
    "runtime.rust.tokio.busy_percent",
    "runtime.rust.tokio.park_count",
];

fn metrics(messages: &[Message]) -> Vec<MetricMessage> {
    messages
        .iter()
        .filter_map(|message| match message {
            Message::Metric(metric) => Some(metric.clone()),
            _ => None,
        })
        .collect()
}

fn names(messages: &[Message]) -> HashSet<String> {
    metrics(messages)
        .into_iter()
        .map(|metric| metric.name)
        .collect()
}

/// The last value sent for `name`.
fn last(metrics: &[MetricMessage], name: &str) -> f64 {
    metrics
        .iter()
        .rev()
        .find(|metric| metric.name == name)
        .unwrap_or_else(|| panic!("{name} in {metrics:#?}"))
        .float_values()[0]
}

#[test]
fn gauges_arrive_tagged_with_the_tracers_runtime_id_and_stop_on_shutdown() {
    let sink = DogStatsdSink::udp();
    let agent = TestAgent::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (dispatch, guard) = datadog_subscriber::builder()
        .service("runtime-e2e")
        .env("test")
        .version("1.2.3")
        .filter("info")
        .tracer(|tracer| {
            tracer
                .agent_url(&agent.url())
                .flush_interval(Duration::from_millis(100))
                .tag("team", "apm")
        })
        .runtime_metrics(|metrics| {
            metrics
                .enabled(true)
                .interval(INTERVAL)
                .statsd(StatsdBuilder::new().url(sink.url()))
                .tokio_runtime(runtime.handle().clone())
        })
        .build();
    let runtime_id = guard.tracer().runtime_id().to_owned();

    // A root span, to read the runtime-id the traces carry.
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info_span!("work", resource = "work").in_scope(|| {});
    });
    // Some tasks for the runtime to count.
    let (release, wait) = tokio::sync::watch::channel(false);
    for _ in 0..3 {
        let mut wait = wait.clone();
        runtime.spawn(async move {
            while !*wait.borrow_and_update() && wait.changed().await.is_ok() {}
        });
    }

    // The CPU and busy figures are differences from the previous round (or the start).
    let every: HashSet<&str> = PROCESS_METRICS
        .iter()
        .chain(&TOKIO_METRICS)
        .copied()
        .collect();
    let messages = sink
        .wait_for(Duration::from_secs(20), |messages| {
            let seen = names(messages);
            every.iter().all(|name| seen.contains(*name))
        })
        .unwrap_or_else(|| {
            panic!(
                "every runtime metric within 20 s; got {:#?}",
                sink.metrics()
            )
        });
    let metrics = metrics(&messages);
    for metric in &metrics {
        assert!(metric.name.starts_with("runtime.rust."), "{metric:?}");
        assert_eq!(metric.kind, "g", "{metric:?}");
        for tag in [
            "service:runtime-e2e",
            "env:test",
            "version:1.2.3",
            "team:apm",
            "lang:rust",
            &format!("runtime-id:{runtime_id}"),
        ] {
            assert!(metric.tags.iter().any(|t| t == tag), "{tag} on {metric:?}");
        }
        assert!(
            metric.tags.iter().any(|t| t.starts_with("lang_version:")),
            "{metric:?}"
        );
        // Each tag once: the environment's service tags are not added a second time.
        let unique: HashSet<&String> = metric.tags.iter().collect();
        assert_eq!(unique.len(), metric.tags.len(), "{metric:?}");
    }
    assert!(last(&metrics, "runtime.rust.mem.rss") > 1_000_000.0);
    // The test thread, two workers, the metrics thread and more.
    assert!(last(&metrics, "runtime.rust.thread_count") >= 4.0);
    assert!(last(&metrics, "runtime.rust.fd_count") >= 3.0);
    assert!(last(&metrics, "runtime.rust.cpu.percent") >= 0.0);
    assert_eq!(last(&metrics, "runtime.rust.tokio.workers"), 2.0);
    assert_eq!(last(&metrics, "runtime.rust.tokio.alive_tasks"), 3.0);
    assert_eq!(last(&metrics, "runtime.rust.tokio.global_queue_depth"), 0.0);
    let busy = last(&metrics, "runtime.rust.tokio.busy_percent");
    assert!((0.0..=100.0).contains(&busy), "{busy}");

    // The root span carries the same runtime-id.
    assert!(guard.flush(Duration::from_secs(10)));
    let spans: Vec<serde_json::Value> = agent
        .wait_for_traces(Duration::from_secs(20), |traces| !traces.is_empty())
        .into_iter()
        .flatten()
        .collect();
    let work = spans.iter().find(|s| s["name"] == "work").unwrap();
    assert_eq!(work["meta"]["runtime-id"], runtime_id.as_str(), "{work:#?}");

    // Shutdown stops the thread: nothing more arrives.
    assert!(guard.shutdown(Duration::from_secs(10)));
    let rounds = guard.runtime_metrics().unwrap().rounds();
    assert!(rounds >= 1, "{rounds}");
    sink.clear();
    std::thread::sleep(INTERVAL * 4);
    assert!(sink.metrics().is_empty(), "{:#?}", sink.metrics());
    assert_eq!(guard.runtime_metrics().unwrap().rounds(), rounds);
    release.send(true).unwrap();
}

#[test]
fn nothing_is_sent_when_disabled() {
    let sink = DogStatsdSink::udp();
    let (_dispatch, guard) = datadog_subscriber::builder()
        .filter("info")
        .tracer(|tracer| tracer.enabled(false))
        .runtime_metrics(|metrics| {
            metrics
                .enabled(false)
                .interval(Duration::from_millis(20))
                .statsd(StatsdBuilder::new().url(sink.url()))
        })
        .build();
    assert!(guard.runtime_metrics().is_none());
    // Twenty-five intervals of the disabled setting.
    std::thread::sleep(Duration::from_millis(500));
    assert!(sink.messages().is_empty(), "{:#?}", sink.messages());
}

#[test]
fn no_receiver_on_the_dogstatsd_port_changes_nothing_and_shutdown_stays_prompt() {
    // Nobody listens on this port: every datagram is refused.
    let closed = datadog_e2e_tests::free_port();
    let (_dispatch, guard) = datadog_subscriber::builder()
        .filter("info")
        .tracer(|tracer| tracer.enabled(false))
        .runtime_metrics(|metrics| {
            metrics
                .enabled(true)
                .interval(Duration::from_millis(10))
                .statsd(StatsdBuilder::new().url(&format!("udp://127.0.0.1:{closed}")))
        })
        .build();
    let metrics = guard.runtime_metrics().expect("enabled");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while metrics.rounds() < 5 {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} rounds in 20 s",
            metrics.rounds()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let started = std::time::Instant::now();
    assert!(guard.shutdown(Duration::from_secs(10)));
    let took = started.elapsed();
    eprintln!("shutdown with runtime metrics on took {took:?}");
    let rounds = metrics.rounds();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(metrics.rounds(), rounds, "the thread stopped");
}
