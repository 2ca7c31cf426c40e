//! Every message type, tag, escape and limit of `datadog-statsd`, through real sockets into the
//! Agent-normative DogStatsD sink.

use std::collections::HashMap;
use std::time::Duration;

use datadog_e2e_tests::dogstatsd_sink::{DogStatsdSink, MetricMessage};
use datadog_statsd::{
    AlertType, Cardinality, Error, Event, Metric, Priority, ServiceCheck, Statsd, StatsdBuilder,
    Status,
};

const WAIT: Duration = Duration::from_secs(10);

/// A client sending every call as its own message (aggregation off), no telemetry.
fn plain(sink: &DogStatsdSink) -> StatsdBuilder {
    StatsdBuilder::new()
        .url(sink.url())
        .aggregation(false)
        .telemetry(false)
}

fn assert_clean(sink: &DogStatsdSink) {
    assert!(sink.malformed().is_empty(), "{:#?}", sink.malformed());
    assert_eq!(sink.truncated(), 0);
    for datagram in sink.datagrams() {
        assert!(
            datagram.ends_with(b"\n"),
            "every message is newline-terminated"
        );
    }
}

fn metric<'a>(metrics: &'a [MetricMessage], name: &str) -> &'a MetricMessage {
    metrics
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no metric {name} in {metrics:#?}"))
}

#[test]
fn every_metric_type_with_tags() {
    let sink = DogStatsdSink::udp();
    let statsd = plain(&sink).build();
    statsd.count_with_tags("t.count", 3, &["a:b"]);
    statsd.increment("t.incr");
    statsd.decrement("t.decr");
    statsd.gauge_with_tags("t.gauge", 0.5, &["a:b", "c"]);
    statsd.histogram("t.hist", 12.25);
    statsd.distribution("our-sample-app.sample-metric", 1.0);
    statsd.distribution_with_tags("t.dist", -2.5, &["route:/users"]);
    statsd.set_with_tags("t.set", "user-42", &["x:y"]);
    statsd.timing("t.timing", Duration::from_micros(1500));
    statsd.send(&Metric::timing_ms("t.timing_ms", 7.0));
    statsd.flush();
    sink.wait_for_messages(10, WAIT);
    assert_clean(&sink);
    let metrics = sink.metrics();
    let expect = |name: &str, kind: &str, values: &[&str], tags: &[&str]| {
        let m = metric(&metrics, name);
        assert_eq!(
            (m.kind.as_str(), &m.values, &m.tags),
            (
                kind,
                &values.iter().map(|v| (*v).to_owned()).collect(),
                &tags.iter().map(|v| (*v).to_owned()).collect()
            ),
            "{name}"
        );
        assert_eq!(m.sample_rate, 1.0);
    };
    expect("t.count", "c", &["3"], &["a:b"]);
    expect("t.incr", "c", &["1"], &[]);
    expect("t.decr", "c", &["-1"], &[]);
    expect("t.gauge", "g", &["0.5"], &["a:b", "c"]);
    expect("t.hist", "h", &["12.25"], &[]);
    expect("our-sample-app.sample-metric", "d", &["1"], &[]);
    expect("t.dist", "d", &["-2.5"], &["route:/users"]);
    expect("t.set", "s", &["user-42"], &["x:y"]);
    expect("t.timing", "ms", &["1.5"], &[]);
    expect("t.timing_ms", "ms", &["7"], &[]);
    let stats = statsd.stats();
    assert_eq!(
        (stats.metrics, stats.invalid, stats.packets_dropped),
        (10, 0, 0)
    );
    assert_eq!(stats.packets_sent, sink.datagrams().len() as u64);
}

#[test]
fn namespace_constant_tags_and_sanitising() {
    let sink = DogStatsdSink::udp();
    let statsd = plain(&sink)
        .namespace("app")
        .tag("team:web")
        .tags(["zone:a b"])
        .build();
    statsd.count_with_tags("bad:name|x@y#z,w", 1, &["bad|tag,x", "", "city:Zürich"]);
    statsd.flush();
    sink.wait_for_messages(1, WAIT);
    assert_clean(&sink);
    let m = &sink.metrics()[0];
    assert_eq!(m.name, "app.bad_name_x_y_z_w");
    assert_eq!(m.tags, ["bad_tag_x", "city:Zürich", "team:web", "zone:a_b"]);
}

