//! The sidecar sample under the Cloud Run emulator with request-based billing: the container is
//! frozen whenever no request is in flight, yet each request's trace, log lines (stdout and the
//! shared volume's `app.log`) and metric reach the `serverless-init` side by the end of the next
//! request, and everything by exit after SIGTERM.

mod examples_support;

use std::time::Duration;

use datadog_e2e_tests::cloud_run::{CloudRun, Deployment, wait_for};
use datadog_e2e_tests::dogstatsd_sink::MetricMessage;
use examples_support::{PATIENCE, TempDir, example_binary, log_matches_span, request_spans};
use serde_json::Value;

const SERVICE: &str = "sidecar-run";
const METRIC: &str = "our-sample-app.sample-metric";
const REQUESTS: usize = 6;
/// How long a check waits for data the frozen container sent before it was frozen (the peers are
/// not frozen: they only need time to read it).
const SETTLE: Duration = Duration::from_secs(5);

struct Delivered {
    spans: Vec<Value>,
    stdout: Vec<Value>,
    file: Vec<Value>,
    metric_values: usize,
    metrics: Vec<MetricMessage>,
}

fn delivered(cloud_run: &CloudRun) -> Delivered {
    let hello = |lines: Vec<Value>| -> Vec<Value> {
        lines
            .into_iter()
            .filter(|line| line["message"] == "Hello world!")
            .collect()
    };
    let metrics: Vec<MetricMessage> = cloud_run
        .statsd()
        .metrics()
        .into_iter()
        .filter(|metric| metric.name == METRIC)
        .collect();
    Delivered {
        spans: request_spans(&cloud_run.agent().traces()),
        stdout: hello(cloud_run.stdout_json()),
        file: hello(cloud_run.log_file_json()),
        metric_values: metrics.iter().map(|m| m.float_values().len()).sum(),
        metrics,
    }
}

fn complete(delivered: &Delivered, requests: usize) -> bool {
    delivered.spans.len() >= requests
        && delivered.stdout.len() >= requests
        && delivered.file.len() >= requests
        && delivered.metric_values >= requests
}

#[test]
fn a_frozen_container_delivers_each_request_by_the_end_of_the_next_and_all_by_exit() {
    let logs = TempDir::new("cloud-run-sidecar");
    let mut deployment = Deployment::new(&example_binary("sidecar"), SERVICE);
    deployment.request_based_billing = true;
    deployment.shared_log_dir = Some(logs.0.join("shared-volume").join("logs"));
    deployment.env = vec![
        ("DD_ENV".into(), "staging".into()),
        ("DD_VERSION".into(), "2.0.0".into()),
    ];
    let mut cloud_run = CloudRun::start(&deployment);
    cloud_run.agent().start_session(None);

    for request in 1..=REQUESTS {
        let answer = cloud_run.get("/", &[]);
        assert_eq!((answer.status, answer.body.as_str()), (200, "Hello World!"));
        assert!(cloud_run.is_frozen(), "frozen between requests");
        // While frozen, nothing more can leave the container: whatever arrives now was sent
        // before the freeze, at the latest during this request.
        let previous = request - 1;
        let seen = wait_for(SETTLE, || {
            let delivered = delivered(&cloud_run);
            complete(&delivered, previous).then_some(delivered)
        });
        let seen = seen.unwrap_or_else(|| {
            let delivered = delivered(&cloud_run);
            panic!(
                "after request {request}, not all of the {previous} earlier ones arrived: {} spans, {} stdout lines, {} app.log lines, {} metric values",
                delivered.spans.len(),
                delivered.stdout.len(),
                delivered.file.len(),
                delivered.metric_values
            )
        });
        assert!(seen.spans.len() <= request);
    }

    let ended = cloud_run.terminate();
    assert!(ended.status.success() && !ended.killed, "{ended:?}");
    let all = wait_for(PATIENCE, || {
        let delivered = delivered(&cloud_run);
        complete(&delivered, REQUESTS).then_some(delivered)
    })
    .expect("everything by exit");
    assert_eq!(all.spans.len(), REQUESTS);
    assert_eq!(all.metric_values, REQUESTS);

    // One identity on span, log line (stdout and file) and metric.
    for span in &all.spans {
        assert_eq!(span["service"], SERVICE);
        assert_eq!(span["meta"]["env"], "staging");
        assert_eq!(span["meta"]["version"], "2.0.0");
        for lines in [&all.stdout, &all.file] {
            let line = lines
                .iter()
                .find(|line| log_matches_span(line, span))
                .unwrap_or_else(|| panic!("no line for {span}"));
            assert_eq!(line["dd.service"], SERVICE);
            assert_eq!(line["dd.env"], "staging");
            assert_eq!(line["dd.version"], "2.0.0");
        }
    }
    for metric in &all.metrics {
        for tag in [
            format!("service:{SERVICE}"),
            "env:staging".into(),
            "version:2.0.0".into(),
        ] {
            assert!(metric.tags.contains(&tag), "{tag} missing: {metric:?}");
        }
    }
}
