//! Bounded memory on the in-container sample: an Agent answering 512 MiB costs no more than a
//! small fixed read (peak RSS under 64 MiB), and an Agent that hangs while the app serves at full
//! load costs the byte-bounded trace queue, not everything the app produces (peak RSS under
//! 96 MiB). Peak RSS is the kernel's `VmHWM` of the app process.

mod examples_support;

use std::time::Duration;

use datadog_e2e_tests::fake_agent::{Behaviour, FakeAgent};
use datadog_e2e_tests::fault_app::{FaultApp, StdoutMode, load};
use examples_support::example_binary;

const MIB: u64 = 1 << 20;

fn in_container(agent: &FakeAgent) -> FaultApp {
    FaultApp::start(
        &example_binary("in-container"),
        &[
            ("DD_TRACE_AGENT_URL", agent.url()),
            ("DD_SERVICE", "faults-memory".into()),
        ],
        StdoutMode::Read,
    )
}

#[test]
fn a_512_mib_agent_reply_is_read_only_up_to_a_small_cap() {
    let agent = FakeAgent::start(Behaviour::Huge(512 * MIB));
    let mut app = in_container(&agent);
    // Traffic for three flush intervals: a payload (answered with 512 MiB) each second.
    let answered = load(app.port(), 4, usize::MAX, Duration::from_secs(3), &[]);
    let received = agent.wait_for(Duration::from_secs(10), |received| received.requests >= 2);
    assert!(received.requests >= 2, "{} payloads", received.requests);
    std::thread::sleep(Duration::from_millis(300));
    let peak = app.peak_rss();
    let written = agent.body_bytes_written();
    let exit = app.terminate();
    eprintln!(
        "512 MiB replies: peak RSS {} MiB, {answered} requests, {} payloads, {} MiB of reply bodies written before the client closed, exit {} ms",
        peak / MIB,
        received.requests,
        written / MIB,
        exit.as_millis()
    );
    assert!(peak < 64 * MIB, "peak RSS {} MiB", peak / MIB);
    // The client stops reading after 64 KiB: only what fits in socket buffers gets written.
    assert!(
        written < 16 * MIB * received.requests as u64,
        "{} MiB written",
        written / MIB
    );
}

#[test]
fn a_hanging_agent_at_full_load_costs_a_bounded_queue() {
    let agent = FakeAgent::start(Behaviour::Hang);
    let mut app = in_container(&agent);
    let answered = load(app.port(), 8, usize::MAX, Duration::from_secs(6), &[]);
    let peak = app.peak_rss();
    let exit = app.terminate();
    let shutdown_line = app
        .diagnostics()
        .into_iter()
        .find(|line| line.starts_with("shutdown within"));
    eprintln!(
        "hanging Agent at full load: peak RSS {} MiB after {answered} requests in 6 s, exit {} ms, {shutdown_line:?}",
        peak / MIB,
        exit.as_millis()
    );
    assert!(answered > 1_000, "not a load: {answered} requests");
    assert!(peak < 96 * MIB, "peak RSS {} MiB", peak / MIB);
    assert!(shutdown_line.is_some(), "the drops are reported");
}
