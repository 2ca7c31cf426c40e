//! Where log lines go: stdout (in-container mode), the sidecar's shared log file, or both.
//!
//! In Datadog's Cloud Run samples the in-container app writes JSON lines to stdout, where
//! `serverless-init` reads them. In sidecar mode the app writes the same lines to a file under
//! `DD_SERVERLESS_LOG_PATH` that the sidecar tails, and to stdout for Cloud Logging. Every sample
//! computes the file the same way: take `DD_SERVERLESS_LOG_PATH` (default
//! `/shared-volume/logs/*.log`), replace `*.log` with `app.log`, create the directory.
//!
//! ```
//! use std::path::Path;
//! use datadog_subscriber::logs::Destination;
//!
//! assert_eq!(
//!     Destination::serverless_log_file(Some("/shared-volume/logs/*.log")),
//!     Path::new("/shared-volume/logs/app.log"),
//! );
//! assert_eq!(Destination::serverless_log_file(None), Path::new("/shared-volume/logs/app.log"));
//! ```

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::writer::{Target, warn};

/// The variable naming the sidecar's log file (a glob such as `/shared-volume/logs/*.log`).
pub const SERVERLESS_LOG_PATH_ENV: &str = "DD_SERVERLESS_LOG_PATH";

/// The log file of the sidecar samples when `DD_SERVERLESS_LOG_PATH` is not set.
pub const DEFAULT_SERVERLESS_LOG_FILE: &str = "/shared-volume/logs/app.log";

/// Where the log layer writes its lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Destination {
    /// Standard output only (in-container mode, local runs).
    #[default]
    Stdout,
    /// A file only (appended to; the directory is created).
    File(PathBuf),
    /// A file and standard output (sidecar mode: the sidecar tails the file, Cloud Logging reads
    /// stdout).
    Both(PathBuf),
}

impl Destination {
    /// [`Both`](Destination::Both) with the file from `DD_SERVERLESS_LOG_PATH` when it is set (and
    /// not empty), else [`Stdout`](Destination::Stdout).
    pub fn from_env() -> Destination {
        match std::env::var(SERVERLESS_LOG_PATH_ENV) {
            Ok(pattern) if !pattern.trim().is_empty() => {
                Destination::Both(Self::serverless_log_file(Some(&pattern)))
            }
            _ => Destination::Stdout,
        }
    }

    /// Sidecar mode whatever the environment says: the file from `DD_SERVERLESS_LOG_PATH` (or
    /// the default `/shared-volume/logs/app.log`) and stdout, like the sidecar samples.
    pub fn sidecar() -> Destination {
        let pattern = std::env::var(SERVERLESS_LOG_PATH_ENV).ok();
        Destination::Both(Self::serverless_log_file(pattern.as_deref()))
    }

    /// The samples' rule: `*.log` in the pattern becomes `app.log`; `None` or an empty pattern
    /// gives `/shared-volume/logs/app.log`. A pattern naming a directory (ending in `/`) gets
    /// `app.log` appended, and a file name that is still a glob (`/logs/*`) is replaced by `app.log`
    /// so the file always lies where the sidecar looks.
    pub fn serverless_log_file(pattern: Option<&str>) -> PathBuf {
        let pattern = pattern.map(str::trim).filter(|pattern| !pattern.is_empty());
        let Some(pattern) = pattern else {
            return PathBuf::from(DEFAULT_SERVERLESS_LOG_FILE);
        };
        let replaced = pattern.replace("*.log", "app.log");
        if replaced.ends_with('/') {
            return Path::new(&replaced).join("app.log");
        }
        let path = PathBuf::from(&replaced);
        let glob_name = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.contains(['*', '?', '[']));
        if glob_name {
            path.with_file_name("app.log")
        } else {
            path
        }
    }

    /// The file this destination writes, if any.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Destination::Stdout => None,
            Destination::File(path) | Destination::Both(path) => Some(path),
        }
    }

    /// Opens the destinations. A file that cannot be opened gives one warning on stderr and
    /// stdout is used instead (or only, for [`Both`](Destination::Both)).
    pub(crate) fn open(&self) -> Vec<Target> {
        let stdout = || Target {
            name: "stdout".into(),
            writer: Box::new(Stdout),
            failed: false,
        };
        let Some(path) = self.file() else {
            return vec![stdout()];
        };
        match open_log_file(path) {
            Ok(file) => {
                let file = Target {
                    name: path.display().to_string(),
                    writer: Box::new(file),
                    failed: false,
                };
                if matches!(self, Destination::Both(_)) {
                    vec![file, stdout()]
                } else {
                    vec![file]
                }
            }
            Err(error) => {
                warn(&format!(
                    "cannot open the log file {} ({error}); logging to stdout only",
                    path.display()
                ));
                vec![stdout()]
            }
        }
    }
}

fn open_log_file(path: &Path) -> io::Result<File> {
    if let Some(directory) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(directory)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

/// Standard output, locked per batch (the background thread is its only writer among our lines).
struct Stdout;

impl Write for Stdout {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        io::stdout().lock().write(bytes)
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        io::stdout().lock().write_all(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stdout().lock().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_samples_file_rule() {
        let cases = [
            (
                Some("/shared-volume/logs/*.log"),
                "/shared-volume/logs/app.log",
            ),
            (Some("/var/log/app/*.log"), "/var/log/app/app.log"),
            (Some("/var/log/mine.log"), "/var/log/mine.log"),
            (Some("/var/log/"), "/var/log/app.log"),
            (Some("/var/log/*"), "/var/log/app.log"),
            (Some("  "), DEFAULT_SERVERLESS_LOG_FILE),
            (None, DEFAULT_SERVERLESS_LOG_FILE),
        ];
        for (pattern, expected) in cases {
            assert_eq!(
                Destination::serverless_log_file(pattern),
                Path::new(expected),
                "{pattern:?}"
            );
        }
    }

    #[test]
    fn directories_are_created() {
        let root = std::env::temp_dir().join(format!("dd-logs-dest-{}", std::process::id()));
        let path = root.join("nested/deeper/app.log");
        let targets = Destination::Both(path.clone()).open();
        assert_eq!(targets.len(), 2);
        assert!(path.exists());
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn an_unwritable_file_falls_back_to_stdout() {
        // A path below a regular file can never be created.
        let blocker = std::env::temp_dir().join(format!("dd-logs-block-{}", std::process::id()));
        std::fs::write(&blocker, b"not a directory").unwrap();
        let targets = Destination::File(blocker.join("logs/app.log")).open();
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].name, "stdout");
        let targets = Destination::Both(blocker.join("logs/app.log")).open();
        assert_eq!(targets.len(), 1);
        let _ = std::fs::remove_file(blocker);
    }
}
