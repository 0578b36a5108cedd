//! The time on a log line, RFC 3339 in UTC with microseconds (`2026-11-30T12:34:56.123456Z`).
//! Every request writes at least one line, and turning seconds into a calendar date is most of
//! the cost of a timestamp: each thread keeps the date and time of the current second written
//! out, and adds the microseconds.

use std::cell::RefCell;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `YYYY-MM-DDTHH:MM:SS` of a second since the epoch.
struct Second {
    since_epoch: u64,
    text: String,
}

/// Writes `time` as `humantime::format_rfc3339_micros` does.
pub(super) fn write(w: &mut impl fmt::Write, time: SystemTime) -> fmt::Result {
    thread_local! {
        static SECOND: RefCell<Option<Second>> = const { RefCell::new(None) };
    }
    // (A clock before 1970 is written as the epoch.)
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    SECOND.with(|second| {
        let mut second = second.borrow_mut();
        let current = match second.as_mut() {
            Some(current) if current.since_epoch == seconds => current,
            _ => second.insert(Second { since_epoch: seconds, text: date_and_time(seconds) }),
        };
        w.write_str(&current.text)?;
        let micros = since_epoch.subsec_micros();
        let mut digits = *b".000000Z";
        let mut rest = micros;
        for digit in digits[1..7].iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        // (ASCII digits, so always UTF-8.)
        w.write_str(std::str::from_utf8(&digits).map_err(|_| fmt::Error)?)
    })
}

/// `YYYY-MM-DDTHH:MM:SS` of `seconds` since the epoch.
fn date_and_time(seconds: u64) -> String {
    let whole = UNIX_EPOCH + Duration::from_secs(seconds);
    let mut text = humantime::format_rfc3339_seconds(whole).to_string();
    // `…SSZ`: the zone comes after the microseconds.
    text.pop();
    text
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn written(time: SystemTime) -> String {
        let mut text = String::new();
        write(&mut text, time).unwrap();
        text
    }

    proptest! {
        /// Whatever the time, and in whatever order times come, the line reads as humantime
        /// writes it.
        #[test]
        fn timestamps_read_as_humantime_writes_them(
            times in prop::collection::vec((0u64..4_102_444_800, 0u32..1_000_000_000), 1..20),
        ) {
            for (seconds, nanos) in times {
                let time = UNIX_EPOCH + Duration::new(seconds, nanos);
                prop_assert_eq!(written(time), humantime::format_rfc3339_micros(time).to_string());
                // The same second again, from the kept text.
                let later = UNIX_EPOCH + Duration::new(seconds, nanos / 2);
                prop_assert_eq!(written(later), humantime::format_rfc3339_micros(later).to_string());
            }
        }
    }

    #[test]
    fn the_clock_reads_as_humantime_writes_it() {
        let now = SystemTime::now();
        assert_eq!(written(now), humantime::format_rfc3339_micros(now).to_string());
        assert_eq!(written(UNIX_EPOCH - Duration::from_secs(1)), "1970-01-01T00:00:00.000000Z");
    }
}
