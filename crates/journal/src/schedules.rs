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
    pub overlap: Overlap,
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

/// What to do when a schedule fires while an earlier run of it is still going (what
/// `--overlap` says); stored and shown as its [`as_str`](Overlap::as_str) name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overlap {
    /// Drop the new run.
    Skip,
    /// Keep at most one new run waiting for the current one.
    BufferOne,
    /// Queue every new run behind the current one.
    BufferAll,
    /// Cancel the running one and start the new run.
    CancelOther,
    /// Run them side by side.
    AllowAll,
}

impl Overlap {
    /// Every policy, in the order listed in help and errors.
    pub const ALL: [Overlap; 5] = [
        Overlap::Skip,
        Overlap::BufferOne,
        Overlap::BufferAll,
        Overlap::CancelOther,
        Overlap::AllowAll,
    ];

    /// The name used by `--overlap` and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Overlap::Skip => "skip",
            Overlap::BufferOne => "buffer-one",
            Overlap::BufferAll => "buffer-all",
            Overlap::CancelOther => "cancel-other",
            Overlap::AllowAll => "allow-all",
        }
    }
}

impl std::fmt::Display for Overlap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Overlap {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Overlap::ALL
            .into_iter()
            .find(|o| o.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| {
                let valid: Vec<&str> = Overlap::ALL.iter().map(|o| o.as_str()).collect();
                format!(
                    "unknown overlap policy `{s}` (expected one of: {})",
                    valid.join(", ")
                )
            })
    }
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
    pub overlap: Overlap,
}

/// Decides, for each due instant of `firing` in order, whether it starts (`None`) or is
/// skipped (`Some(reason)`), given the schedule's tasks `running` and `queued` now.
pub fn decide(firing: &Firing<'_>, running: i64, queued: i64) -> Vec<Option<&'static str>> {
    let last = firing.start.len().saturating_sub(1);
    let mut started = 0;
    (0..firing.start.len())
        .map(|index| {
            let skip = match firing.overlap {
                Overlap::AllowAll | Overlap::BufferAll => None,
                Overlap::Skip if running + queued > 0 => {
                    Some("an earlier run is still active (overlap: skip)")
                }
                Overlap::BufferOne if queued > 0 || started == 1 => {
                    Some("a run is already waiting (overlap: buffer-one)")
                }
                Overlap::Skip | Overlap::BufferOne | Overlap::CancelOther if index != last => {
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
    matches!(firing.overlap, Overlap::BufferAll | Overlap::BufferOne).then_some(firing.schedule)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_round_trips() {
        for o in Overlap::ALL {
            assert_eq!(o.as_str().parse::<Overlap>(), Ok(o));
            assert_eq!(o.to_string(), o.as_str());
            assert_eq!(serde_json::to_value(o).expect("encode"), o.as_str());
        }
        assert_eq!("Buffer-One".parse::<Overlap>(), Ok(Overlap::BufferOne));
        let err = "queue".parse::<Overlap>().expect_err("unknown");
        assert_eq!(
            err,
            "unknown overlap policy `queue` (expected one of: skip, buffer-one, \
             buffer-all, cancel-other, allow-all)"
        );
    }
}