#[test]
fn environment_configuration_reaches_the_wire() {
    let sink = DogStatsdSink::udp();
    let vars: HashMap<&str, String> = [
        ("DD_DOGSTATSD_URL", sink.url().to_owned()),
        ("DD_ENV", "test".to_owned()),
        ("DD_SERVICE", "web".to_owned()),
        ("DD_VERSION", "1.2.3".to_owned()),
        ("DD_TAGS", "team:a,zone:b".to_owned()),
        ("DD_ENTITY_ID", "pod-1".to_owned()),
        ("DD_EXTERNAL_ENV", "it-false,cn-app".to_owned()),
        ("DD_CARDINALITY", "low".to_owned()),
        ("K_SERVICE", "web".to_owned()),
        ("DD_DOGSTATSD_DISABLE_TELEMETRY", "true".to_owned()),
    ]
    .into_iter()
    .collect();
    let statsd = StatsdBuilder::from_lookup(|key| vars.get(key).cloned())
        .aggregation(false)
        .build();
    statsd.distribution("env.metric", 1.0);
    statsd.flush();
    sink.wait_for_messages(1, WAIT);
    assert_clean(&sink);
    let m = &sink.metrics()[0];
    assert_eq!(
        m.tags,
        [
            "env:test",
            "service:web",
            "version:1.2.3",
            "team:a",
            "zone:b",
            "dd.internal.entity_id:pod-1"
        ]
    );
    assert_eq!(m.external.as_deref(), Some("it-false,cn-app"));
    assert_eq!(m.cardinality.as_deref(), Some("low"));
    assert_eq!(m.container, None, "no origin detection on Cloud Run");
}

#[test]
fn container_id_cardinality_and_timestamps() {
    let sink = DogStatsdSink::udp();
    let statsd = plain(&sink)
        .container_id("abc123")
        .cardinality(Cardinality::Orchestrator)
        .build();
    statsd.send(&Metric::gauge("ts.gauge", 5.0).timestamp(1_656_581_400));
    statsd.send(
        &Metric::count("ts.count", 2)
            .timestamp(1_656_581_401)
            .cardinality(Cardinality::High),
    );
    // Timestamps only go on counts and gauges, and must be positive.
    statsd.send(&Metric::distribution("ts.dist", 1.0).timestamp(1_656_581_400));
    statsd.send(&Metric::gauge("ts.zero", 1.0).timestamp(0));
    statsd.gauge("nan.gauge", f64::NAN);
    statsd.count("", 1);
    statsd.flush();
    sink.wait_for_messages(2, WAIT);
    assert_clean(&sink);
    let metrics = sink.metrics();
    assert_eq!(metrics.len(), 2, "{metrics:#?}");
    let gauge = metric(&metrics, "ts.gauge");
    assert_eq!(gauge.timestamp, Some(1_656_581_400));
    assert_eq!(gauge.container.as_deref(), Some("ci-abc123"));
    assert_eq!(gauge.cardinality.as_deref(), Some("orchestrator"));
    let count = metric(&metrics, "ts.count");
    assert_eq!(
        (count.timestamp, count.cardinality.as_deref()),
        (Some(1_656_581_401), Some("high"))
    );
    assert_eq!(statsd.stats().invalid, 4);
}

#[test]
fn timestamped_points_bypass_aggregation() {
    let sink = DogStatsdSink::udp();
    let statsd = StatsdBuilder::new()
        .url(sink.url())
        .telemetry(false)
        .build();
    statsd.send(&Metric::count("ts.count", 1).timestamp(1_656_581_400));
    statsd.send(&Metric::count("ts.count", 1).timestamp(1_656_581_410));
    statsd.flush();
    sink.wait_for_messages(2, WAIT);
    let timestamps: Vec<_> = sink.metrics().iter().map(|m| m.timestamp).collect();
    assert_eq!(timestamps, [Some(1_656_581_400), Some(1_656_581_410)]);
}

#[test]
fn sample_rates_are_applied_by_the_client_and_sent() {
    let sink = DogStatsdSink::udp();
    let statsd = plain(&sink).build();
    let calls = 2000;
    for _ in 0..calls {
        statsd.send(&Metric::count("sampled", 1).sample_rate(0.5));
    }
    statsd.flush();
    let sent = statsd.stats().metrics;
    assert!(sent > 0 && sent < calls, "sampling kept {sent} of {calls}");
    let messages = sink.wait_for_messages(sent as usize, WAIT);
    assert_eq!(messages.len() as u64, sent);
    assert!(sink.metrics().iter().all(|m| m.sample_rate == 0.5));
    // Out-of-range rates mean "always".
    statsd.send(&Metric::count("unsampled", 1).sample_rate(7.0));
    statsd.flush();
    sink.wait_for_messages(sent as usize + 1, WAIT);
    assert_eq!(metric(&sink.metrics(), "unsampled").sample_rate, 1.0);
}

