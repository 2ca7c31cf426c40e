//! Client-side aggregation of `datadog-statsd` loses nothing: totals, last gauges, set members
//! and every distribution value arrive at the Agent-normative sink.

use std::collections::BTreeSet;
use std::time::Duration;

use datadog_e2e_tests::dogstatsd_sink::{DogStatsdSink, MetricMessage};
use datadog_statsd::{Error, Event, Metric, Profile, StatsdBuilder};

const WAIT: Duration = Duration::from_secs(10);

/// An aggregating client flushed only by the test (no timer thread).
fn aggregating(sink: &DogStatsdSink) -> StatsdBuilder {
    StatsdBuilder::new()
        .url(sink.url())
        .telemetry(false)
        .background_thread(false)
}

fn named<'a>(metrics: &'a [MetricMessage], name: &str) -> Vec<&'a MetricMessage> {
    metrics.iter().filter(|m| m.name == name).collect()
}

fn value_count(messages: &[datadog_e2e_tests::dogstatsd_sink::Message], name: &str) -> usize {
    messages
        .iter()
        .filter_map(|m| match m {
            datadog_e2e_tests::dogstatsd_sink::Message::Metric(m) if m.name == name => {
                Some(m.values.len())
            }
            _ => None,
        })
        .sum()
}

#[test]
fn counts_gauges_sets_and_distributions_from_many_threads() {
    let sink = DogStatsdSink::udp();
    let statsd = aggregating(&sink).build();
    let threads = 4;
    let per_thread = 1000;
    std::thread::scope(|scope| {
        for t in 0..threads {
            let statsd = statsd.clone();
            scope.spawn(move || {
                for i in 0..per_thread {
                    statsd.count_with_tags("agg.count", i, &["env:test"]);
                    statsd.distribution_with_tags(
                        "agg.dist",
                        (t * per_thread + i) as f64,
                        &["env:test", "route:/"],
                    );
                    statsd.set("agg.set", &format!("member-{}", i % 50));
                }
            });
        }
    });
    for v in 1..=100 {
        statsd.gauge("agg.gauge", f64::from(v));
    }
    statsd.flush();
    let total_values = (threads * per_thread) as usize;
    sink.wait_for(WAIT, |messages| {
        value_count(messages, "agg.dist") >= total_values
    })
    .expect("every distribution value arrives");
    assert!(sink.malformed().is_empty(), "{:#?}", sink.malformed());
    let metrics = sink.metrics();

    let counts = named(&metrics, "agg.count");
    assert_eq!(counts.len(), 1, "one aggregated count");
    assert_eq!(counts[0].tags, ["env:test"]);
    let expected_total = threads * (0..per_thread).sum::<i64>();
    assert_eq!(counts[0].float_values(), [expected_total as f64]);

    let gauges = named(&metrics, "agg.gauge");
    assert_eq!(gauges.len(), 1);
    assert_eq!(gauges[0].values, ["100"], "the last gauge wins");

    let members: BTreeSet<String> = named(&metrics, "agg.set")
        .iter()
        .flat_map(|m| m.values.clone())
        .collect();
    let expected: BTreeSet<String> = (0..50).map(|i| format!("member-{i}")).collect();
    assert_eq!(members, expected);
    assert_eq!(named(&metrics, "agg.set").len(), 50, "each member once");

    let dists = named(&metrics, "agg.dist");
    let mut values: Vec<i64> = dists
        .iter()
        .flat_map(|m| m.float_values())
        .map(|v| v as i64)
        .collect();
    values.sort_unstable();
    assert_eq!(
        values,
        (0..threads * per_thread).collect::<Vec<_>>(),
        "every distribution value, once"
    );
    assert!(
        dists
            .iter()
            .all(|m| m.kind == "d" && m.sample_rate == 1.0 && m.tags == ["env:test", "route:/"])
    );
    assert!(
        dists.len() < 100,
        "values are packed ({} lines)",
        dists.len()
    );
    let stats = statsd.stats();
    assert_eq!(stats.packets_dropped, 0);
    assert_eq!(
        stats.aggregated_contexts, 4,
        "count, distribution, set, gauge"
    );
}

