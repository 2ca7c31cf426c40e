//! Logs as JSON lines to the file the sidecar tails and to stdout (for Cloud Logging).

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::{EnvFilter, layer::SubscriberExt, util::SubscriberInitExt};

/// Installs the global subscriber (`RUST_LOG` filters, `info` by default), logging to stdout and
/// to `log_file`. When the file cannot be opened the app still runs and logs to stdout only.
pub fn init(log_file: &Path) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (file, file_error) = match open(log_file) {
        Ok(file) => (Some(file), None),
        Err(error) => (None, Some(error)),
    };
    let file_layer = file.map(|file| {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(Mutex::new(file))
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().json().flatten_event(true))
        .with(file_layer)
        .init();
    match file_error {
        None => tracing::info!("LOG_FILE: {}", log_file.display()),
        Some(error) => tracing::warn!(
            "cannot write logs to {} ({error}); logging to stdout only",
            log_file.display()
        ),
    }
}

fn open(path: &Path) -> std::io::Result<File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}
