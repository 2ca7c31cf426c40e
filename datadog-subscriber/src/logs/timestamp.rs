//! RFC 3339 UTC timestamps with microseconds, e.g. `2026-11-22T05:00:00.123456Z`.
//!
//! Both Datadog (ISO 8601 in `timestamp`) and Cloud Logging (RFC 3339) read this form. The date and
//! time of day change once a second, so each thread keeps the formatted `YYYY-MM-DDTHH:MM:SS` of
//! the last second it saw and only appends the fraction.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

thread_local! {
    static LAST_SECOND: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
}

/// Appends the current time, quoted, as a JSON string.
pub(crate) fn now(out: &mut Vec<u8>) {
    // A clock before 1970 is a broken clock; the epoch is as good a fallback as any.
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    write(out, since_epoch.as_secs(), since_epoch.subsec_micros());
}

/// Appends `seconds` since the epoch plus `micros`, quoted, as a JSON string.
pub(crate) fn write(out: &mut Vec<u8>, seconds: u64, micros: u32) {
    let prefix = LAST_SECOND
        .try_with(|cached| {
            let (second, text) = cached.get();
            if second == seconds {
                text
            } else {
                let text = date_time(seconds);
                cached.set((seconds, text));
                text
            }
        })
        // During thread teardown the cache is gone: format without it.
        .unwrap_or_else(|_| date_time(seconds));
    out.push(b'"');
    out.extend_from_slice(&prefix);
    out.push(b'.');
    let mut fraction = [b'0'; 6];
    let mut rest = micros.min(999_999);
    for digit in fraction.iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out.extend_from_slice(&fraction);
    out.extend_from_slice(b"Z\"");
}

/// `YYYY-MM-DDTHH:MM:SS` of a unix time (years past 9999 are clamped to keep the width).
fn date_time(seconds: u64) -> [u8; 19] {
    let days = seconds / 86_400;
    let of_day = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    let mut text = *b"0000-00-00T00:00:00";
    put_digits(&mut text[0..4], u64::from(year.min(9999)));
    put_digits(&mut text[5..7], u64::from(month));
    put_digits(&mut text[8..10], u64::from(day));
    put_digits(&mut text[11..13], of_day / 3600);
    put_digits(&mut text[14..16], of_day / 60 % 60);
    put_digits(&mut text[17..19], of_day % 60);
    text
}

fn put_digits(slot: &mut [u8], mut value: u64) {
    for digit in slot.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Howard Hinnant's `civil_from_days` for days since 1970-01-01 (never negative here).
fn civil_from_days(days: u64) -> (u32, u32, u32) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (
        year.min(u64::from(u32::MAX)) as u32,
        month as u32,
        day as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formatted(seconds: u64, micros: u32) -> String {
        let mut out = Vec::new();
        write(&mut out, seconds, micros);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(formatted(0, 0), "\"1970-01-01T00:00:00.000000Z\"");
        assert_eq!(formatted(951_782_400, 5), "\"2000-02-29T00:00:00.000005Z\"");
        assert_eq!(
            formatted(1_700_000_000, 123_456),
            "\"2023-11-14T22:13:20.123456Z\""
        );
        assert_eq!(
            formatted(4_102_444_799, 999_999),
            "\"2099-12-31T23:59:59.999999Z\""
        );
    }

    #[test]
    fn the_cached_second_is_replaced_when_time_moves() {
        assert_eq!(formatted(86_399, 1), "\"1970-01-01T23:59:59.000001Z\"");
        assert_eq!(formatted(86_400, 1), "\"1970-01-02T00:00:00.000001Z\"");
        assert_eq!(formatted(86_399, 2), "\"1970-01-01T23:59:59.000002Z\"");
    }

    #[test]
    fn matches_days_counted_one_by_one() {
        // Walk 3 000 years of days and compare with a naive calendar.
        let (mut year, mut month, mut day) = (1970_u32, 1_u32, 1_u32);
        for days in 0..(3000 * 366) {
            assert_eq!(civil_from_days(days), (year, month, day), "day {days}");
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
            let length = match month {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            day += 1;
            if day > length {
                day = 1;
                month += 1;
                if month > 12 {
                    month = 1;
                    year += 1;
                }
            }
        }
    }
}