#[test]
fn packed_values_split_to_fit_small_datagrams() {
    let sink = DogStatsdSink::udp();
    let statsd = aggregating(&sink).max_payload(300).build();
    for i in 0..1000 {
        statsd.histogram_with_tags("packed.hist", f64::from(i) + 0.25, &["a:b"]);
        statsd.timing("packed.timing", Duration::from_millis(u64::from(i as u16)));
    }
    statsd.flush();
    sink.wait_for(WAIT, |m| {
        value_count(m, "packed.hist") >= 1000 && value_count(m, "packed.timing") >= 1000
    })
    .expect("all packed values arrive");
    assert!(sink.malformed().is_empty());
    assert!(sink.datagrams().iter().all(|d| d.len() <= 300));
    let metrics = sink.metrics();
    let hist: f64 = named(&metrics, "packed.hist")
        .iter()
        .flat_map(|m| m.float_values())
        .sum();
    assert_eq!(hist, (0..1000).map(|i| f64::from(i) + 0.25).sum::<f64>());
}

#[test]
fn reservoir_keeps_a_bounded_sample_with_the_effective_rate() {
    let sink = DogStatsdSink::udp();
    let statsd = aggregating(&sink).max_samples_per_context(100).build();
    for i in 0..1000 {
        statsd.distribution("reservoir", f64::from(i));
    }
    statsd.flush();
    sink.wait_for(WAIT, |m| value_count(m, "reservoir") >= 100)
        .expect("the reservoir arrives");
    let metrics = sink.metrics();
    let lines = named(&metrics, "reservoir");
    let kept: usize = lines.iter().map(|m| m.values.len()).sum();
    assert_eq!(kept, 100);
    // The Agent weights each value by 1/rate: the 1000 calls are represented.
    let represented: f64 = lines
        .iter()
        .map(|m| m.values.len() as f64 / m.sample_rate)
        .sum();
    assert!((represented - 1000.0).abs() < 1e-6, "{represented}");
}

#[test]
fn extended_aggregation_samples_and_forwards_the_rate() {
    let sink = DogStatsdSink::udp();
    let statsd = aggregating(&sink).build();
    for _ in 0..2000 {
        statsd.send(&Metric::distribution("sampled.dist", 1.0).sample_rate(0.25));
        // Aggregated counts are exact: their rate is not applied (as datadog-go does).
        statsd.send(&Metric::count("sampled.count", 1).sample_rate(0.25));
    }
    statsd.flush();
    sink.wait_for(WAIT, |m| value_count(m, "sampled.count") >= 1)
        .expect("the count arrives");
    let metrics = sink.metrics();
    let count = named(&metrics, "sampled.count");
    assert_eq!(
        (count[0].values.clone(), count[0].sample_rate),
        (vec!["2000".to_owned()], 1.0)
    );
    let dist = named(&metrics, "sampled.dist");
    let kept: usize = dist.iter().map(|m| m.values.len()).sum();
    assert!(kept > 0 && kept < 2000, "sampling kept {kept}");
    assert!(dist.iter().all(|m| m.sample_rate == 0.25));
}

#[test]
fn aggregation_can_be_switched_off_per_kind() {
    let sink = DogStatsdSink::udp();
    let statsd = aggregating(&sink).extended_aggregation(false).build();
    for _ in 0..5 {
        statsd.distribution("unpacked", 1.0);
        statsd.increment("still.aggregated");
    }
    statsd.flush();
    sink.wait_for_messages(6, WAIT);
    let metrics = sink.metrics();
    assert_eq!(named(&metrics, "unpacked").len(), 5);
    assert_eq!(named(&metrics, "still.aggregated")[0].values, ["5"]);
}