#[test]
fn events_with_utf8_lengths_and_escapes() {
    let sink = DogStatsdSink::udp();
    let statsd = plain(&sink).tag("env:test").build();
    statsd
        .event(
            &Event::new("Tïtle ✓", "line1\nline2 | ünïcode")
                .alert_type(AlertType::Warning)
                .priority(Priority::Low)
                .aggregation_key("deploy")
                .source_type("rust")
                .hostname("web-1")
                .timestamp(1_656_581_400)
                .tags(&["a:b"]),
        )
        .unwrap();
    statsd.event(&Event::new("multi\nline title", "")).unwrap();
    assert_eq!(
        statsd.event(&Event::new("", "text")),
        Err(Error::EmptyTitle)
    );
    let huge = "x".repeat(10_000);
    assert!(matches!(
        statsd.event(&Event::new("big", &huge)),
        Err(Error::TooLong { .. })
    ));
    statsd.flush();
    sink.wait_for_messages(2, WAIT);
    assert_clean(&sink);
    let events = sink.events();
    assert_eq!(events[0].title, "Tïtle ✓");
    assert_eq!(events[0].text, "line1\nline2 | ünïcode");
    assert_eq!(events[0].alert_type, "warning");
    assert_eq!(events[0].priority, "low");
    assert_eq!(events[0].aggregation_key.as_deref(), Some("deploy"));
    assert_eq!(events[0].source_type.as_deref(), Some("rust"));
    assert_eq!(events[0].hostname.as_deref(), Some("web-1"));
    assert_eq!(events[0].timestamp, Some(1_656_581_400));
    assert_eq!(events[0].tags, ["a:b", "env:test"]);
    assert_eq!(events[1].title, "multi\nline title");
    assert_eq!(events[1].text, "");
    let stats = statsd.stats();
    assert_eq!((stats.events, stats.invalid), (2, 2));
}

#[test]
fn service_checks_with_escaped_messages() {
    let sink = DogStatsdSink::udp();
    let statsd = plain(&sink).build();
    statsd
        .service_check(
            &ServiceCheck::new("db.reachable", Status::Critical)
                .message("m:boom\nsecond | line")
                .hostname("web-1")
                .timestamp(1_656_581_400)
                .tags(&["db:orders"]),
        )
        .unwrap();
    for status in [Status::Ok, Status::Warning, Status::Unknown] {
        statsd
            .service_check(&ServiceCheck::new("status", status))
            .unwrap();
    }
    assert_eq!(
        statsd.service_check(&ServiceCheck::new("", Status::Ok)),
        Err(Error::EmptyName)
    );
    statsd.flush();
    sink.wait_for_messages(4, WAIT);
    assert_clean(&sink);
    let checks = sink.service_checks();
    assert_eq!(checks[0].name, "db.reachable");
    assert_eq!(checks[0].status, 2);
    assert_eq!(
        checks[0].message.as_deref(),
        Some("m\\:boom\\nsecond / line")
    );
    assert_eq!(checks[0].hostname.as_deref(), Some("web-1"));
    assert_eq!(checks[0].timestamp, Some(1_656_581_400));
    assert_eq!(checks[0].tags, ["db:orders"]);
    let statuses: Vec<u8> = checks[1..].iter().map(|c| c.status).collect();
    assert_eq!(statuses, [0, 1, 3]);
}

#[test]
fn datagrams_respect_the_payload_limit_and_oversized_messages_are_refused() {
    let sink = DogStatsdSink::udp();
    let statsd = plain(&sink).max_payload(256).build();
    assert_eq!(statsd.max_payload(), 256);
    for i in 0..200 {
        statsd.count_with_tags("limit.count", i, &["k:v"]);
    }
    let long_name = "n".repeat(300);
    statsd.count(&long_name, 1);
    statsd.flush();
    sink.wait_for_messages(200, WAIT);
    assert_clean(&sink);
    let datagrams = sink.datagrams();
    assert!(datagrams.len() > 1);
    assert!(
        datagrams.iter().all(|d| d.len() <= 256),
        "a datagram exceeds 256 bytes"
    );
    let total: f64 = sink
        .metrics()
        .iter()
        .flat_map(MetricMessage::float_values)
        .sum();
    assert_eq!(total, f64::from((0..200).sum::<i32>()));
    assert_eq!(statsd.stats().invalid, 1, "the 300-byte name is refused");
}

