//! The in-container sample under the Cloud Run emulator: Google's trace headers on every request,
//! the metadata server, `serverless-init`'s trace intake, SIGTERM then SIGKILL.

mod examples_support;

use std::time::Duration;

use datadog_e2e_tests::cloud_run::{self, CloudRun, Deployment, PROJECT, wait_for};
use examples_support::{PATIENCE, example_binary, log_matches_span, request_spans};
use serde_json::Value;

const SERVICE: &str = "hello-run";

fn deploy() -> CloudRun {
    let mut deployment = Deployment::new(&example_binary("in-container"), SERVICE);
    // No DD_SERVICE: on Cloud Run the service is K_SERVICE everywhere.
    deployment.env = vec![
        ("DD_ENV".into(), "staging".into()),
        ("DD_VERSION".into(), "1.2.3".into()),
    ];
    let cloud_run = CloudRun::start(&deployment);
    cloud_run.agent().start_session(None);
    // The project lookup runs beside serving: let it land before the lines this test reads.
    assert!(
        wait_for(PATIENCE, || (cloud_run.metadata().requests() > 0)
            .then_some(()))
        .is_some()
    );
    std::thread::sleep(Duration::from_millis(300));
    cloud_run
}

fn priority(span: &Value) -> f64 {
    span["metrics"]["_sampling_priority_v1"]
        .as_f64()
        .expect("a sampling priority")
}

fn hello_lines(cloud_run: &CloudRun) -> Vec<Value> {
    cloud_run
        .stdout_json()
        .into_iter()
        .filter(|line| line["message"] == "Hello world!")
        .collect()
}

#[test]
fn requests_with_only_googles_unsampled_context_are_kept_and_logged_under_googles_trace() {
    let mut cloud_run = deploy();
    let answers: Vec<_> = (0..20).map(|_| cloud_run.get("/", &[])).collect();
    assert!(answers.iter().all(|answer| answer.status == 200));
    // Google samples at most one of them.
    assert!(
        answers
            .iter()
            .filter(|answer| answer.google.sampled)
            .count()
            <= 1
    );

    let traces = cloud_run
        .agent()
        .wait_for_traces(PATIENCE, |traces| request_spans(traces).len() >= 20);
    let spans = request_spans(&traces);
    assert_eq!(spans.len(), 20, "{traces:#?}");
    let kept = spans.iter().filter(|span| priority(span) >= 1.0).count();
    assert!(kept >= 18, "only {kept} of 20 kept");

    let lines = wait_for(PATIENCE, || {
        let lines = hello_lines(&cloud_run);
        (lines.len() >= 20).then_some(lines)
    })
    .expect("a line per request");
    for answer in &answers {
        let google = answer.google;
        // Each span is the root of a new Datadog trace, linked to Google's.
        let span = spans
            .iter()
            .find(|span| {
                span["span_links"].as_array().is_some_and(|links| {
                    links.iter().any(|link| {
                        link["trace_id"].as_u64() == Some(google.trace_id as u64)
                            && link["span_id"].as_u64() == Some(google.span_id)
                    })
                })
            })
            .unwrap_or_else(|| panic!("no span linked to {google:?}: {spans:#?}"));
        assert_eq!(span["parent_id"], 0, "rooted at the request span: {span}");
        assert_ne!(span["trace_id"].as_u64(), Some(google.trace_id as u64));

        // Its log line: Datadog's ids for Datadog, Google's trace for Cloud Logging.
        let line = lines
            .iter()
            .find(|line| log_matches_span(line, span))
            .unwrap_or_else(|| panic!("no log line for {span}"));
        assert_eq!(
            line["logging.googleapis.com/trace"],
            format!("projects/{PROJECT}/traces/{}", google.trace_id_hex())
        );
        assert_eq!(line["logging.googleapis.com/trace_sampled"], google.sampled);
        let span_id = span["span_id"].as_u64().unwrap();
        assert_eq!(
            line["logging.googleapis.com/spanId"],
            format!("{span_id:016x}")
        );

        // One identity: K_SERVICE, DD_ENV, DD_VERSION on both.
        assert_eq!(span["service"], SERVICE);
        assert_eq!(line["dd.service"], SERVICE);
        assert_eq!(span["meta"]["env"], "staging");
        assert_eq!(line["dd.env"], "staging");
        assert_eq!(span["meta"]["version"], "1.2.3");
        assert_eq!(line["dd.version"], "1.2.3");
    }

    let ended = cloud_run.terminate();
    assert!(ended.status.success() && !ended.killed, "{ended:?}");
    assert!(ended.elapsed < cloud_run::SIGKILL_AFTER, "{ended:?}");
}