#[test]
fn context_limit_falls_back_to_plain_messages() {
    let sink = DogStatsdSink::udp();
    let statsd = aggregating(&sink).max_contexts(10).build();
    for i in 0..20 {
        statsd.count(&format!("ctx.{i}"), 1);
        statsd.count(&format!("ctx.{i}"), 1);
    }
    statsd.flush();
    sink.wait_for(WAIT, |m| m.len() >= 30)
        .expect("10 aggregated + 20 plain");
    let total: f64 = sink.metrics().iter().flat_map(|m| m.float_values()).sum();
    assert_eq!(total, 40.0);
}

#[test]
fn serverless_compat_profile_sends_what_that_receiver_understands() {
    let sink = DogStatsdSink::udp();
    let statsd = aggregating(&sink)
        .profile(Profile::ServerlessCompat)
        .build();
    for _ in 0..3 {
        statsd.histogram("compat.hist", 2.0);
        statsd.send(&Metric::distribution("compat.dist", 1.0).sample_rate(0.01));
    }
    statsd.set("compat.set", "x");
    assert!(matches!(
        statsd.event(&Event::new("t", "x")),
        Err(Error::Unsupported(_))
    ));
    statsd.flush();
    sink.wait_for_messages(6, WAIT);
    let metrics = sink.metrics();
    assert!(
        metrics.iter().all(|m| m.values.len() == 1),
        "nothing packed"
    );
    assert!(
        metrics
            .iter()
            .all(|m| m.kind == "d" && m.sample_rate == 1.0)
    );
    assert_eq!(named(&metrics, "compat.hist").len(), 3);
    assert_eq!(
        named(&metrics, "compat.dist").len(),
        3,
        "no client sampling"
    );
    assert!(named(&metrics, "compat.set").is_empty());
    assert_eq!(statsd.stats().invalid, 2);
}

#[test]
fn handles_record_into_the_same_contexts_across_windows() {
    use datadog_statsd::MetricType;
    let sink = DogStatsdSink::udp();
    let statsd = aggregating(&sink).namespace("app").build();
    let latency = statsd.handle(MetricType::Distribution, "latency", &["route:/users"]);
    let hits = statsd.handle(MetricType::Count, "hits", &[]);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let (latency, hits) = (latency.clone(), hits.clone());
            scope.spawn(move || {
                for i in 0..250 {
                    latency.record(f64::from(i));
                    hits.record(1.0);
                }
            });
        }
    });
    // The same context through a per-call API lands in the same line.
    statsd.distribution_with_tags("latency", 1000.0, &["route:/users"]);
    statsd.flush();
    sink.wait_for(WAIT, |m| value_count(m, "app.latency") >= 1001)
        .expect("every value");
    // A second window: the handle's context survives the flush.
    latency.record(7.0);
    statsd.flush();
    sink.wait_for(WAIT, |m| value_count(m, "app.latency") >= 1002)
        .expect("second window");
    let metrics = sink.metrics();
    let mut values: Vec<f64> = named(&metrics, "app.latency")
        .iter()
        .flat_map(|m| m.float_values())
        .collect();
    values.sort_by(f64::total_cmp);
    assert_eq!(values.len(), 1002);
    assert_eq!(
        values.iter().sum::<f64>(),
        4.0 * f64::from((0..250).sum::<i32>()) + 1007.0
    );
    assert!(
        named(&metrics, "app.latency")
            .iter()
            .all(|m| m.tags == ["route:/users"] && m.kind == "d")
    );
    assert_eq!(named(&metrics, "app.hits")[0].values, ["1000"]);

    // Without aggregation a handle sends every value as its own message.
    let plain = aggregating(&sink).aggregation(false).build();
    sink.clear();
    let gauge = plain.handle(MetricType::Gauge, "temp", &["room:a"]);
    gauge.record(20.5);
    gauge.record(f64::NAN);
    plain.flush();
    sink.wait_for_messages(1, WAIT);
    assert_eq!(sink.metrics()[0].values, ["20.5"]);
    assert_eq!(sink.metrics()[0].tags, ["room:a"]);
    assert_eq!(plain.stats().invalid, 1);
}
