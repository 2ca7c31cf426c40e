//! Shape tests of the log layer: every line is parsed back with `serde_json`.

use std::io;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use serde_json::{Map, Value};
use tracing::field;
use tracing_core::Subscriber;
use tracing_core::span::{Attributes, Id};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use super::LogConfig;
use crate::context::{SamplingPriority, SpanContext, SpanId, TraceId};
use crate::correlation::CorrelationIds;
use crate::tracer::with_remote_parent;

/// Collects written lines in memory.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    fn lines(&self) -> Vec<Map<String, Value>> {
        let bytes = self.0.lock().unwrap().clone();
        let text = String::from_utf8(bytes).expect("lines are UTF-8");
        text.lines()
            .map(|line| match serde_json::from_str(line) {
                Ok(Value::Object(object)) => object,
                other => panic!("not a JSON object ({other:?}): {line}"),
            })
            .collect()
    }

    fn only_line(&self) -> Map<String, Value> {
        let mut lines = self.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        lines.remove(0)
    }
}

impl io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl MakeWriter<'_> for Capture {
    type Writer = Capture;
    fn make_writer(&self) -> Capture {
        self.clone()
    }
}

/// Stands in for the tracer layer: spans with a `trace` field (a u128) get that trace id and
/// their own id as span id, sampled when `sampled` is set.
struct FakeTracer;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for FakeTracer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        struct Find(Option<u128>, bool);
        impl field::Visit for Find {
            fn record_u128(&mut self, field: &field::Field, value: u128) {
                if field.name() == "trace" {
                    self.0 = Some(value);
                }
            }
            fn record_u64(&mut self, field: &field::Field, value: u64) {
                if field.name() == "trace" {
                    self.0 = Some(u128::from(value));
                }
            }
            fn record_bool(&mut self, field: &field::Field, value: bool) {
                if field.name() == "sampled" {
                    self.1 = value;
                }
            }
            fn record_debug(&mut self, _: &field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut find = Find(None, false);
        attrs.record(&mut find);
        if let (Some(trace), Some(span)) = (find.0, ctx.span(id)) {
            span.extensions_mut().insert(CorrelationIds {
                trace_id: TraceId::from_u128(trace),
                span_id: SpanId::new(id.into_u64()),
                sampled: find.1,
                cloud_trace: None,
            });
        }
    }
}

fn capture_with(config: LogConfig, work: impl FnOnce()) -> Capture {
    let capture = Capture::default();
    let layer = config.build_with_writer(capture.clone());
    let subscriber = tracing_subscriber::registry().with(FakeTracer).with(layer);
    tracing::subscriber::with_default(subscriber, work);
    capture
}

#[test]
fn a_line_has_the_datadog_and_google_attributes() {
    let capture = capture_with(
        LogConfig::default()
            .service("checkout")
            .env("prod")
            .version("1.2.3"),
        || tracing::warn!(user = 42, ratio = 0.5, ok = true, "low stock"),
    );
    let line = capture.only_line();
    assert_eq!(line["status"], "warn");
    assert_eq!(line["severity"], "WARNING");
    assert_eq!(line["message"], "low stock");
    assert_eq!(line["logger.name"], module_path!());
    assert!(
        line["logger.thread_name"]
            .as_str()
            .is_some_and(|name| !name.is_empty())
    );
    assert_eq!(line["user"], 42);
    assert_eq!(line["ratio"], 0.5);
    assert_eq!(line["ok"], true);
    assert_eq!(line["dd.service"], "checkout");
    assert_eq!(line["dd.env"], "prod");
    assert_eq!(line["dd.version"], "1.2.3");
    // Outside any trace: no ids.
    assert!(!line.contains_key("dd.trace_id"));
    let timestamp = line["timestamp"].as_str().unwrap();
    assert_eq!(timestamp.len(), "2026-11-22T05:00:00.123456Z".len());
    assert!(timestamp.ends_with('Z') && timestamp.as_bytes()[10] == b'T');
}

