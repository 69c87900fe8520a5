//! Timestamps as the journal stores them: RFC 3339, UTC, always three fractional digits, so
//! they sort as text.

use time::OffsetDateTime;
use time::macros::format_description;

/// The current time as stored in the journal, e.g. `2026-11-25T20:41:07.120Z`.
pub fn now() -> String {
    format(OffsetDateTime::now_utc())
}

/// The current time in unix milliseconds, as leases and schedules store it.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// A time in unix milliseconds as the journal stores timestamps.
pub fn from_ms(ms: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format(at)
}

/// Formats a time the way the journal stores it.
pub fn format(at: OffsetDateTime) -> String {
    let layout =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    let utc = at.to_offset(time::UtcOffset::UTC);
    utc.format(layout)
        .unwrap_or_else(|_| utc.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_three_fractional_digits() {
        let at = time::macros::datetime!(2026-11-25 20:41:07.1 UTC);
        assert_eq!(super::format(at), "2026-11-25T20:41:07.100Z");
    }
}
