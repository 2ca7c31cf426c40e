//! The process's own figures, read from `/proc/self` (Linux; elsewhere there are none).

use std::time::Duration;

/// One reading of the process.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct ProcessSample {
    /// CPU time spent in user mode since the process started.
    pub(crate) cpu_user: Duration,
    /// CPU time spent in the kernel on the process's behalf since it started.
    pub(crate) cpu_system: Duration,
    /// Resident set size, bytes.
    pub(crate) rss_bytes: u64,
    /// Threads of the process.
    pub(crate) threads: u64,
    /// Open file descriptors.
    pub(crate) open_fds: u64,
}

/// Reads the process's figures; `None` where `/proc` is missing or unreadable.
#[cfg(target_os = "linux")]
pub(crate) fn sample() -> Option<ProcessSample> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let (cpu_user, cpu_system, threads) = parse_stat(&stat)?;
    let rss_bytes = parse_status_kib(&status, "VmRSS:")? * 1024;
    Some(ProcessSample {
        cpu_user,
        cpu_system,
        rss_bytes,
        threads,
        open_fds: open_fds().unwrap_or(0),
    })
}

/// Reads the process's figures; there is no portable source outside Linux.
#[cfg(not(target_os = "linux"))]
pub(crate) fn sample() -> Option<ProcessSample> {
    None
}

/// Clock ticks per second of the CPU times in `/proc/<pid>/stat`: `USER_HZ`, which Linux fixes
/// at 100 for what it shows user space on every architecture Rust's tier-1 and tier-2 Linux
/// targets run on.
const USER_HZ: u64 = 100;

/// User time, system time and threads from `/proc/self/stat`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_stat(stat: &str) -> Option<(Duration, Duration, u64)> {
    // The command name (field 2) is in parentheses and may itself hold spaces or parentheses.
    let after_command = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_command.split_whitespace().collect();
    // `fields[0]` is field 3 (state): utime is field 14, stime 15, num_threads 20.
    let ticks = |index: usize| fields.get(index)?.parse::<u64>().ok();
    let to_duration = |ticks: u64| {
        Duration::from_secs(ticks / USER_HZ)
            + Duration::from_millis((ticks % USER_HZ) * 1000 / USER_HZ)
    };
    Some((to_duration(ticks(11)?), to_duration(ticks(12)?), ticks(17)?))
}

/// A `kB` line of `/proc/self/status`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(target_os = "linux")]
fn open_fds() -> Option<u64> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    // Listing the directory holds one descriptor of its own, which the listing shows.
    Some(entries.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_command_names_parse() {
        let stat = "4242 (my (odd) app) S 1 4242 4242 0 -1 4194560 2000 0 0 0 \
                    250 37 0 0 20 0 9 0 1234 100000 500 18446744073709551615";
        let (user, system, threads) = parse_stat(stat).unwrap();
        assert_eq!(user, Duration::from_millis(2500));
        assert_eq!(system, Duration::from_millis(370));
        assert_eq!(threads, 9);
        assert!(parse_stat("garbage").is_none());
        assert!(parse_stat("1 (x) S 1 2").is_none());
    }

    #[test]
    fn status_lines_parse() {
        let status = "Name:\tapp\nVmRSS:\t   20480 kB\nThreads:\t4\n";
        assert_eq!(parse_status_kib(status, "VmRSS:"), Some(20480));
        assert_eq!(parse_status_kib(status, "VmSwap:"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reads() {
        let sample = sample().expect("/proc/self is readable on Linux");
        assert!(sample.rss_bytes > 0);
        assert!(sample.threads >= 1);
        assert!(sample.open_fds >= 3, "{sample:?}");
    }
}