#[test]
fn every_level_maps_to_a_status_and_a_severity() {
    let capture = capture_with(LogConfig::default(), || {
        tracing::error!("e");
        tracing::warn!("w");
        tracing::info!("i");
        tracing::debug!("d");
        tracing::trace!("t");
    });
    let pairs: Vec<(String, String)> = capture
        .lines()
        .iter()
        .map(|line| {
            (
                line["status"].as_str().unwrap().to_owned(),
                line["severity"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("error", "ERROR"),
        ("warn", "WARNING"),
        ("info", "INFO"),
        ("debug", "DEBUG"),
        ("debug", "DEBUG"),
    ];
    assert_eq!(pairs.len(), expected.len());
    for ((status, severity), (want_status, want_severity)) in pairs.iter().zip(expected) {
        assert_eq!(
            (status.as_str(), severity.as_str()),
            (want_status, want_severity)
        );
    }
}

#[test]
fn ids_come_from_the_innermost_tracked_span() {
    let trace = 0x6553_a1b2_0000_0000_0000_0000_0000_002a_u128;
    let mut inner_id = 0;
    let capture = capture_with(LogConfig::default().gcp_project("my-project"), || {
        let outer = tracing::info_span!("outer", trace = trace, sampled = true, tenant = "acme");
        let _outer = outer.enter();
        let inner = tracing::info_span!("inner", trace = trace, sampled = true, step = 2);
        inner_id = inner.id().unwrap().into_u64();
        let _inner = inner.enter();
        // An untracked span in between does not hide the tracked one.
        let _plain = tracing::info_span!("plain").entered();
        tracing::info!("inside");
    });
    let line = capture.only_line();
    assert_eq!(line["dd.trace_id"], "6553a1b200000000000000000000002a");
    assert_eq!(line["dd.span_id"], inner_id.to_string());
    assert_eq!(
        line["logging.googleapis.com/trace"],
        "projects/my-project/traces/6553a1b200000000000000000000002a"
    );
    assert_eq!(
        line["logging.googleapis.com/spanId"],
        format!("{inner_id:016x}")
    );
    assert_eq!(line["logging.googleapis.com/trace_sampled"], true);
    // Span fields of every span in scope.
    assert_eq!(line["tenant"], "acme");
    assert_eq!(line["step"], 2);
}

#[test]
fn a_64_bit_trace_id_is_decimal_and_128_bit_logging_can_be_turned_off() {
    let trace = 0x6553_a1b2_0000_0000_ffff_ffff_ffff_fffe_u128;
    for (config, expected) in [
        (
            LogConfig::default(),
            "6553a1b200000000fffffffffffffffe".to_owned(),
        ),
        (
            LogConfig::default().trace_id_128_logging(false),
            u64::MAX.wrapping_sub(1).to_string(),
        ),
    ] {
        let capture = capture_with(config, || {
            tracing::info_span!("s", trace = trace).in_scope(|| tracing::info!("x"));
        });
        assert_eq!(capture.only_line()["dd.trace_id"], expected);
    }
    let capture = capture_with(LogConfig::default(), || {
        tracing::info_span!("s", trace = 12_345_u64).in_scope(|| tracing::info!("x"));
    });
    assert_eq!(capture.only_line()["dd.trace_id"], "12345");
}

#[test]
fn the_remote_parent_stamps_lines_outside_tracked_spans() {
    let mut remote = SpanContext::new(TraceId::from_u128(77), SpanId::new(88));
    remote.sampling_priority = Some(SamplingPriority::USER_KEEP);
    let capture = capture_with(LogConfig::default().gcp_project("p"), || {
        with_remote_parent(Some(Arc::new(remote)), || tracing::info!("remote parent"));
    });
    let line = capture.only_line();
    assert_eq!(line["dd.trace_id"], "77");
    assert_eq!(line["dd.span_id"], "88");
    assert_eq!(line["logging.googleapis.com/trace_sampled"], true);
    assert_eq!(
        line["logging.googleapis.com/trace"],
        "projects/p/traces/0000000000000000000000000000004d"
    );
}

#[test]
fn injection_off_removes_the_correlation_fields() {
    let capture = capture_with(LogConfig::default().service("svc").injection(false), || {
        tracing::info_span!("s", trace = 5_u64).in_scope(|| tracing::info!("x"));
    });
    let line = capture.only_line();
    for key in ["dd.trace_id", "dd.span_id", "dd.service"] {
        assert!(!line.contains_key(key), "{key} in {line:?}");
    }
}

#[test]
fn span_fields_can_be_left_out_and_late_records_are_kept() {
    let capture = capture_with(LogConfig::default(), || {
        let span = tracing::info_span!("s", route = field::Empty);
        span.record("route", "/users/{id}");
        span.in_scope(|| tracing::info!("x"));
    });
    assert_eq!(capture.only_line()["route"], "/users/{id}");

    let capture = capture_with(LogConfig::default().span_fields(false), || {
        tracing::info_span!("s", trace = 9_u64, tenant = "acme").in_scope(|| tracing::info!("x"));
    });
    let line = capture.only_line();
    assert!(!line.contains_key("tenant"));
    assert_eq!(line["dd.trace_id"], "9");
}

#[test]
fn lines_leave_the_span_datadog_metadata_to_the_trace() {
    let capture = capture_with(LogConfig::default(), || {
        let span = tracing::info_span!(
            "request",
            span.kind = "server",
            span.type = "web",
            component = "axum",
            _dd.measured = 1,
            http.route = "/users/{id}",
            resource = "GET /users/{id}",
        );
        span.in_scope(|| {
            // An event's own fields are written whatever their names.
            tracing::info!(component = "billing", "x");
        });
    });
    let line = capture.only_line();
    for key in ["span.kind", "span.type", "_dd.measured"] {
        assert!(!line.contains_key(key), "{key} in {line:?}");
    }
    assert_eq!(line["component"], "billing");
    assert_eq!(line["http.route"], "/users/{id}");
    assert_eq!(line["resource"], "GET /users/{id}");
}

#[test]
fn deep_scopes_write_every_span_root_first_with_the_innermost_ids() {
    fn nest(depth: u64) {
        match depth {
            40 => tracing::info!("deep"),
            // Past the recursive walk: its ids still win over the root's.
            35 => tracing::info_span!("tracked", depth, trace = 3_u64).in_scope(|| nest(depth + 1)),
            _ => tracing::info_span!("level", depth).in_scope(|| nest(depth + 1)),
        }
    }
    let capture = capture_with(LogConfig::default(), || {
        tracing::info_span!("root", tenant = "acme", trace = 1_u64).in_scope(|| nest(0));
    });
    let raw = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert_eq!(raw.matches("\"depth\":").count(), 40, "{raw}");
    let line = capture.only_line();
    assert_eq!(line["tenant"], "acme");
    // Root first: the innermost span's value is the one a JSON reader keeps.
    assert_eq!(line["depth"], 39);
    assert_eq!(line["dd.trace_id"], "3");
}

#[test]
fn errors_fill_the_error_attributes() {
    let error = std::fs::read("/definitely/not/here").unwrap_err();
    let capture = capture_with(LogConfig::default(), || {
        tracing::error!(
            error = &error as &(dyn std::error::Error + 'static),
            "read failed"
        );
    });
    let line = capture.only_line();
    assert_eq!(line["error"], error.to_string());
    assert_eq!(line["error.message"], error.to_string());
    assert_eq!(line["error.kind"], "std::io::Error");
    assert_eq!(line["error.stack"], format!("{error:?}"));
}

#[test]
fn the_error_kind_of_a_derived_debug_error_is_its_type_name() {
    let error = "x".parse::<u32>().unwrap_err();
    let capture = capture_with(LogConfig::default(), || {
        tracing::warn!(
            error = &error as &(dyn std::error::Error + 'static),
            "bad number"
        );
    });
    let line = capture.only_line();
    assert_eq!(line["error.kind"], "ParseIntError");
    assert_eq!(line["error.message"], "invalid digit found in string");
}

#[test]
fn fields_named_like_reserved_attributes_do_not_replace_them() {
    let capture = capture_with(LogConfig::default(), || {
        tracing::info!(status = 500, timestamp = "yesterday", "x");
    });
    let line = capture.only_line();
    assert_eq!(line["status"], "info");
    assert_eq!(line["fields.status"], 500);
    assert_eq!(line["fields.timestamp"], "yesterday");
}

#[test]
fn huge_values_are_cut_to_the_limit() {
    let huge = "x".repeat(100_000);
    let capture = capture_with(LogConfig::default().max_value_bytes(1000), || {
        tracing::info!(blob = %huge, "x");
    });
    let blob = capture.only_line()["blob"].as_str().unwrap().to_owned();
    assert!(blob.starts_with(&"x".repeat(1000)));
    assert!(blob.len() < 1100, "{}", blob.len());
}

#[test]
fn a_debug_impl_that_logs_does_not_break_the_line() {
    struct Noisy;
    impl std::fmt::Debug for Noisy {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            tracing::info!("nested");
            f.write_str("noisy")
        }
    }
    let capture = capture_with(
        LogConfig::default(),
        || tracing::info!(value = ?Noisy, "outer"),
    );
    // `tracing` drops events raised while the subscriber is busy; the outer line stays whole.
    let line = capture.only_line();
    assert_eq!(line["value"], "noisy");
    assert_eq!(line["message"], "outer");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_field_content_gives_one_valid_json_line(
        text in any::<String>(),
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
        number in any::<f64>(),
        signed in any::<i128>(),
    ) {
        let lossy = String::from_utf8_lossy(&bytes).into_owned();
        let capture = capture_with(LogConfig::default().max_value_bytes(40), || {
            let span = tracing::info_span!("s", trace = 1_u64, label = %text);
            span.in_scope(|| {
                tracing::info!(
                    text = %text,
                    debug = ?text,
                    bytes = ?bytes,
                    lossy = lossy.as_str(),
                    number,
                    signed,
                    "{text}"
                );
            });
        });
        let line = capture.only_line();
        let raw = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        let expected = format!("\"signed\":{signed}");
        prop_assert!(raw.contains(&expected), "{} not in {}", expected, raw);
        if number.is_finite() {
            // The written digits round-trip exactly; serde_json's default float parser can be
            // off (by more than a relative 1e-15 for subnormals), so read them with Rust's.
            prop_assert!(line["number"].is_number());
            let digits = raw.split("\"number\":").nth(1).unwrap();
            let digits = &digits[..digits.find([',', '}']).unwrap()];
            prop_assert_eq!(digits.parse::<f64>().unwrap().to_bits(), number.to_bits());
        } else {
            prop_assert!(line["number"].is_string());
        }
        let message = line["message"].as_str().unwrap();
        prop_assert!(text.starts_with(message.trim_end_matches("...(truncated)")));
    }
}
