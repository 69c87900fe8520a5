//! Timestamps as the journal stores them: RFC 3339, UTC, always three fractional digits, so
//! they sort as text.

use time::OffsetDateTime;
use time::macros::format_description;

/// The current time as stored in the journal, e.g. `2026-11-25T20:41:07.120Z`.
pub fn now() -> String {
    format(OffsetDateTime::now_utc())
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
