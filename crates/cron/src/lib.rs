//! Cron cadence of a background schedule: parsing a cron expression in an
//! IANA time zone, finding its fire instants, applying the daylight-saving
//! rule below, and deciding which missed runs are started after downtime.
//!
//! Pure logic: no I/O, no clock, no database. Instants at the boundary are
//! unix milliseconds (UTC); fire instants always fall on whole seconds.
//!
//! # Expressions
//!
//! Standard 5-field cron (`minute hour day-of-month month day-of-week`), or 6
//! fields with a leading seconds field. Named months (`JAN`-`DEC`) and days
//! (`SUN`-`SAT`, `MON-FRI`), ranges, lists and steps (`*/15`, `1-5/2`) work,
//! as do the nicknames `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`
//! and `@hourly`, and the `L`, `W`, `#` and `?` extensions of the `croner`
//! crate. Day-of-week accepts 0-7 (0 and 7 are Sunday). When both
//! day-of-month and day-of-week are restricted, a day matches if either does
//! (vixie-cron); a leading `+` on day-of-week requires both. An expression
//! that matches no calendar date at all (`0 0 30 2 *`) is rejected.
//!
//! `croner` is used only to match wall-clock times; mapping wall-clock times
//! to real instants (and so the DST rule) is done here.
//!
//! # Daylight saving time
//!
//! Fire times are wall-clock times in the schedule's zone. When that clock
//! jumps:
//!
//! - **Gap (spring forward).** A scheduled local time that does not exist
//!   fires once, at the next valid instant, which is the instant the gap ends.
//!   `30 2 * * *` in America/New_York fires on 2026-03-08 at 03:00 EDT. All
//!   scheduled times inside one gap fire together, once, at that instant.
//! - **Overlap (fall back).** A scheduled local time that occurs twice fires
//!   once, at its first occurrence. `30 1 * * *` in America/New_York fires on
//!   2026-11-01 at 01:30 EDT and not again at 01:30 EST.
//! - **Every-hour schedules.** If the hour field matches all 24 hours (`*`,
//!   `*/1`, `0-23`, `@hourly`; whatever the minute and second fields), the
//!   schedule follows real elapsed time instead: it fires at each real instant
//!   whose wall clock matches. Times inside a gap are not fired (no instant
//!   has them), and times in a repeated hour fire on both passes (they are two
//!   distinct instants). So `0 * * * *` in America/New_York fires on
//!   2026-11-01 at 00:00 EDT, 01:00 EDT, 01:00 EST and 02:00 EST (once per
//!   real hour), and on 2026-03-08 at 01:00 EST then 03:00 EDT; `*/15 * * * *`
//!   fires every 15 real minutes straight through both transitions.
//!
//! No instant ever fires twice. For 30-minute shifts (Australia/Lord_Howe)
//! the same rules apply at 30-minute granularity.

#![warn(missing_docs)]

use std::fmt;

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeDelta, TimeZone};
use chrono_tz::Tz;
use croner::Cron;
use croner::errors::CronError;
use croner::parser::{CronParser, Seconds, Year};

/// Most due instants `due_runs` enumerates to count skipped runs; beyond it
/// the skipped count is a lower bound and `Skipped::truncated` is set.
pub const MAX_ENUMERATED: u64 = 100_000;

/// Most runs `due_runs` starts at once under a catch-up window; older due
/// instants inside the window are reported as skipped.
pub const MAX_STARTED: usize = 10_000;

/// Errors parsing a schedule. Messages name the reason (shown at the CLI).
#[derive(Debug, thiserror::Error)]
pub enum CadenceError {
    /// The cron expression is malformed or never matches a date.
    #[error("invalid cron expression `{expr}`: {reason}")]
    InvalidCron {
        /// The expression as given.
        expr: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The time zone is not a known IANA zone name.
    #[error("unknown time zone `{0}` (use an IANA name such as Europe/Berlin or UTC)")]
    UnknownZone(String),
}

/// A parsed cron expression in a time zone.
#[derive(Clone)]
pub struct Cadence {
    expr: String,
    zone: Tz,
    cron: Cron,
    /// The hour field matches all 24 hours: follow real elapsed time at DST
    /// transitions (see the module doc).
    every_hour: bool,
}

impl fmt::Debug for Cadence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `croner::Cron`'s own Debug prints thousands of bitfield entries.
        f.debug_struct("Cadence")
            .field("expr", &self.expr)
            .field("zone", &self.zone.name())
            .field("every_hour", &self.every_hour)
            .finish()
    }
}

/// How one wall-clock time maps to real instants (unix seconds).
enum Wall {
    Single(i64),
    Repeated { earlier: i64, later: i64 },
    Gap,
}

const FIELDS_5: [(&str, &str); 5] = [
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31, L, W"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-7 or SUN-SAT, L, #"),
];
const SECONDS_FIELD: (&str, &str) = ("second", "0-59");
const NICKNAMES: &str = "@yearly, @annually, @monthly, @weekly, @daily, @hourly";

