//! SIGTERM to exit within 5 s whatever the peers do: an Agent that hangs, is slow, answers
//! errors, garbage or 512 MiB, or closes the connection, with a backlog of traces; nobody reading
//! stdout (nor stderr); a half-sent request held open; and all of them at once. What could not be delivered is
//! dropped, counted, and reported in one line on stderr.
//!
//! Cloud Run kills the container 10 s after SIGTERM and `serverless-init` needs its own time to
//! flush after the app exits: the app's part is at most 5 s. The cases are independent processes
//! on their own ports and run concurrently.

mod examples_support;

use std::time::Duration;

use datadog_e2e_tests::fake_agent::{Behaviour, FakeAgent};
use datadog_e2e_tests::fault_app::{FaultApp, StdoutMode, half_sent_request, load};
use examples_support::example_binary;

/// The figure: SIGTERM to process exit.
const EXIT_BUDGET: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug)]
struct Case {
    name: &'static str,
    example: &'static str,
    agent: Behaviour,
    stdout: StdoutMode,
    half_sent_request: bool,
}

struct Outcome {
    case: Case,
    exit: Duration,
    answered: usize,
    shutdown_lines: Vec<String>,
}

fn run(case: Case) -> Outcome {
    let agent = FakeAgent::start(case.agent);
    let logs = std::env::temp_dir().join(format!(
        "faults-shutdown-{}-{}",
        std::process::id(),
        case.name
    ));
    let mut app = FaultApp::start(
        &example_binary(case.example),
        &[
            ("DD_TRACE_AGENT_URL", agent.url()),
            ("DD_SERVICE", "faults".into()),
            (
                "DD_SERVERLESS_LOG_PATH",
                format!("{}/*.log", logs.display()),
            ),
            // Metrics to a port nobody listens on (the sidecar's are counted drops).
            (
                "DD_DOGSTATSD_PORT",
                datadog_e2e_tests::free_port().to_string(),
            ),
        ],
        case.stdout,
    );
    // A backlog: traces the Agent has not taken yet, log lines the pipe has not taken yet.
    let answered = load(app.port(), 4, 400, Duration::from_secs(5), &[]);
    let _held_open = case.half_sent_request.then(|| {
        let connection = half_sent_request(app.port());
        // Let the server read the first bytes before the signal.
        std::thread::sleep(Duration::from_millis(300));
        connection
    });
    let exit = app.terminate();
    let shutdown_lines = app
        .diagnostics()
        .into_iter()
        .filter(|line| line.starts_with("shutdown within"))
        .collect();
    let _ = std::fs::remove_dir_all(logs);
    Outcome {
        case,
        exit,
        answered,
        shutdown_lines,
    }
}

/// The number before `what` in a shutdown line (`... 12 traces and 0 log lines dropped ...`).
fn count_before(line: &str, what: &str) -> u64 {
    let before = &line[..line
        .find(what)
        .unwrap_or_else(|| panic!("{what} in {line}"))];
    before
        .split_whitespace()
        .last()
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("a count before {what} in {line}"))
}

#[test]
fn sigterm_exits_within_five_seconds_under_every_fault() {
    let agent_case = |name, agent| Case {
        name,
        example: "in-container",
        agent,
        stdout: StdoutMode::Read,
        half_sent_request: false,
    };
    let cases = [
        agent_case("agent-hangs", Behaviour::Hang),
        agent_case("agent-slow-3s", Behaviour::Slow(Duration::from_secs(3))),
        agent_case("agent-500", Behaviour::Status(500)),
        agent_case("agent-429", Behaviour::Status(429)),
        agent_case("agent-garbage", Behaviour::Garbage),
        agent_case("agent-512mib-reply", Behaviour::Huge(512 << 20)),
        agent_case("agent-closes", Behaviour::Close),
        Case {
            name: "stdout-unread",
            stdout: StdoutMode::Stalled,
            ..agent_case("", Behaviour::Accept)
        },
        Case {
            name: "half-sent-request",
            half_sent_request: true,
            ..agent_case("", Behaviour::Accept)
        },
        Case {
            name: "all-at-once",
            stdout: StdoutMode::Stalled,
            half_sent_request: true,
            ..agent_case("", Behaviour::Hang)
        },
        Case {
            name: "nothing-read",
            stdout: StdoutMode::StalledWithStderr,
            half_sent_request: true,
            ..agent_case("", Behaviour::Hang)
        },
        Case {
            name: "sidecar-all-at-once",
            example: "sidecar",
            stdout: StdoutMode::Stalled,
            half_sent_request: true,
            ..agent_case("", Behaviour::Hang)
        },
    ];
    // Build once before the concurrent cases race to do it.
    example_binary("in-container");
    example_binary("sidecar");
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let running: Vec<_> = cases
            .iter()
            .map(|case| scope.spawn(move || run(*case)))
            .collect();
        running
            .into_iter()
            .map(|handle| handle.join().expect("a case panicked"))
            .collect()
    });

    for outcome in &outcomes {
        eprintln!(
            "{:<22} exit {:>5} ms after SIGTERM, {:>3} requests answered, {:?}",
            outcome.case.name,
            outcome.exit.as_millis(),
            outcome.answered,
            outcome.shutdown_lines
        );
    }
    for outcome in &outcomes {
        let case = outcome.case;
        assert!(
            outcome.exit <= EXIT_BUDGET,
            "{}: exit took {:?}",
            case.name,
            outcome.exit
        );
        assert!(outcome.answered > 0, "{}: no request answered", case.name);
        assert!(
            outcome.shutdown_lines.len() <= 1,
            "{}: one shutdown line at most: {:?}",
            case.name,
            outcome.shutdown_lines
        );
        if case.stdout == StdoutMode::StalledWithStderr {
            // Nothing to read the report from; the exit time is the point.
            continue;
        }
        let dropped_something =
            matches!(case.agent, Behaviour::Hang) || case.stdout == StdoutMode::Stalled;
        if dropped_something {
            let line = outcome
                .shutdown_lines
                .first()
                .unwrap_or_else(|| panic!("{}: no shutdown line", case.name));
            if matches!(case.agent, Behaviour::Hang) {
                assert!(count_before(line, " traces") > 0, "{}: {line}", case.name);
            }
            if case.stdout == StdoutMode::Stalled {
                assert!(
                    count_before(line, " log lines") > 0,
                    "{}: {line}",
                    case.name
                );
            }
        }
    }
}
