//! Where the real peers live: the Python virtual environment that `./scripts/test` creates.

use std::path::PathBuf;

/// The command that installs the peers; named in every "peer missing" failure.
pub const SETUP_COMMAND: &str =
    "./scripts/test (or ./scripts/setup-test-peers to only install the peers)";

/// The virtual environment holding `ddapm-test-agent`, `ddtrace` and `datadog`.
///
/// `DATADOG_TEST_VENV` overrides the default `<workspace>/target/test-venv`.
pub fn venv_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DATADOG_TEST_VENV") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives inside the workspace")
        .join("target")
        .join("test-venv")
}

/// The path of an executable of the venv; fails the test, naming the set-up command, when it is
/// missing (a missing peer never skips a test silently).
pub fn venv_executable(name: &str) -> PathBuf {
    let path = venv_dir().join("bin").join(name);
    assert!(
        path.exists(),
        "test peer `{name}` is missing at {}; install the peers with {SETUP_COMMAND}",
        path.display()
    );
    path
}

/// The venv's Python interpreter (with `ddtrace` and `datadog` importable).
pub fn python() -> PathBuf {
    venv_executable("python")
}