impl Cadence {
    /// Standard 5-field cron, plus an optional leading seconds field (6 fields), named days (MON-SUN) and months (JAN-DEC). `tz` is an IANA zone name (UTC allowed).
    ///
    /// # Errors
    ///
    /// [`CadenceError::InvalidCron`] naming the reason (and the field at
    /// fault where there is one), checked first; then
    /// [`CadenceError::UnknownZone`].
    pub fn parse(expr: &str, tz: &str) -> Result<Cadence, CadenceError> {
        let expr = expr.trim();
        let invalid = |reason: String| CadenceError::InvalidCron {
            expr: expr.to_owned(),
            reason,
        };
        if expr.is_empty() {
            return Err(invalid("the expression is empty".to_owned()));
        }
        let parser = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build();
        let fields: Vec<&str> = expr.split_whitespace().collect();
        if expr.starts_with('@') {
            if fields.len() != 1 {
                return Err(invalid(format!(
                    "a nickname stands alone (supported: {NICKNAMES})"
                )));
            }
        } else if fields.len() != 5 && fields.len() != 6 {
            return Err(invalid(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week) \
                 or 6 with a leading seconds field, found {}",
                fields.len()
            )));
        }
        let cron = match parser.parse(expr) {
            Ok(cron) => cron,
            Err(err) => {
                let reason = if expr.starts_with('@') {
                    format!("unknown nickname (supported: {NICKNAMES})")
                } else {
                    blame_field(&parser, &fields).unwrap_or_else(|| cron_reason(&err))
                };
                return Err(invalid(reason));
            }
        };
        // Without a year field a pattern repeats within the 400-year
        // Gregorian cycle, so one search from a fixed date proves it matches.
        let probe = NaiveDate::from_ymd_opt(2000, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0));
        if probe.is_none_or(|p| cron.find_next_occurrence(&p, true).is_err()) {
            return Err(invalid(
                "it never matches a calendar date (for example day 30 of February)".to_owned(),
            ));
        }
        let every_hour = cron.pattern.hours.values().len() == 24;
        let zone = parse_zone(tz)?;
        Ok(Cadence {
            expr: expr.to_owned(),
            zone,
            cron,
            every_hour,
        })
    }

    /// The first fire instant strictly after `after_ms` (unix milliseconds, UTC), or None if the expression never fires again.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let from = after_ms.div_euclid(1000).checked_add(1)?;
        self.next_at_or_after(from)?.checked_mul(1000)
    }

    /// The expression as given (trimmed).
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The canonical IANA name of the time zone.
    pub fn zone(&self) -> &str {
        self.zone.name()
    }

    // --- wall clock <-> instants (unix seconds) ---

    fn wall(&self, secs: i64) -> Option<NaiveDateTime> {
        DateTime::from_timestamp(secs, 0).map(|t| t.with_timezone(&self.zone).naive_local())
    }

    fn resolve(&self, wall: NaiveDateTime) -> Wall {
        match self.zone.from_local_datetime(&wall) {
            LocalResult::Single(t) => Wall::Single(t.timestamp()),
            LocalResult::Ambiguous(a, b) => {
                let (a, b) = (a.timestamp(), b.timestamp());
                Wall::Repeated {
                    earlier: a.min(b),
                    later: a.max(b),
                }
            }
            LocalResult::None => Wall::Gap,
        }
    }

    fn is_repeated(&self, wall: NaiveDateTime) -> bool {
        matches!(self.resolve(wall), Wall::Repeated { .. })
    }

    fn is_gap(&self, wall: NaiveDateTime) -> bool {
        matches!(self.resolve(wall), Wall::Gap)
    }

    /// The first wall-clock time at or after `from` that the pattern matches.
    fn next_match(&self, from: NaiveDateTime) -> Option<NaiveDateTime> {
        self.cron.find_next_occurrence(&from, true).ok()
    }

    /// For `wall` inside a gap: the first existing wall-clock time after the
    /// gap and the instant it starts (the instant the gap ends).
    fn gap_end(&self, wall: NaiveDateTime) -> Option<(NaiveDateTime, i64)> {
        // Gallop to an existing time, then bisect: gaps are contiguous.
        let mut lo = wall;
        let mut step = 1_i64;
        let mut hi = loop {
            let probe = add_secs(wall, step)?;
            if !self.is_gap(probe) {
                break probe;
            }
            lo = probe;
            step *= 2;
            if step > 4 * 86_400 {
                return None;
            }
        };
        while secs_between(lo, hi) > 1 {
            let mid = add_secs(lo, secs_between(lo, hi) / 2)?;
            if self.is_gap(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let instant = match self.resolve(hi) {
            Wall::Single(t) | Wall::Repeated { earlier: t, .. } => t,
            Wall::Gap => return None,
        };
        Some((hi, instant))
    }

    /// For a repeated `wall` with instants `earlier` and `later`: the first
    /// repeated wall-clock time of that overlap and the first one after it.
    fn overlap_bounds(
        &self,
        wall: NaiveDateTime,
        earlier: i64,
        later: i64,
    ) -> Option<(NaiveDateTime, NaiveDateTime)> {
        // The overlap is `later - earlier` long, so `wall - len` lies before
        // it and `wall + len` after it.
        let len = later - earlier;
        let (mut lo, mut hi) = (add_secs(wall, -len)?, wall);
        while secs_between(lo, hi) > 1 {
            let mid = add_secs(lo, secs_between(lo, hi) / 2)?;
            if self.is_repeated(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        let start = hi;
        let (mut lo, mut hi) = (wall, add_secs(wall, len)?);
        while secs_between(lo, hi) > 1 {
            let mid = add_secs(lo, secs_between(lo, hi) / 2)?;
            if self.is_repeated(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some((start, hi))
    }

    /// The first fire instant at or after `from` (unix seconds).
    ///
    /// Fire instants are the wall-clock matches mapped by the DST rule. That
    /// map is monotonic except in an overlap, so the search walks matches
    /// from the wall-clock time of `from` and adds one look back: an
    /// every-hour schedule standing on the first pass of an overlap still has
    /// the second pass of earlier wall-clock times ahead of it.
    fn next_at_or_after(&self, from: i64) -> Option<i64> {
        let here = self.wall(from)?;
        // If `from` is the instant a gap ends, the gap's wall-clock times
        // map to `from` itself: start at the gap's first time.
        let just_before = add_secs(self.wall(from.checked_sub(1)?)?, 1)?;
        let mut cursor = here.min(just_before);
        let mut best: Option<i64> = None;

        if self.every_hour
            && let Wall::Repeated { earlier, later } = self.resolve(here)
            && from < later
            && let Some((start, _)) = self.overlap_bounds(here, earlier, later)
            && let Some(m) = self.next_match(start)
            && m < here
            && let Wall::Repeated { later: second, .. } = self.resolve(m)
            && second >= from
        {
            best = Some(second);
        }

        // Each pass either yields a candidate, steps one second past an
        // instant behind `from`, or jumps over a whole gap or overlap.
        for _ in 0..64 {
            let Some(m) = self.next_match(cursor) else {
                break;
            };
            let candidate = match self.resolve(m) {
                Wall::Single(t) => (t >= from).then_some(t),
                Wall::Repeated { earlier, later } => {
                    if earlier >= from {
                        Some(earlier)
                    } else if self.every_hour && later >= from {
                        Some(later)
                    } else {
                        // Every later match of this overlap is behind `from`
                        // or a second pass that does not fire.
                        cursor = self.overlap_bounds(m, earlier, later)?.1;
                        continue;
                    }
                }
                Wall::Gap => {
                    let (after_gap, instant) = self.gap_end(m)?;
                    if self.every_hour || instant < from {
                        // Every match in this gap maps to `instant`, or
                        // (every-hour) to nothing.
                        cursor = after_gap;
                        continue;
                    }
                    Some(instant)
                }
            };
            match candidate {
                Some(c) => {
                    best = Some(best.map_or(c, |b| b.min(c)));
                    break;
                }
                None => cursor = add_secs(m, 1)?,
            }
        }
        best
    }

    /// The last fire instant in `lo..=hi` (unix seconds), found by galloping
    /// back from `hi` and bisecting on "is there a fire in `t..=hi`".
    fn prev_at_or_before(&self, lo: i64, hi: i64) -> Option<i64> {
        if lo > hi {
            return None;
        }
        let fire_in = |t: i64| self.next_at_or_after(t).filter(|&f| f <= hi);
        // `found` is a fire in lo..=hi; no fire lies in `none..=hi`.
        let mut found = fire_in(lo)?;
        let mut none = hi.checked_add(1)?;
        let mut step = 1_i64;
        loop {
            let t = none.saturating_sub(step);
            if t <= found {
                break;
            }
            match fire_in(t) {
                Some(f) => {
                    found = f;
                    break;
                }
                None => {
                    none = t;
                    step = step.saturating_mul(2);
                }
            }
        }
        while none - found > 1 {
            let mid = found + (none - found) / 2;
            match fire_in(mid) {
                Some(f) => found = f,
                None => none = mid,
            }
        }
        Some(found)
    }

    /// Count the fire instants in `lo..=hi` (unix seconds), enumerating at
    /// most `MAX_ENUMERATED`; first and last are always exact.
    fn skipped_in(&self, lo: i64, hi: i64) -> Option<Skipped> {
        let first = self.next_at_or_after(lo).filter(|&f| f <= hi)?;
        let last = self.prev_at_or_before(first, hi)?;
        let mut count = 1_u64;
        let mut at = first;
        let mut truncated = false;
        while at < last {
            if count >= MAX_ENUMERATED {
                truncated = true;
                break;
            }
            match self.next_at_or_after(at + 1) {
                Some(f) if f <= last => {
                    at = f;
                    count += 1;
                }
                _ => break,
            }
        }
        Some(Skipped {
            count,
            first: first.checked_mul(1000)?,
            last: last.checked_mul(1000)?,
            truncated,
        })
    }
}

fn parse_zone(tz: &str) -> Result<Tz, CadenceError> {
    let name = tz.trim();
    if name.eq_ignore_ascii_case("utc") {
        return Ok(Tz::UTC);
    }
    name.parse::<Tz>()
        .map_err(|_| CadenceError::UnknownZone(tz.to_owned()))
}

/// Re-parse each field alone (the others `*`) to name the one at fault.
fn blame_field(parser: &CronParser, fields: &[&str]) -> Option<String> {
    let names: Vec<(&str, &str)> = if fields.len() == 6 {
        std::iter::once(SECONDS_FIELD).chain(FIELDS_5).collect()
    } else {
        FIELDS_5.to_vec()
    };
    fields.iter().enumerate().find_map(|(i, field)| {
        let probe: Vec<&str> = (0..fields.len())
            .map(|j| if j == i { *field } else { "*" })
            .collect();
        let err = parser.parse(&probe.join(" ")).err()?;
        let (name, allowed) = names.get(i)?;
        Some(format!(
            "{name} field `{field}`: {} (allowed: {allowed})",
            cron_reason(&err)
        ))
    })
}

fn cron_reason(err: &CronError) -> String {
    let text = match err {
        CronError::InvalidPattern(m)
        | CronError::IllegalCharacters(m)
        | CronError::ComponentError(m) => m.clone(),
        other => other.to_string(),
    };
    let text = text.trim_end_matches('.');
    let text = text.strip_prefix("CronPattern ").unwrap_or(text);
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => "malformed".to_owned(),
    }
}

fn add_secs(t: NaiveDateTime, secs: i64) -> Option<NaiveDateTime> {
    t.checked_add_signed(TimeDelta::try_seconds(secs)?)
}

fn secs_between(a: NaiveDateTime, b: NaiveDateTime) -> i64 {
    (b - a).num_seconds()
}

/// Which due runs to start now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueRuns {
    /// Fire instants (unix ms) to enqueue now, oldest first.
    pub start: Vec<i64>,
    /// Missed fire instants that will not run: how many, the first and the last (unix ms).
    pub skipped: Option<Skipped>,
    /// The instant after which to look next time (the last instant considered, i.e. the newest due instant <= now, or `since_ms` if none was due).
    pub considered_until: i64,
}

/// Missed fire instants that will not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// How many; a lower bound when `truncated`.
    pub count: u64,
    /// The oldest skipped instant (unix ms), always exact.
    pub first: i64,
    /// The newest skipped instant (unix ms), always exact.
    pub last: i64,
    /// Counting stopped after `MAX_ENUMERATED` instants.
    pub truncated: bool,
}

/// The runs due in `(since_ms, now_ms]`: the fire instants after `since_ms` and at or before `now_ms`.
///
/// Catch-up rule: with `catch_up_window_ms = None` (the default) only the
/// latest due instant is started and every earlier one is skipped; with
/// `Some(w)`, every due instant within `now_ms - w ..= now_ms` is started
/// (at most the newest `MAX_STARTED` of them; a negative `w` counts as 0) and
/// older ones are skipped.
///
/// Bounded work: the latest due instant is found by galloping back from
/// `now_ms` and bisecting over "next fire at or after t", and window starts
/// by stepping back from it the same way, so neither depends on the length
/// of the downtime. Skipped runs are counted by walking forward from the
/// first one for at most `MAX_ENUMERATED` instants; past that the count is a
/// lower bound and `truncated` is set, while `first` and `last` stay exact.
/// Started instants are always exact.
pub fn due_runs(
    cadence: &Cadence,
    since_ms: i64,
    now_ms: i64,
    catch_up_window_ms: Option<i64>,
) -> DueRuns {
    let nothing = DueRuns {
        start: Vec::new(),
        skipped: None,
        considered_until: since_ms,
    };
    // In unix seconds: fires in lo..=hi are due.
    let Some(lo) = since_ms.div_euclid(1000).checked_add(1) else {
        return nothing;
    };
    let hi = now_ms.div_euclid(1000);
    let Some(latest) = cadence.prev_at_or_before(lo, hi) else {
        return nothing;
    };

    let mut start = Vec::new();
    match catch_up_window_ms {
        None => start.push(latest),
        Some(window) => {
            let from_ms = now_ms.saturating_sub(window.max(0));
            // Ceiling division: f * 1000 >= from_ms.
            let from = from_ms.div_euclid(1000) + i64::from(from_ms.rem_euclid(1000) != 0);
            let from = from.max(lo);
            let mut at = Some(latest).filter(|&f| f >= from);
            while let Some(f) = at {
                start.push(f);
                if start.len() >= MAX_STARTED {
                    break;
                }
                at = f
                    .checked_sub(1)
                    .and_then(|before| cadence.prev_at_or_before(from, before));
            }
            start.reverse();
        }
    }

    let skipped = match start.first() {
        Some(&oldest) => oldest
            .checked_sub(1)
            .and_then(|before| cadence.skipped_in(lo, before)),
        None => cadence.skipped_in(lo, hi),
    };
    let to_ms = |s: i64| s.saturating_mul(1000);
    DueRuns {
        start: start.into_iter().map(to_ms).collect(),
        skipped,
        considered_until: to_ms(latest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix ms of an RFC 3339 instant.
    fn ms(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339)
            .expect("test instant parses")
            .timestamp_millis()
    }

    fn cadence(expr: &str, tz: &str) -> Cadence {
        Cadence::parse(expr, tz).expect("test expression parses")
    }

    /// All fire instants in (from, to], via repeated `next_after`.
    fn fires(c: &Cadence, from: i64, to: i64) -> Vec<i64> {
        let mut out = Vec::new();
        let mut at = from;
        while let Some(next) = c.next_after(at) {
            if next > to {
                break;
            }
            assert!(next > at, "next_after must move forward");
            out.push(next);
            at = next;
            assert!(out.len() < 100_000, "runaway enumeration");
        }
        out
    }

    /// Fire instants rendered in the zone, for readable assertions.
    fn local(c: &Cadence, instants: &[i64]) -> Vec<String> {
        instants
            .iter()
            .map(|&t| {
                use chrono::{Datelike as _, Offset as _, Timelike as _};
                let at = DateTime::from_timestamp_millis(t)
                    .expect("instant in range")
                    .with_timezone(&c.zone);
                let offset = at.offset().fix().local_minus_utc();
                let sign = if offset < 0 { '-' } else { '+' };
                let offset = offset.abs() / 60;
                format!(
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02} {sign}{:02}:{:02}",
                    at.year(),
                    at.month(),
                    at.day(),
                    at.hour(),
                    at.minute(),
                    at.second(),
                    offset / 60,
                    offset % 60
                )
            })
            .collect()
    }

    fn invalid_reason(expr: &str) -> String {
        match Cadence::parse(expr, "UTC") {
            Err(CadenceError::InvalidCron { expr: e, reason }) => {
                assert_eq!(e, expr.trim());
                reason
            }
            other => panic!("expected InvalidCron for {expr:?}, got {other:?}"),
        }
    }

    // --- parse ---

    #[test]
    fn parses_five_fields() {
        let c = cadence("*/15 9-17 * * *", "UTC");
        assert_eq!(c.expr(), "*/15 9-17 * * *");
        assert_eq!(c.zone(), "UTC");
        assert_eq!(
            c.next_after(ms("2026-01-05T09:07:00Z")),
            Some(ms("2026-01-05T09:15:00Z"))
        );
        assert_eq!(
            c.next_after(ms("2026-01-05T17:45:00Z")),
            Some(ms("2026-01-06T09:00:00Z"))
        );
    }

    #[test]
    fn parses_six_fields_with_seconds() {
        let c = cadence("*/10 * * * * *", "UTC");
        assert_eq!(
            c.next_after(ms("2026-01-05T09:07:03Z")),
            Some(ms("2026-01-05T09:07:10Z"))
        );
        let c = cadence("30 0 12 * * *", "UTC");
        assert_eq!(
            c.next_after(ms("2026-01-05T00:00:00Z")),
            Some(ms("2026-01-05T12:00:30Z"))
        );
    }

    #[test]
    fn parses_named_days_and_months() {
        let c = cadence("0 9 * * MON-FRI", "UTC");
        // 2026-01-09 is a Friday.
        assert_eq!(
            c.next_after(ms("2026-01-09T09:00:00Z")),
            Some(ms("2026-01-12T09:00:00Z"))
        );
        let c = cadence("0 0 1 JAN *", "UTC");
        assert_eq!(
            c.next_after(ms("2026-01-01T00:00:00Z")),
            Some(ms("2027-01-01T00:00:00Z"))
        );
        let c = cadence("0 0 * * sun", "UTC");
        assert_eq!(
            c.next_after(ms("2026-01-05T00:00:00Z")),
            Some(ms("2026-01-11T00:00:00Z"))
        );
        let c = cadence("@hourly", "UTC");
        assert_eq!(
            c.next_after(ms("2026-01-05T00:00:00Z")),
            Some(ms("2026-01-05T01:00:00Z"))
        );
    }

    #[test]
    fn parse_trims_and_canonicalises_zone() {
        let c = cadence("  0 9 * * *  ", " utc ");
        assert_eq!(c.expr(), "0 9 * * *");
        assert_eq!(c.zone(), "UTC");
        assert_eq!(
            cadence("0 9 * * *", "Europe/Berlin").zone(),
            "Europe/Berlin"
        );
    }

    #[test]
    fn rejects_wrong_field_count() {
        let reason = invalid_reason("* * *");
        assert!(reason.contains("expected 5 fields"), "{reason}");
        assert!(reason.contains("found 3"), "{reason}");
        let reason = invalid_reason("0 0 0 1 1 * 2026");
        assert!(reason.contains("found 7"), "{reason}");
    }

    #[test]
    fn rejects_out_of_range_values_naming_the_field() {
        let reason = invalid_reason("61 * * * *");
        assert!(reason.starts_with("minute field `61`"), "{reason}");
        assert!(reason.contains("0-59"), "{reason}");
        let reason = invalid_reason("0 24 * * *");
        assert!(reason.starts_with("hour field `24`"), "{reason}");
        let reason = invalid_reason("0 0 0 * *");
        assert!(reason.starts_with("day-of-month field `0`"), "{reason}");
        let reason = invalid_reason("0 0 * 13 *");
        assert!(reason.starts_with("month field `13`"), "{reason}");
        let reason = invalid_reason("0 0 * * 8");
        assert!(reason.starts_with("day-of-week field `8`"), "{reason}");
        let reason = invalid_reason("60 0 0 * * *");
        assert!(reason.starts_with("second field `60`"), "{reason}");
        let reason = invalid_reason("*/0 * * * *");
        assert!(reason.contains("step"), "{reason}");
    }

    #[test]
    fn rejects_garbage() {
        let reason = invalid_reason("every day at noon");
        assert!(reason.contains("found 4"), "{reason}");
        let reason = invalid_reason("a b c d e");
        assert!(reason.starts_with("minute field `a`"), "{reason}");
        let reason = invalid_reason("0 9 * * FUNDAY");
        assert!(reason.starts_with("day-of-week field"), "{reason}");
        let reason = invalid_reason("");
        assert!(reason.contains("empty"), "{reason}");
        let reason = invalid_reason("@reboot");
        assert!(reason.contains("nickname"), "{reason}");
        let reason = invalid_reason("0 0 30 2 *");
        assert!(reason.contains("never matches"), "{reason}");
        let err = Cadence::parse("61 * * * *", "UTC").expect_err("invalid");
        assert_eq!(
            err.to_string(),
            "invalid cron expression `61 * * * *`: minute field `61`: \
             number out of bounds (allowed: 0-59)"
        );
    }

    #[test]
    fn rejects_unknown_zone() {
        for zone in ["Mars/Olympus_Mons", "", "CEST+2", "europe/berlin"] {
            match Cadence::parse("0 9 * * *", zone) {
                Err(CadenceError::UnknownZone(z)) => assert_eq!(z, zone),
                other => panic!("expected UnknownZone for {zone:?}, got {other:?}"),
            }
        }
        let err = Cadence::parse("0 9 * * *", "Mars/Olympus_Mons").expect_err("unknown");
        assert!(err.to_string().contains("IANA"), "{err}");
    }

    #[test]
    fn expression_errors_come_before_zone_errors() {
        let err = Cadence::parse("61 * * * *", "Nowhere/Land").expect_err("invalid");
        assert!(matches!(err, CadenceError::InvalidCron { .. }), "{err}");
    }

    #[test]
    fn debug_is_compact() {
        let text = format!("{:?}", cadence("0 9 * * *", "Europe/Berlin"));
        assert!(text.contains("Europe/Berlin") && text.len() < 200, "{text}");
    }

    // --- next_after ---

    #[test]
    fn next_after_is_strict_and_ms_aware() {
        let c = cadence("0 * * * *", "UTC");
        let t = ms("2026-01-05T10:00:00Z");
        assert_eq!(c.next_after(t - 1), Some(t));
        assert_eq!(c.next_after(t), Some(t + 3_600_000));
        assert_eq!(c.next_after(t + 999), Some(t + 3_600_000));
        // Negative instants (before 1970) work too.
        assert_eq!(c.next_after(-1), Some(0));
        assert_eq!(c.next_after(-3_600_001), Some(-3_600_000));
    }

    #[test]
    fn next_after_in_zones() {
        let c = cadence("0 9 * * *", "Europe/Berlin");
        // Winter: CET (+01:00).
        assert_eq!(
            c.next_after(ms("2026-01-05T12:00:00Z")),
            Some(ms("2026-01-06T08:00:00Z"))
        );
        // Summer: CEST (+02:00).
        assert_eq!(
            c.next_after(ms("2026-07-05T12:00:00Z")),
            Some(ms("2026-07-06T07:00:00Z"))
        );
        let c = cadence("0 9 * * MON", "Asia/Kolkata");
        assert_eq!(
            c.next_after(ms("2026-01-05T00:00:00Z")),
            Some(ms("2026-01-05T03:30:00Z"))
        );
        let c = cadence("0 0 1 * *", "America/Los_Angeles");
        assert_eq!(
            c.next_after(ms("2026-02-01T00:00:00Z")),
            Some(ms("2026-02-01T08:00:00Z"))
        );
    }

    #[test]
    fn rare_and_far_schedules() {
        // Feb 29 that is also a Monday (`+` = both must match): 2044-02-29.
        let c = cadence("0 0 29 2 +MON", "UTC");
        assert_eq!(
            c.next_after(ms("2026-01-01T00:00:00Z")),
            Some(ms("2044-02-29T00:00:00Z"))
        );
        // Near croner's search horizon the schedule ends.
        let c = cadence("0 0 1 1 *", "UTC");
        assert_eq!(
            c.next_after(ms("4999-06-01T00:00:00Z")),
            Some(ms("5000-01-01T00:00:00Z"))
        );
        assert_eq!(c.next_after(ms("5000-01-01T00:00:00Z")), None);
        assert_eq!(c.next_after(i64::MAX), None);
    }

    // --- DST ---

    /// A daily job at `hh:mm` in `zone`, walked day by day over
    /// `first_day..=last_day` (local dates): exactly one fire per local day.
    fn walk_daily(zone: &str, hh_mm: (u32, u32), from: &str, to: &str) -> Vec<String> {
        let c = cadence(&format!("{} {} * * *", hh_mm.1, hh_mm.0), zone);
        let all = fires(&c, ms(from), ms(to));
        let rendered = local(&c, &all);
        let mut days: Vec<&str> = rendered.iter().map(|s| &s[..10]).collect();
        let n = days.len();
        days.dedup();
        assert_eq!(days.len(), n, "one fire per local day: {rendered:?}");
        rendered
    }

    #[test]
    fn new_york_spring_forward() {
        let zone = "America/New_York";
        // 02:30 does not exist on 2026-03-08: fires once at 03:00 EDT.
        let c = cadence("30 2 * * *", zone);
        let t = c.next_after(ms("2026-03-07T12:00:00Z")).expect("fires");
        assert_eq!(t, ms("2026-03-08T07:00:00Z"));
        assert_eq!(local(&c, &[t]), ["2026-03-08 03:00:00 -04:00"]);
        // From just before the gap end, and from the gap end itself.
        assert_eq!(c.next_after(t - 1), Some(t));
        assert_eq!(c.next_after(t), Some(ms("2026-03-09T06:30:00Z")));
        let walked = walk_daily(
            zone,
            (2, 30),
            "2026-03-05T00:00:00Z",
            "2026-03-11T23:59:59Z",
        );
        assert_eq!(
            walked,
            [
                "2026-03-05 02:30:00 -05:00",
                "2026-03-06 02:30:00 -05:00",
                "2026-03-07 02:30:00 -05:00",
                "2026-03-08 03:00:00 -04:00",
                "2026-03-09 02:30:00 -04:00",
                "2026-03-10 02:30:00 -04:00",
                "2026-03-11 02:30:00 -04:00",
            ]
        );
        // Times around the gap are unaffected.
        walk_daily(
            zone,
            (1, 59),
            "2026-03-05T00:00:00Z",
            "2026-03-11T23:59:59Z",
        );
        walk_daily(zone, (3, 0), "2026-03-05T00:00:00Z", "2026-03-11T23:59:59Z");
        // Several times in one gap fire once together.
        let c = cadence("*/20 2 * * *", zone);
        let day = fires(&c, ms("2026-03-08T05:00:00Z"), ms("2026-03-09T05:00:00Z"));
        assert_eq!(day, [ms("2026-03-08T07:00:00Z")]);
        // A list of hours is not an every-hour schedule: same rule.
        let c = cadence("30 2,14 * * *", zone);
        let day = fires(&c, ms("2026-03-08T05:00:00Z"), ms("2026-03-09T05:00:00Z"));
        assert_eq!(
            local(&c, &day),
            ["2026-03-08 03:00:00 -04:00", "2026-03-08 14:30:00 -04:00"]
        );
    }

    #[test]
    fn new_york_fall_back() {
        let zone = "America/New_York";
        // 01:30 happens twice on 2026-11-01: fires once, at 01:30 EDT.
        let c = cadence("30 1 * * *", zone);
        let day = fires(&c, ms("2026-11-01T04:00:00Z"), ms("2026-11-02T04:00:00Z"));
        assert_eq!(day, [ms("2026-11-01T05:30:00Z")]);
        assert_eq!(local(&c, &day), ["2026-11-01 01:30:00 -04:00"]);
        // Asking from inside the overlap (either pass) goes to the next day.
        for from in [
            "2026-11-01T05:45:00Z",
            "2026-11-01T06:15:00Z",
            "2026-11-01T06:45:00Z",
        ] {
            assert_eq!(
                c.next_after(ms(from)),
                Some(ms("2026-11-02T06:30:00Z")),
                "from {from}"
            );
        }
        let walked = walk_daily(
            zone,
            (1, 30),
            "2026-10-29T00:00:00Z",
            "2026-11-04T23:59:59Z",
        );
        assert_eq!(walked.len(), 7);
        assert_eq!(walked[3], "2026-11-01 01:30:00 -04:00");
        assert_eq!(walked[4], "2026-11-02 01:30:00 -05:00");
        walk_daily(zone, (1, 0), "2026-10-29T00:00:00Z", "2026-11-04T23:59:59Z");
        walk_daily(zone, (2, 0), "2026-10-29T00:00:00Z", "2026-11-04T23:59:59Z");
        // Listed hours and per-minute jobs pinned to the hour: first pass only.
        let c = cadence("30 1,13 * * *", zone);
        let day = fires(&c, ms("2026-11-01T04:00:00Z"), ms("2026-11-02T04:00:00Z"));
        assert_eq!(
            local(&c, &day),
            ["2026-11-01 01:30:00 -04:00", "2026-11-01 13:30:00 -05:00"]
        );
        let c = cadence("*/15 1 * * *", zone);
        let day = fires(&c, ms("2026-11-01T04:00:00Z"), ms("2026-11-02T04:00:00Z"));
        assert_eq!(
            local(&c, &day),
            [
                "2026-11-01 01:00:00 -04:00",
                "2026-11-01 01:15:00 -04:00",
                "2026-11-01 01:30:00 -04:00",
                "2026-11-01 01:45:00 -04:00",
            ]
        );
    }

    #[test]
    fn new_york_hourly_follows_real_time() {
        let zone = "America/New_York";
        let c = cadence("0 * * * *", zone);
        // Fall back: once per real hour, both 01:00s fire.
        let night = fires(&c, ms("2026-11-01T03:30:00Z"), ms("2026-11-01T08:30:00Z"));
        assert_eq!(
            local(&c, &night),
            [
                "2026-11-01 00:00:00 -04:00",
                "2026-11-01 01:00:00 -04:00",
                "2026-11-01 01:00:00 -05:00",
                "2026-11-01 02:00:00 -05:00",
                "2026-11-01 03:00:00 -05:00",
            ]
        );
        assert!(night.windows(2).all(|w| w[1] - w[0] == 3_600_000));
        // From the first pass of the overlap, the second 01:00 is next.
        assert_eq!(
            c.next_after(ms("2026-11-01T05:30:00Z")),
            Some(ms("2026-11-01T06:00:00Z"))
        );
        // Spring forward: 02:00 does not exist; still once per real hour.
        let night = fires(&c, ms("2026-03-08T04:30:00Z"), ms("2026-03-08T08:30:00Z"));
        assert_eq!(
            local(&c, &night),
            [
                "2026-03-08 00:00:00 -05:00",
                "2026-03-08 01:00:00 -05:00",
                "2026-03-08 03:00:00 -04:00",
                "2026-03-08 04:00:00 -04:00",
            ]
        );
        assert!(night.windows(2).all(|w| w[1] - w[0] == 3_600_000));
        // An every-hour job at :30 has no 02:30 that day and no 03:00 fire.
        let c = cadence("30 * * * *", zone);
        let night = fires(&c, ms("2026-03-08T05:00:00Z"), ms("2026-03-08T08:00:00Z"));
        assert_eq!(
            local(&c, &night),
            [
                "2026-03-08 00:30:00 -05:00",
                "2026-03-08 01:30:00 -05:00",
                "2026-03-08 03:30:00 -04:00"
            ]
        );
    }

    #[test]
    fn sub_hourly_jobs_tick_in_real_time_across_transitions() {
        for (zone, day_start, day_end) in [
            (
                "America/New_York",
                "2026-03-08T00:00:00Z",
                "2026-03-09T12:00:00Z",
            ),
            (
                "America/New_York",
                "2026-11-01T00:00:00Z",
                "2026-11-02T12:00:00Z",
            ),
            (
                "Europe/Berlin",
                "2026-03-28T12:00:00Z",
                "2026-03-29T12:00:00Z",
            ),
            (
                "Europe/Berlin",
                "2026-10-24T12:00:00Z",
                "2026-10-25T12:00:00Z",
            ),
            (
                "Australia/Sydney",
                "2026-04-04T06:00:00Z",
                "2026-04-05T06:00:00Z",
            ),
            (
                "Australia/Sydney",
                "2026-10-03T06:00:00Z",
                "2026-10-04T06:00:00Z",
            ),
            (
                "Australia/Lord_Howe",
                "2026-04-04T06:00:00Z",
                "2026-04-05T06:00:00Z",
            ),
            (
                "Australia/Lord_Howe",
                "2026-10-03T06:00:00Z",
                "2026-10-04T06:00:00Z",
            ),
        ] {
            let c = cadence("*/15 * * * *", zone);
            let all = fires(&c, ms(day_start), ms(day_end));
            assert!(
                all.windows(2).all(|w| w[1] - w[0] == 900_000),
                "{zone} {day_start}: {:?}",
                local(&c, &all)
            );
            let c = cadence("*/30 * * * * *", zone);
            let from = ms(day_start);
            let all = fires(&c, from, from + 30 * 3_600_000);
            assert!(all.windows(2).all(|w| w[1] - w[0] == 30_000), "{zone}");
        }
    }

    #[test]
    fn berlin_transitions() {
        let zone = "Europe/Berlin";
        // Spring 2026-03-29: 02:00 CET -> 03:00 CEST.
        let c = cadence("30 2 * * *", zone);
        let day = fires(&c, ms("2026-03-28T23:00:00Z"), ms("2026-03-29T22:00:00Z"));
        assert_eq!(local(&c, &day), ["2026-03-29 03:00:00 +02:00"]);
        walk_daily(
            zone,
            (2, 30),
            "2026-03-26T00:00:00Z",
            "2026-04-01T23:59:59Z",
        );
        // Fall 2026-10-25: 03:00 CEST -> 02:00 CET; 02:30 repeats.
        let day = fires(&c, ms("2026-10-24T22:00:00Z"), ms("2026-10-25T23:00:00Z"));
        assert_eq!(local(&c, &day), ["2026-10-25 02:30:00 +02:00"]);
        let walked = walk_daily(
            zone,
            (2, 30),
            "2026-10-22T00:00:00Z",
            "2026-10-28T23:59:59Z",
        );
        assert_eq!(walked.len(), 7);
        // Hourly: 02:00 twice in real time, once per real hour.
        let c = cadence("0 * * * *", zone);
        let night = fires(&c, ms("2026-10-24T22:30:00Z"), ms("2026-10-25T02:30:00Z"));
        assert_eq!(
            local(&c, &night),
            [
                "2026-10-25 01:00:00 +02:00",
                "2026-10-25 02:00:00 +02:00",
                "2026-10-25 02:00:00 +01:00",
                "2026-10-25 03:00:00 +01:00",
            ]
        );
    }

    #[test]
    fn sydney_transitions() {
        let zone = "Australia/Sydney";
        // Fall back 2026-04-05: 03:00 AEDT -> 02:00 AEST; 02:30 repeats.
        let c = cadence("30 2 * * *", zone);
        let day = fires(&c, ms("2026-04-04T13:00:00Z"), ms("2026-04-05T13:00:00Z"));
        assert_eq!(local(&c, &day), ["2026-04-05 02:30:00 +11:00"]);
        walk_daily(
            zone,
            (2, 30),
            "2026-04-01T00:00:00Z",
            "2026-04-08T00:00:00Z",
        );
        // Spring forward 2026-10-04: 02:00 AEST -> 03:00 AEDT.
        let day = fires(&c, ms("2026-10-03T13:00:00Z"), ms("2026-10-04T13:00:00Z"));
        assert_eq!(local(&c, &day), ["2026-10-04 03:00:00 +11:00"]);
        let walked = walk_daily(
            zone,
            (2, 30),
            "2026-09-30T00:00:00Z",
            "2026-10-07T00:00:00Z",
        );
        assert_eq!(walked.len(), 7);
    }

    #[test]
    fn lord_howe_half_hour_transitions() {
        let zone = "Australia/Lord_Howe";
        // Fall back 2026-04-05: 02:00 (+11) -> 01:30 (+10:30); 01:45 repeats.
        let c = cadence("45 1 * * *", zone);
        let day = fires(&c, ms("2026-04-04T12:00:00Z"), ms("2026-04-05T12:00:00Z"));
        assert_eq!(local(&c, &day), ["2026-04-05 01:45:00 +11:00"]);
        walk_daily(
            zone,
            (1, 45),
            "2026-04-01T00:00:00Z",
            "2026-04-08T00:00:00Z",
        );
        // Spring forward 2026-10-04: 02:00 (+10:30) -> 02:30 (+11).
        let c = cadence("15 2 * * *", zone);
        let day = fires(&c, ms("2026-10-03T12:00:00Z"), ms("2026-10-04T12:00:00Z"));
        assert_eq!(local(&c, &day), ["2026-10-04 02:30:00 +11:00"]);
        walk_daily(
            zone,
            (2, 15),
            "2026-09-30T00:00:00Z",
            "2026-10-07T00:00:00Z",
        );
        // Hourly at :00 follows real instants: 02:00 (+10:30) after the
        // 30-minute repeat, 02:00 skipped in the gap.
        let c = cadence("0 * * * *", zone);
        let night = fires(&c, ms("2026-04-04T13:30:00Z"), ms("2026-04-04T16:30:00Z"));
        assert_eq!(
            local(&c, &night),
            [
                "2026-04-05 01:00:00 +11:00",
                "2026-04-05 02:00:00 +10:30",
                "2026-04-05 03:00:00 +10:30",
            ]
        );
        let night = fires(&c, ms("2026-10-03T13:00:00Z"), ms("2026-10-03T16:30:00Z"));
        assert_eq!(
            local(&c, &night),
            [
                "2026-10-04 00:00:00 +10:30",
                "2026-10-04 01:00:00 +10:30",
                "2026-10-04 03:00:00 +11:00",
            ]
        );
    }

    #[test]
    fn walking_many_zones_daily_never_doubles_or_drops_a_day() {
        for zone in [
            "America/New_York",
            "Europe/Berlin",
            "Australia/Sydney",
            "Australia/Lord_Howe",
            "America/Santiago",
            "Europe/London",
        ] {
            for hour in 0..4 {
                for minute in [0, 15, 30, 45] {
                    let rendered = walk_daily(
                        zone,
                        (hour, minute),
                        "2026-01-01T00:00:00Z",
                        "2027-01-01T00:00:00Z",
                    );
                    assert!(
                        (364..=366).contains(&rendered.len()),
                        "{zone} {hour}:{minute}: {} fires",
                        rendered.len()
                    );
                }
            }
        }
    }

    /// The fire instants (unix s) of the rule in the module doc, computed
    /// the slow way: every wall-clock `step` seconds from `from` to `to`,
    /// mapped.
    fn oracle(c: &Cadence, from: NaiveDateTime, to: NaiveDateTime, step: i64) -> Vec<i64> {
        let mut out = Vec::new();
        let mut wall = from;
        while wall <= to {
            if c.cron.is_time_matching(&wall).expect("matching works") {
                match c.resolve(wall) {
                    Wall::Single(t) => out.push(t),
                    Wall::Repeated { earlier, later } => {
                        out.push(earlier);
                        if c.every_hour {
                            out.push(later);
                        }
                    }
                    Wall::Gap => {
                        if !c.every_hour {
                            out.push(c.gap_end(wall).expect("gap ends").1);
                        }
                    }
                }
            }
            wall = add_secs(wall, step).expect("in range");
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    #[test]
    fn search_agrees_with_brute_force_oracle() {
        let transitions = [
            ("America/New_York", "2026-03-08"),
            ("America/New_York", "2026-11-01"),
            ("Europe/Berlin", "2026-03-29"),
            ("Europe/Berlin", "2026-10-25"),
            ("Australia/Sydney", "2026-04-05"),
            ("Australia/Sydney", "2026-10-04"),
            ("Australia/Lord_Howe", "2026-04-05"),
            ("Australia/Lord_Howe", "2026-10-04"),
        ];
        let exprs = [
            "0 * * * *",
            "30 * * * *",
            "*/15 * * * *",
            "*/7 * * * *",
            "30 1 * * *",
            "30 2 * * *",
            "45 1 * * *",
            "15 2 * * *",
            "0 2 * * *",
            "0 3 * * *",
            "*/20 1-2 * * *",
            "0 1,2,3 * * *",
            "7 */2 * * *",
            "* 2 * * *",
            "* 1 * * *",
            "0 0-23 * * *",
            "59 1 * * *",
            "0 9 * * SUN",
        ];
        for (zone, day) in transitions {
            let date: NaiveDate = day.parse().expect("date");
            let days = chrono::Days::new(2);
            let wall_from = (date - days).and_hms_opt(0, 0, 0).expect("ok");
            let wall_to = (date + days).and_hms_opt(23, 59, 0).expect("ok");
            for expr in exprs {
                let c = cadence(expr, zone);
                let want = oracle(&c, wall_from, wall_to, 60);
                // Compare strictly inside the enumerated wall-clock range.
                let lo = ms(&format!("{day}T00:00:00Z")) - 86_400_000;
                let hi = lo + 2 * 86_400_000;
                let want: Vec<i64> = want
                    .into_iter()
                    .map(|s| s * 1000)
                    .filter(|&t| t > lo && t <= hi)
                    .collect();
                let got = fires(&c, lo, hi);
                assert_eq!(
                    local(&c, &got),
                    local(&c, &want),
                    "{expr} in {zone} around {day}"
                );
                // due_runs finds the same latest instant and count from
                // arbitrary clock readings.
                for step in 1..=16 {
                    let now = lo + step * (hi - lo) / 16 - 1;
                    let due: Vec<i64> = want.iter().copied().filter(|&t| t <= now).collect();
                    let runs = due_runs(&c, lo, now, None);
                    assert_eq!(
                        runs.start,
                        due.last().copied().into_iter().collect::<Vec<_>>(),
                        "{expr} in {zone} now {now}"
                    );
                    assert_eq!(
                        runs.skipped.map_or(0, |s| s.count),
                        due.len().saturating_sub(1) as u64,
                        "{expr} in {zone} now {now}"
                    );
                    let window = due_runs(&c, lo, now, Some(3 * 3_600_000));
                    let in_window: Vec<i64> = due
                        .iter()
                        .copied()
                        .filter(|&t| t >= now - 3 * 3_600_000)
                        .collect();
                    assert_eq!(window.start, in_window, "{expr} in {zone} now {now}");
                }
            }
        }
    }

    #[test]
    fn seconds_schedules_agree_with_brute_force_oracle() {
        for (zone, day) in [
            ("America/New_York", "2026-11-01"),
            ("Australia/Lord_Howe", "2026-10-04"),
        ] {
            let date: NaiveDate = day.parse().expect("date");
            let days = chrono::Days::new(1);
            let wall_from = (date - days).and_hms_opt(0, 0, 0).expect("ok");
            let wall_to = (date + days).and_hms_opt(12, 0, 0).expect("ok");
            for expr in [
                "*/20 * * * * *",
                "30 30 2 * * *",
                "15 * 1 * * *",
                "10 45 1 * * *",
            ] {
                let c = cadence(expr, zone);
                let want = oracle(&c, wall_from, wall_to, 1);
                // Instants whose wall clock surely lies in the range above.
                let lo = wall_from.and_utc().timestamp_millis() + 12 * 3_600_000;
                let hi = wall_to.and_utc().timestamp_millis() - 14 * 3_600_000;
                let want: Vec<i64> = want
                    .into_iter()
                    .map(|s| s * 1000)
                    .filter(|&t| t > lo && t <= hi)
                    .collect();
                let transition = c
                    .zone
                    .from_local_datetime(&date.and_hms_opt(12, 0, 0).expect("ok"));
                let noon = transition.single().expect("noon exists").timestamp_millis();
                assert!(
                    lo < noon - 12 * 3_600_000 && noon < hi,
                    "window covers the night"
                );
                let got = fires(&c, lo, hi);
                assert_eq!(got, want, "{expr} in {zone} around {day}");
            }
        }
    }

    // --- due_runs ---

    #[test]
    fn due_runs_default_starts_latest_only() {
        let c = cadence("0 * * * *", "UTC");
        let since = ms("2026-01-05T10:00:00Z");
        let now = ms("2026-01-05T15:20:00Z");
        let due = due_runs(&c, since, now, None);
        assert_eq!(
            due,
            DueRuns {
                start: vec![ms("2026-01-05T15:00:00Z")],
                skipped: Some(Skipped {
                    count: 4,
                    first: ms("2026-01-05T11:00:00Z"),
                    last: ms("2026-01-05T14:00:00Z"),
                    truncated: false,
                }),
                considered_until: ms("2026-01-05T15:00:00Z"),
            }
        );
        // Exactly one due: started, nothing skipped.
        let due = due_runs(&c, since, ms("2026-01-05T11:30:00Z"), None);
        assert_eq!(due.start, [ms("2026-01-05T11:00:00Z")]);
        assert_eq!(due.skipped, None);
        // Bounds: since is exclusive, now inclusive.
        let due = due_runs(&c, since, ms("2026-01-05T11:00:00Z"), None);
        assert_eq!(due.start, [ms("2026-01-05T11:00:00Z")]);
        assert_eq!(due.considered_until, ms("2026-01-05T11:00:00Z"));
    }

    #[test]
    fn due_runs_window_starts_those_inside() {
        let c = cadence("*/10 * * * *", "UTC");
        let since = ms("2026-01-05T10:00:00Z");
        let now = ms("2026-01-05T12:05:00Z");
        let due = due_runs(&c, since, now, Some(35 * 60_000));
        assert_eq!(
            due.start,
            [
                ms("2026-01-05T11:30:00Z"),
                ms("2026-01-05T11:40:00Z"),
                ms("2026-01-05T11:50:00Z"),
                ms("2026-01-05T12:00:00Z"),
            ]
        );
        assert_eq!(
            due.skipped,
            Some(Skipped {
                count: 8,
                first: ms("2026-01-05T10:10:00Z"),
                last: ms("2026-01-05T11:20:00Z"),
                truncated: false,
            })
        );
        assert_eq!(due.considered_until, ms("2026-01-05T12:00:00Z"));
        // Window edge is inclusive: now - w exactly on a fire starts it.
        let due = due_runs(&c, since, now, Some(45 * 60_000));
        assert_eq!(due.start.first(), Some(&ms("2026-01-05T11:20:00Z")));
        // A window wider than the downtime starts everything.
        let due = due_runs(&c, since, now, Some(24 * 3_600_000));
        assert_eq!(due.start.len(), 12);
        assert_eq!(due.skipped, None);
        // Latest due is older than the window: nothing starts, all skipped.
        let c = cadence("0 0 * * *", "UTC");
        let due = due_runs(
            &c,
            ms("2026-01-01T12:00:00Z"),
            ms("2026-01-05T12:00:00Z"),
            Some(3_600_000),
        );
        assert!(due.start.is_empty());
        assert_eq!(due.skipped.as_ref().map(|s| s.count), Some(4));
        assert_eq!(due.considered_until, ms("2026-01-05T00:00:00Z"));
        // Zero window: only an instant exactly at now.
        let due = due_runs(
            &c,
            ms("2026-01-01T12:00:00Z"),
            ms("2026-01-05T00:00:00Z"),
            Some(0),
        );
        assert_eq!(due.start, [ms("2026-01-05T00:00:00Z")]);
        assert_eq!(due.skipped.as_ref().map(|s| s.count), Some(3));
    }

    #[test]
    fn due_runs_nothing_due() {
        let c = cadence("0 0 * * *", "UTC");
        let since = ms("2026-01-05T00:00:00Z");
        let expect = DueRuns {
            start: vec![],
            skipped: None,
            considered_until: since,
        };
        assert_eq!(
            due_runs(&c, since, ms("2026-01-05T23:59:59.999Z"), None),
            expect
        );
        assert_eq!(due_runs(&c, since, since, Some(60_000)), expect);
        // Clock went backwards.
        assert_eq!(due_runs(&c, since, since - 86_400_000, None), expect);
    }

    #[test]
    fn due_runs_across_dst_overlap() {
        let c = cadence("0 * * * *", "America/New_York");
        // From before the overlap to inside its second pass.
        let due = due_runs(
            &c,
            ms("2026-11-01T03:30:00Z"),
            ms("2026-11-01T06:30:00Z"),
            None,
        );
        assert_eq!(due.start, [ms("2026-11-01T06:00:00Z")]); // 01:00 EST
        assert_eq!(due.skipped.as_ref().map(|s| s.count), Some(2));
        // Inside the first pass: the latest is 01:00 EDT.
        let due = due_runs(
            &c,
            ms("2026-11-01T03:30:00Z"),
            ms("2026-11-01T05:59:59Z"),
            Some(3_600_000),
        );
        assert_eq!(due.start, [ms("2026-11-01T05:00:00Z")]);
        let c = cadence("30 1 * * *", "America/New_York");
        let due = due_runs(
            &c,
            ms("2026-10-31T12:00:00Z"),
            ms("2026-11-01T07:00:00Z"),
            None,
        );
        assert_eq!(due.start, [ms("2026-11-01T05:30:00Z")]);
        assert_eq!(due.skipped, None);
    }

    #[test]
    fn due_runs_huge_gap_stays_bounded() {
        let c = cadence("* * * * * *", "Europe/Berlin");
        let since = ms("2026-03-01T00:00:00Z");
        let now = ms("2026-03-31T00:00:00.500Z");
        let started = std::time::Instant::now();
        let due = due_runs(&c, since, now, None);
        assert_eq!(due.start, [ms("2026-03-31T00:00:00Z")]);
        assert_eq!(due.considered_until, ms("2026-03-31T00:00:00Z"));
        let skipped = due.skipped.expect("skipped");
        assert!(skipped.truncated);
        assert_eq!(skipped.count, MAX_ENUMERATED);
        assert_eq!(skipped.first, ms("2026-03-01T00:00:01Z"));
        assert_eq!(skipped.last, ms("2026-03-30T23:59:59Z"));

        // A one-minute window starts exactly the 60 newest seconds.
        let due = due_runs(&c, since, now, Some(59_500));
        assert_eq!(due.start.len(), 60);
        assert_eq!(due.start.first(), Some(&ms("2026-03-30T23:59:01Z")));
        assert_eq!(due.start.last(), Some(&ms("2026-03-31T00:00:00Z")));

        // A window as long as the downtime starts at most MAX_STARTED.
        let due = due_runs(&c, since, now, Some(i64::MAX));
        assert_eq!(due.start.len(), MAX_STARTED);
        assert_eq!(due.start.last(), Some(&ms("2026-03-31T00:00:00Z")));
        assert!(due.start.windows(2).all(|w| w[1] - w[0] == 1000));
        assert!(due.skipped.is_some_and(|s| s.truncated));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn due_runs_sparse_schedule_after_long_downtime() {
        let c = cadence("0 3 1 * *", "Europe/Berlin");
        let due = due_runs(
            &c,
            ms("2020-01-01T00:00:00Z"),
            ms("2026-06-15T00:00:00Z"),
            None,
        );
        assert_eq!(due.start, [ms("2026-06-01T01:00:00Z")]);
        let skipped = due.skipped.expect("skipped");
        assert_eq!(skipped.count, 77);
        assert_eq!(skipped.first, ms("2020-01-01T02:00:00Z"));
        assert_eq!(skipped.last, ms("2026-05-01T01:00:00Z"));
        assert!(!skipped.truncated);
    }
}