#[test]
fn loopback_default_fills_datagrams_up_to_the_agent_buffer() {
    let sink = DogStatsdSink::udp();
    let statsd = plain(&sink).build();
    assert_eq!(statsd.max_payload(), 8192);
    for i in 0..2000 {
        statsd.distribution_with_tags("fill.metric", f64::from(i), &["env:test", "service:web"]);
    }
    statsd.flush();
    sink.wait_for_messages(2000, WAIT);
    assert_clean(&sink);
    let datagrams = sink.datagrams();
    assert!(datagrams.iter().all(|d| d.len() <= 8192));
    assert!(
        datagrams.iter().any(|d| d.len() > 8000),
        "full datagrams are used"
    );
}

#[test]
fn unix_datagram_and_stream_transports() {
    let dir = std::env::temp_dir().join(format!("dsd-protocol-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let gram = DogStatsdSink::unix(&dir.join("gram.sock"));
    let stream = DogStatsdSink::unix_stream(&dir.join("stream.sock"));
    for sink in [&gram, &stream] {
        let statsd = plain(sink).build();
        assert_eq!(statsd.max_payload(), 8192);
        for i in 0..500 {
            statsd.distribution_with_tags("uds.metric", f64::from(i), &["a:b"]);
        }
        statsd.event(&Event::new("over uds", "text")).unwrap();
        statsd.flush();
        sink.wait_for_messages(501, WAIT);
        assert_clean(sink);
        assert_eq!(statsd.stats().packets_dropped, 0);
    }
    drop((gram, stream));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cadence_code_shares_the_transport() {
    use datadog_statsd::cadence::{Counted, Distributed, StatsdClient};
    let sink = DogStatsdSink::udp();
    let statsd = plain(&sink).build();
    let client = StatsdClient::from_sink("legacy", statsd.cadence_sink());
    client.count("requests", 2).unwrap();
    client
        .distribution_with_tags("latency", 5)
        .with_tag("route", "/users")
        .send();
    client.flush().unwrap();
    sink.wait_for_messages(2, WAIT);
    assert_clean(&sink);
    let metrics = sink.metrics();
    assert_eq!(metric(&metrics, "legacy.requests").values, ["2"]);
    assert_eq!(metric(&metrics, "legacy.latency").tags, ["route:/users"]);
}

#[test]
fn global_client_and_flush_on_drop() {
    let sink = DogStatsdSink::udp();
    let previous = datadog_statsd::set_global(plain(&sink).namespace("global").build());
    drop(previous);
    datadog_statsd::global().distribution("metric", 1.0);
    datadog_statsd::shutdown_global();
    sink.wait_for_messages(1, WAIT);
    assert_eq!(sink.metrics()[0].name, "global.metric");

    // The last clone's drop flushes what is buffered and aggregated.
    let dropped = StatsdBuilder::new()
        .url(sink.url())
        .telemetry(false)
        .build();
    let clone = dropped.clone();
    dropped.count("on.drop", 2);
    clone.count("on.drop", 3);
    drop(dropped);
    drop(clone);
    sink.wait_for_messages(2, WAIT);
    assert_eq!(metric(&sink.metrics(), "on.drop").values, ["5"]);
}

#[test]
fn background_thread_flushes_and_reports_telemetry() {
    let sink = DogStatsdSink::udp();
    let statsd: Statsd = StatsdBuilder::new()
        .url(sink.url())
        .flush_interval(Duration::from_millis(10))
        .aggregation_interval(Duration::from_millis(20))
        .telemetry_interval(Duration::from_millis(20))
        .tag("env:test")
        .build();
    statsd.distribution("timer.flushed", 1.0);
    let messages = sink.wait_for(WAIT, |messages| {
        messages.iter().any(|m| matches!(m, datadog_e2e_tests::dogstatsd_sink::Message::Metric(m) if m.name == "timer.flushed"))
            && messages.iter().any(|m| matches!(m, datadog_e2e_tests::dogstatsd_sink::Message::Metric(m) if m.name == "datadog.dogstatsd.client.metrics" && m.values == ["1"]))
    });
    assert!(
        messages.is_some(),
        "no timed flush or telemetry: {:#?}",
        sink.messages()
    );
    let metrics = sink.metrics();
    let telemetry = metric(&metrics, "datadog.dogstatsd.client.metrics");
    assert_eq!(telemetry.kind, "c");
    assert!(telemetry.tags.contains(&"client:rust".to_owned()));
    assert!(telemetry.tags.contains(&"client_transport:udp".to_owned()));
    assert!(
        telemetry
            .tags
            .iter()
            .any(|t| t.starts_with("client_version:"))
    );
    assert!(telemetry.tags.contains(&"env:test".to_owned()));
    assert!(
        metrics
            .iter()
            .any(|m| m.name == "datadog.dogstatsd.client.metrics_by_type"
                && m.tags.contains(&"metrics_type:distribution".to_owned()))
    );
    assert_clean(&sink);
}