#[test]
fn datadog_upstream_contexts_keep_their_trace_and_priority_through_googles_frontend() {
    let cloud_run = deploy();
    // A Datadog caller with Datadog headers only: Google starts its own trace beside it.
    let answer = cloud_run.get(
        "/",
        &[
            ("x-datadog-trace-id", "1234567890123"),
            ("x-datadog-parent-id", "987654321"),
            ("x-datadog-sampling-priority", "2"),
        ],
    );
    assert_eq!(answer.status, 200);
    // A Datadog caller writing W3C: Google keeps the trace id and rewrites the parent id.
    let upstream = "00-0000000000000000000000000000abcd-00000000000004d2-00";
    let answer_w3c = cloud_run.get(
        "/",
        &[
            ("traceparent", upstream),
            ("tracestate", "dd=s:-1;p:00000000000004d2"),
        ],
    );
    assert_eq!(answer_w3c.google.trace_id, 0xabcd);
    assert_ne!(answer_w3c.google.span_id, 0x4d2);

    let traces = cloud_run
        .agent()
        .wait_for_traces(PATIENCE, |traces| request_spans(traces).len() >= 2);
    let spans = request_spans(&traces);
    let datadog = spans
        .iter()
        .find(|span| span["trace_id"] == 1_234_567_890_123_u64)
        .expect("the Datadog trace continued");
    assert_eq!(datadog["parent_id"], 987_654_321);
    assert!((priority(datadog) - 2.0).abs() < f64::EPSILON);

    let w3c = spans
        .iter()
        .find(|span| span["trace_id"] == 0xabcd)
        .expect("the W3C Datadog trace continued");
    assert!((priority(w3c) + 1.0).abs() < f64::EPSILON);
    // The frontend's span is the parent; the last Datadog span is kept for the backend.
    assert_eq!(w3c["parent_id"].as_u64(), Some(answer_w3c.google.span_id));
    assert_eq!(w3c["meta"]["_dd.parent_id"], "00000000000004d2");

    // The Cloud Logging field still names the Google trace of each request.
    let lines = wait_for(PATIENCE, || {
        let lines = hello_lines(&cloud_run);
        (lines.len() >= 2).then_some(lines)
    })
    .unwrap();
    let line = lines
        .iter()
        .find(|line| log_matches_span(line, datadog))
        .unwrap();
    assert_eq!(
        line["logging.googleapis.com/trace"],
        format!("projects/{PROJECT}/traces/{}", answer.google.trace_id_hex())
    );
}

#[test]
fn a_metadata_server_that_refuses_or_hangs_never_holds_a_request() {
    for behavior in [
        cloud_run::MetadataBehavior::Status(404),
        cloud_run::MetadataBehavior::Hang,
        cloud_run::MetadataBehavior::Impostor("<html>proxy</html>".into()),
    ] {
        let mut deployment = Deployment::new(&example_binary("in-container"), SERVICE);
        deployment.metadata = behavior.clone();
        let mut cloud_run = CloudRun::start(&deployment);
        let answer = cloud_run.get("/", &[]);
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (200, "Hello World!"),
            "{behavior:?}"
        );
        let lines = wait_for(PATIENCE, || {
            let lines = hello_lines(&cloud_run);
            (!lines.is_empty()).then_some(lines)
        })
        .unwrap();
        // No project: no Cloud Logging trace field, Datadog's correlation as usual.
        assert!(
            lines[0].get("logging.googleapis.com/trace").is_none(),
            "{behavior:?}"
        );
        assert!(lines[0]["dd.trace_id"].is_string());
        let ended = cloud_run.terminate();
        assert!(
            ended.status.success() && !ended.killed,
            "{behavior:?}: {ended:?}"
        );
        if behavior != cloud_run::MetadataBehavior::Hang {
            let warned = cloud_run
                .stderr()
                .iter()
                .any(|line| line.contains("metadata server"));
            assert!(warned, "{behavior:?}: {:?}", cloud_run.stderr());
        }
    }
}

#[test]
fn a_sigterm_right_after_the_startup_probe_still_exits_cleanly() {
    // Cloud Run may stop an instance as soon as it started (a scale-down, a new revision): the
    // signal must find the handler in place the moment the port accepts.
    for _ in 0..3 {
        let mut cloud_run =
            CloudRun::start(&Deployment::new(&example_binary("in-container"), SERVICE));
        let ended = cloud_run.terminate();
        assert!(ended.status.success() && !ended.killed, "{ended:?}");
    }
}
