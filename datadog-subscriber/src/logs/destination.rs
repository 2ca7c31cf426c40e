//! Where log lines go: stdout (in-container mode), the sidecar's shared log file, or both.
//!
//! In Datadog's Cloud Run samples the in-container app writes JSON lines to stdout, where
//! `serverless-init` reads them. In sidecar mode the app writes the same lines to a file under
//! `DD_SERVERLESS_LOG_PATH` that the sidecar tails, and to stdout for Cloud Logging. Every sample
//! computes the file the same way: take `DD_SERVERLESS_LOG_PATH` (default
//! `/shared-volume/logs/*.log`), replace `*.log` with `app.log`, create the directory.
//!
//! The file behaves as log tailers expect. Deleted, renamed or replaced while the app runs, it is
//! re-created (directory included) within [`REOPEN_CHECK_INTERVAL`] of the next line. It never
//! grows past [`MAX_LOG_FILE_BYTES`]: it is then renamed to `app.log.1` (replacing the previous
//! one) and a new `app.log` started. That is the rotation the Datadog Agent's file tailer
//! follows: it notices that the path names a new file (another inode), reads the renamed one to
//! its end, and tails the new one from its start; `app.log.1` does not match `*.log`, so it is
//! never tailed twice. On the sample's in-memory volume the logs hold at most twice the cap.
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
use std::time::{Duration, Instant};

use super::writer::{Target, warn};

/// The variable naming the sidecar's log file (a glob such as `/shared-volume/logs/*.log`).
pub const SERVERLESS_LOG_PATH_ENV: &str = "DD_SERVERLESS_LOG_PATH";

/// The log file of the sidecar samples when `DD_SERVERLESS_LOG_PATH` is not set.
pub const DEFAULT_SERVERLESS_LOG_FILE: &str = "/shared-volume/logs/app.log";

/// The size at which the log file is rotated to `<file>.1` (10 MiB).
pub const MAX_LOG_FILE_BYTES: u64 = 10 << 20;

/// How often, while lines are written, the log file's path is checked for a deleted, renamed or
/// replaced file.
pub const REOPEN_CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// Where the log layer writes its lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
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
        match LogFile::open(path.to_path_buf(), MAX_LOG_FILE_BYTES) {
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

/// Which file a path names (device and inode), to notice a replaced file.
#[cfg(unix)]
#[allow(
    clippy::unnecessary_wraps,
    reason = "`None` on platforms without inodes (see below)"
)]
fn identity(metadata: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((metadata.dev(), metadata.ino()))
}

#[cfg(not(unix))]
fn identity(_: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// An append-only log file that follows its path: re-created when deleted, renamed or replaced,
/// rotated to `<path>.1` past its size cap.
pub(crate) struct LogFile {
    path: PathBuf,
    file: Option<File>,
    identity: Option<(u64, u64)>,
    size: u64,
    max_bytes: u64,
    checked: Instant,
}

impl LogFile {
    /// Opens (creating the directory and the file) `path`, capped at `max_bytes`.
    pub(crate) fn open(path: PathBuf, max_bytes: u64) -> io::Result<LogFile> {
        let mut file = LogFile {
            path,
            file: None,
            identity: None,
            size: 0,
            max_bytes: max_bytes.max(1),
            checked: Instant::now(),
        };
        file.reopen()?;
        Ok(file)
    }

    fn reopen(&mut self) -> io::Result<()> {
        self.file = None;
        let file = open_log_file(&self.path)?;
        let metadata = file.metadata()?;
        self.identity = identity(&metadata);
        self.size = metadata.len();
        self.file = Some(file);
        self.checked = Instant::now();
        Ok(())
    }

    /// Whether the path still names the open file (checked at most every
    /// [`REOPEN_CHECK_INTERVAL`]); refreshes the size, which a tailer may have truncated.
    fn still_current(&mut self) -> bool {
        if self.checked.elapsed() < REOPEN_CHECK_INTERVAL {
            return true;
        }
        self.checked = Instant::now();
        match std::fs::metadata(&self.path) {
            Ok(metadata) if identity(&metadata) == self.identity => {
                self.size = metadata.len();
                true
            }
            _ => false,
        }
    }

    /// Renames the file to `<path>.1` (replacing an older one) and starts a new one.
    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        let mut rotated = self.path.clone().into_os_string();
        rotated.push(".1");
        match std::fs::rename(&self.path, rotated) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        self.reopen()
    }
}

impl Write for LogFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.file.is_none() || !self.still_current() {
            self.reopen()?;
        }
        if self.size > 0 && self.size + bytes.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        let Some(file) = self.file.as_mut() else {
            return Err(io::ErrorKind::NotFound.into());
        };
        match file.write(bytes) {
            Ok(written) => {
                self.size += written as u64;
                Ok(written)
            }
            Err(error) => {
                // Open it again for the next batch: the directory may be back by then.
                self.file = None;
                Err(error)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
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

    fn temp(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("dd-logs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        root
    }

    fn wait_past_the_check() {
        std::thread::sleep(REOPEN_CHECK_INTERVAL + Duration::from_millis(20));
    }

    #[test]
    fn a_deleted_renamed_or_replaced_file_and_a_removed_directory_are_re_created() {
        let root = temp("follow");
        let path = root.join("logs/app.log");
        let mut file = LogFile::open(path.clone(), MAX_LOG_FILE_BYTES).unwrap();
        file.write_all(b"one\n").unwrap();

        std::fs::remove_file(&path).unwrap();
        wait_past_the_check();
        file.write_all(b"two\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two\n");

        std::fs::rename(&path, root.join("logs/moved.log")).unwrap();
        wait_past_the_check();
        file.write_all(b"three\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"three\n");
        assert_eq!(
            std::fs::read(root.join("logs/moved.log")).unwrap(),
            b"two\n"
        );

        std::fs::write(&path, b"someone else's\n").unwrap();
        std::fs::rename(root.join("logs/moved.log"), &path).unwrap();
        wait_past_the_check();
        file.write_all(b"four\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two\nfour\n");

        std::fs::remove_dir_all(&root).unwrap();
        wait_past_the_check();
        file.write_all(b"five\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"five\n");
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn the_file_is_rotated_at_its_cap_and_one_old_file_kept() {
        let root = temp("rotate");
        let path = root.join("app.log");
        let mut file = LogFile::open(path.clone(), 10).unwrap();
        for line in [b"aaaa\n", b"bbbb\n", b"cccc\n", b"dddd\n", b"eeee\n"] {
            file.write_all(line).unwrap();
        }
        assert_eq!(std::fs::read(&path).unwrap(), b"eeee\n");
        assert_eq!(
            std::fs::read(root.join("app.log.1")).unwrap(),
            b"cccc\ndddd\n"
        );
        let entries = std::fs::read_dir(&root).unwrap().count();
        assert_eq!(entries, 2, "app.log and app.log.1 only");
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
