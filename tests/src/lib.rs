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

/// A command for one of the workspace's programs without the settings the developer's shell may
/// hold for Datadog, OpenTelemetry, Cloud Run or logging (`DD_*`, `OTEL_*`, `K_*`, `RUST_LOG`,
/// `GOOGLE_CLOUD_PROJECT`, `GCE_METADATA_HOST`, `PORT`): a test sets what it means.
pub fn clean_command(program: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(program);
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        let inherited_setting = ["DD_", "OTEL_", "K_"]
            .iter()
            .any(|prefix| text.starts_with(prefix))
            || [
                "RUST_LOG",
                "GOOGLE_CLOUD_PROJECT",
                "GCE_METADATA_HOST",
                "PORT",
            ]
            .contains(&&*text);
        if inherited_setting {
            command.env_remove(name);
        }
    }
    command
}

/// A free TCP port on the loopback interface (the OS picks it; the listener is closed at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("the OS should hand out a free loopback port")
}
