//! Recurring work: cron schedules whose due runs a worker queues as tasks.
//!
//! Each schedule remembers the instant up to which its due runs were handled
//! (`considered_until`). A worker finds the schedules due, loads their pipelines, then fires
//! each in one journal transaction that first checks no other worker fired it meanwhile, so
//! every due run is queued exactly once however many workers run. Runs missed while no
//! worker was up start if they fall inside the schedule's catch-up window (by default only
//! the latest starts); the others become caveats of the schedule, never silently dropped.
//! The cron and time-zone rules, daylight saving time included, are the `nightshift-cron`
//! crate's ([`Cadence`]).

use std::path::Path;

pub use nightshift_cron::{Cadence, CadenceError};

use crate::catalog::Catalog;
pub use crate::journal::Overlap;
use crate::journal::{Firing, JournalError, ScheduleRow};
use crate::manifest::{LoadOptions, ManifestError, Plan};
use crate::runner::Runner;
use crate::state::StateDir;
use crate::time_format::{from_ms, now_ms};

/// Errors firing schedules.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The journal refused a write.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A run's task could not be described.
    #[error("cannot encode a scheduled task: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The next instant (unix ms) a stored schedule fires, if its expression still parses.
pub fn next_run(row: &ScheduleRow, now: i64) -> Option<i64> {
    let cadence = Cadence::parse(&row.cron, &row.zone).ok()?;
    cadence.next_after(row.considered_until.max(now))
}

/// An instant as local time in `zone`, e.g. `2026-03-08 03:00:00 EDT`.
pub fn local_time(zone: &str, ms: i64) -> String {
    let Ok(tz) = zone.parse::<chrono_tz::Tz>() else {
        return from_ms(ms);
    };
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(utc) => utc
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M:%S %Z")
            .to_string(),
        None => from_ms(ms),
    }
}

/// Queues the runs of every schedule that is due now. Returns the next instant a schedule
/// is due, for the worker to wake up then.
pub fn fire_due(runner: &Runner, state: &StateDir) -> Result<Option<i64>, ScheduleError> {
    let journal = runner.journal();
    let now = now_ms();
    let mut next: Option<i64> = None;
    for row in journal.schedules()? {
        if row.paused {
            continue;
        }
        let Ok(cadence) = Cadence::parse(&row.cron, &row.zone) else {
            continue;
        };
        match cadence.next_after(row.considered_until) {
            Some(due) if due <= now => fire(runner, state, &row, &cadence, now)?,
            _ => {}
        }
        if let Some(due) = cadence.next_after(now) {
            next = Some(next.map_or(due, |n| n.min(due)));
        }
    }
    Ok(next)
}

fn fire(
    runner: &Runner,
    state: &StateDir,
    row: &ScheduleRow,
    cadence: &Cadence,
    now: i64,
) -> Result<(), ScheduleError> {
    let due = nightshift_cron::due_runs(cadence, row.considered_until, now, row.catch_up_ms);
    let mut caveats = Vec::new();
    if let Some(skipped) = &due.skipped {
        let more = if skipped.truncated { " or more" } else { "" };
        caveats.push(format!(
            "{}{more} runs due from {} to {} were missed while no worker was up, outside the catch-up window; they did not start",
            skipped.count,
            from_ms(skipped.first),
            from_ms(skipped.last)
        ));
    }
    let plan = load_plan(state, row);
    let ids: Vec<String> = due
        .start
        .iter()
        .map(|_| uuid::Uuid::now_v7().simple().to_string())
        .collect();
    let fields = match &plan {
        Ok(plan) => Some(crate::runner::task_fields(plan)?),
        Err(error) => {
            for at in &due.start {
                caveats.push(format!(
                    "the run due at {} did not start: {error}",
                    from_ms(*at)
                ));
            }
            None
        }
    };
    let start = match &fields {
        Some(fields) => due
            .start
            .iter()
            .zip(&ids)
            .map(|(at, id)| (*at, fields.task(id)))
            .collect(),
        None => Vec::new(),
    };
    let overlap = row.overlap;
    let firing = Firing {
        schedule: &row.name,
        seen_until: row.considered_until,
        until: due.considered_until.max(row.considered_until),
        start,
        caveats,
        overlap,
    };
    if let Some(queued) = runner.journal().fire_schedule(&firing)? {
        tracing::info!(schedule = %row.name, queued = queued.len(), "schedule fired");
    }
    Ok(())
}

/// Why a schedule's pipeline could not be loaded; each run it kept from starting says so in
/// a caveat.
#[derive(Debug, thiserror::Error)]
enum SchedulePlanError {
    /// The stored parameters are not a JSON object of strings.
    #[error("stored params: {0}")]
    Params(serde_json::Error),
    /// The pipeline on disk does not load.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

/// The schedule's pipeline as it is now on disk.
fn load_plan(state: &StateDir, row: &ScheduleRow) -> Result<Plan, SchedulePlanError> {
    let params: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&row.params).map_err(SchedulePlanError::Params)?;
    let params: Vec<_> = params.into_iter().collect();
    let catalog = Catalog::new(state.plugins_dir());
    let options = LoadOptions {
        workspace: Path::new(&row.workspace),
        state_dir: state.root(),
        params: &params,
        catalog: &catalog,
    };
    Ok(Plan::load(Path::new(&row.pipeline_path), &options)?)
}
