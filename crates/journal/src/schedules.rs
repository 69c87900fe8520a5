//! Cron schedules, as both backends keep them: their definitions, each due run (fired
//! exactly once: the firing worker holds the write lock, or the row lock, and checks that no
//! other fired it first), and the caveats of runs that did not start.
//!
//! Which due runs of a firing start is decided here, once for both backends.

use serde::Serialize;

use super::NewTask;

/// A schedule as stored.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleRow {
    /// Its name.
    pub name: String,
    /// The cron expression.
    pub cron: String,
    /// The IANA time zone it is read in.
    pub zone: String,
    /// The pipeline file it runs.
    pub pipeline_path: String,
    /// The workspace its tasks run in.
    pub workspace: String,
    /// Pipeline parameters, JSON object.
    pub params: String,
    /// Missed runs this recent are started after downtime (none: only the latest).
    pub catch_up_ms: Option<i64>,
    /// What to do when a run is due while an earlier one is still active.
    pub overlap: String,
    /// Paused schedules fire nothing; runs due meanwhile are skipped.
    pub paused: bool,
    /// Every due instant up to this one (unix milliseconds) has been handled.
    pub considered_until: i64,
    /// When it was added.
    pub created_at: String,
}

impl ScheduleRow {
    /// The columns both backends select it by, in the order their mappings read them.
    pub const COLUMNS: &'static str = "name, cron, zone, pipeline_path, workspace, params, \
         catch_up_ms, overlap, paused, considered_until, created_at";
}

/// A caveat of a schedule: a due run that did not start, and why.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleCaveat {
    /// When it was recorded.
    pub at: String,
    /// What happened.
    pub message: String,
}

/// What to do with an active earlier run when a new one is due (what `--overlap` says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverlapRule {
    /// Start the new run alongside.
    Alongside,
    /// Queue the new run to start after the active one ends.
    After,
    /// Queue the new run only if none is waiting already; it starts after the active one.
    AfterOne,
    /// Do not start the new run.
    Skip,
    /// Cancel the active run and start the new one.
    Replace,
}

/// One firing of a schedule, prepared outside the write lock.
#[derive(Debug)]
pub struct Firing<'a> {
    /// The schedule.
    pub schedule: &'a str,
    /// `considered_until` as read before preparing: if it changed, another worker fired.
    pub seen_until: i64,
    /// The new `considered_until`.
    pub until: i64,
    /// Each due instant to start, with the task to queue for it, oldest first.
    pub start: Vec<(i64, NewTask<'a>)>,
    /// Due instants that will not start, and why (missed downtime, a pipeline that fails
    /// to load): recorded as caveats.
    pub caveats: Vec<String>,
    /// How to treat active earlier runs.
    pub overlap: OverlapRule,
}

/// Decides, for each due instant of `firing` in order, whether it starts (`None`) or is
/// skipped (`Some(reason)`), given the schedule's tasks `running` and `queued` now.
pub fn decide(firing: &Firing<'_>, running: i64, queued: i64) -> Vec<Option<&'static str>> {
    let last = firing.start.len().saturating_sub(1);
    let mut started = 0;
    (0..firing.start.len())
        .map(|index| {
            let skip = match firing.overlap {
                OverlapRule::Alongside | OverlapRule::After => None,
                OverlapRule::Skip if running + queued > 0 => {
                    Some("an earlier run is still active (overlap: skip)")
                }
                OverlapRule::AfterOne if queued > 0 || started == 1 => {
                    Some("a run is already waiting (overlap: buffer-one)")
                }
                OverlapRule::Skip | OverlapRule::AfterOne | OverlapRule::Replace
                    if index != last =>
                {
                    Some("a later run was due at the same time")
                }
                _ => None,
            };
            if skip.is_none() {
                started += 1;
            }
            skip
        })
        .collect()
}

/// The serial key a fired task is queued with: its schedule's name when runs must not
/// overlap, so a worker starts it only after the earlier one ends.
pub fn serial_key<'a>(firing: &Firing<'a>) -> Option<&'a str> {
    matches!(firing.overlap, OverlapRule::After | OverlapRule::AfterOne).then_some(firing.schedule)
}

/// The caveat of a due run that did not start.
pub fn skipped_caveat(due_ms: i64, reason: &str) -> String {
    format!(
        "the run due at {} did not start: {reason}",
        crate::time_format::from_ms(due_ms)
    )
}

/// The caveat recorded when a paused schedule resumes.
pub fn paused_caveat(from_ms: i64, to_ms: i64) -> String {
    format!(
        "runs due from {} to {} were skipped: the schedule was paused",
        crate::time_format::from_ms(from_ms),
        crate::time_format::from_ms(to_ms)
    )
}
