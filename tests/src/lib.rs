//! Test support shared by the workspace's end-to-end tests.
//!
//! The tests run against real Datadog components installed by `./scripts/test` into a Python
//! virtual environment under `target/test-venv` (see [`peers`]). Nothing here mocks a peer: the
//! [`test_agent::TestAgent`] is Datadog's own APM test agent, started on free loopback ports.

pub mod cloud_run;
pub mod dogstatsd_sink;
pub mod fake_agent;
pub mod fault_app;
pub mod peers;
pub mod test_agent;

/// A free TCP port on the loopback interface (the OS picks it; the listener is closed at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("the OS should hand out a free loopback port")
}
