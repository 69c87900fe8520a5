//! Cron schedules in the journal: their definitions, each due run (fired exactly once: the
//! firing worker holds the write lock and checks that no other fired it first), and the
//! caveats of runs that did not start.

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use super::{Journal, NewTask, QueueOptions, Result, TaskStatus, insert_task};
use crate::time_format::now;

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
    const COLUMNS: &'static str = "name, cron, zone, pipeline_path, workspace, params, catch_up_ms, \
         overlap, paused, considered_until, created_at";

    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(ScheduleRow {
            name: row.get(0)?,
            cron: row.get(1)?,
            zone: row.get(2)?,
            pipeline_path: row.get(3)?,
            workspace: row.get(4)?,
            params: row.get(5)?,
            catch_up_ms: row.get(6)?,
            overlap: row.get(7)?,
            paused: row.get(8)?,
            considered_until: row.get(9)?,
            created_at: row.get(10)?,
        })
    }
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

impl Journal {
    /// Adds a schedule; `false` if one with that name exists.
    pub fn add_schedule(&self, schedule: &ScheduleRow) -> Result<bool> {
        let added = self.conn().execute(
            "INSERT INTO schedules (name, cron, zone, pipeline_path, workspace, params, catch_up_ms,
                                    overlap, paused, considered_until, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT (name) DO NOTHING",
            params![
                schedule.name,
                schedule.cron,
                schedule.zone,
                schedule.pipeline_path,
                schedule.workspace,
                schedule.params,
                schedule.catch_up_ms,
                schedule.overlap,
                schedule.paused,
                schedule.considered_until,
                schedule.created_at
            ],
        )?;
        Ok(added == 1)
    }

    /// Every schedule, by name.
    pub fn schedules(&self) -> Result<Vec<ScheduleRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM schedules ORDER BY name",
            ScheduleRow::COLUMNS
        ))?;
        let rows = stmt.query_map([], ScheduleRow::from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Pauses or resumes a schedule. Resuming skips the runs due while it was paused
    /// (`now_ms` becomes its `considered_until`) and records that as a caveat. `false` if
    /// there is no such schedule.
    pub fn set_schedule_paused(&self, name: &str, paused: bool, now_ms: i64) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found: Option<(bool, i64)> = tx
            .query_row(
                "SELECT paused, considered_until FROM schedules WHERE name = ?1",
                [name],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let Some((was_paused, until)) = found else {
            return Ok(false);
        };
        if paused {
            tx.execute("UPDATE schedules SET paused = 1 WHERE name = ?1", [name])?;
        } else if was_paused {
            tx.execute(
                "UPDATE schedules SET paused = 0, considered_until = max(considered_until, ?2)
                 WHERE name = ?1",
                params![name, now_ms],
            )?;
            tx.execute(
                "INSERT INTO schedule_caveats (schedule, at, message) VALUES (?1, ?2, ?3)",
                params![
                    name,
                    now(),
                    format!(
                        "runs due from {} to {} were skipped: the schedule was paused",
                        crate::time_format::from_ms(until),
                        crate::time_format::from_ms(now_ms)
                    )
                ],
            )?;
        }
        tx.commit()?;
        Ok(true)
    }

    /// Removes a schedule (its tasks stay). `false` if there is no such schedule.
    pub fn remove_schedule(&self, name: &str) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let removed = tx.execute("DELETE FROM schedules WHERE name = ?1", [name])?;
        tx.execute("DELETE FROM schedule_runs WHERE schedule = ?1", [name])?;
        tx.execute("DELETE FROM schedule_caveats WHERE schedule = ?1", [name])?;
        tx.commit()?;
        Ok(removed == 1)
    }

    /// The caveats of a schedule, newest first.
    pub fn schedule_caveats(&self, name: &str, limit: usize) -> Result<Vec<ScheduleCaveat>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT at, message FROM schedule_caveats WHERE schedule = ?1 ORDER BY seq DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![name, limit as i64], |row| {
            Ok(ScheduleCaveat {
                at: row.get(0)?,
                message: row.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The due instants a schedule fired, oldest first, with the task each queued.
    pub fn schedule_runs(&self, name: &str) -> Result<Vec<(i64, Option<String>, String)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT due_at, task_id, outcome FROM schedule_runs WHERE schedule = ?1 ORDER BY due_at",
        )?;
        let rows = stmt.query_map([name], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Fires a schedule: queues its due runs as the overlap rule allows and records every
    /// due instant and caveat, in one transaction. Returns the tasks queued, or `None` if
    /// another worker fired these runs first.
    pub fn fire_schedule(&self, firing: &Firing<'_>) -> Result<Option<Vec<String>>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: Option<i64> = tx
            .query_row(
                "SELECT considered_until FROM schedules WHERE name = ?1 AND paused = 0",
                [firing.schedule],
                |row| row.get(0),
            )
            .optional()?;
        if current != Some(firing.seen_until) {
            return Ok(None);
        }
        let count = |status: TaskStatus| -> rusqlite::Result<i64> {
            tx.query_row(
                "SELECT count(*) FROM tasks WHERE schedule = ?1 AND status = ?2",
                params![firing.schedule, status.as_str()],
                |row| row.get(0),
            )
        };
        let (running, queued) = (count(TaskStatus::Running)?, count(TaskStatus::Queued)?);
        let last = firing.start.len().saturating_sub(1);
        let mut caveats = firing.caveats.clone();
        let mut queued_ids = Vec::new();
        for (index, (due, task)) in firing.start.iter().enumerate() {
            let skip = match firing.overlap {
                OverlapRule::Alongside | OverlapRule::After => None,
                OverlapRule::Skip if running + queued > 0 => {
                    Some("an earlier run is still active (overlap: skip)")
                }
                OverlapRule::AfterOne if queued > 0 || queued_ids.len() == 1 => {
                    Some("a run is already waiting (overlap: buffer-one)")
                }
                OverlapRule::Skip | OverlapRule::AfterOne | OverlapRule::Replace
                    if index != last =>
                {
                    Some("a later run was due at the same time")
                }
                _ => None,
            };
            let at = crate::time_format::from_ms(*due);
            if let Some(reason) = skip {
                tx.execute(
                    "INSERT INTO schedule_runs (schedule, due_at, outcome) VALUES (?1, ?2, 'skipped')",
                    params![firing.schedule, due],
                )?;
                caveats.push(format!("the run due at {at} did not start: {reason}"));
                continue;
            }
            if firing.overlap == OverlapRule::Replace {
                tx.execute(
                    "UPDATE tasks SET cancel_requested = 1 WHERE schedule = ?1 AND status IN ('queued', 'running')",
                    [firing.schedule],
                )?;
                tx.execute(
                    "UPDATE tasks SET status = 'cancelled', finished_at = ?2
                     WHERE schedule = ?1 AND status = 'queued'",
                    params![firing.schedule, now()],
                )?;
            }
            let serial = matches!(firing.overlap, OverlapRule::After | OverlapRule::AfterOne)
                .then_some(firing.schedule);
            let queue = QueueOptions {
                schedule: Some(firing.schedule),
                serial_key: serial,
                ..QueueOptions::default()
            };
            insert_task(&tx, task, TaskStatus::Queued, &queue)?;
            tx.execute(
                "INSERT INTO schedule_runs (schedule, due_at, task_id, outcome) VALUES (?1, ?2, ?3, 'queued')",
                params![firing.schedule, due, task.id],
            )?;
            queued_ids.push(task.id.to_owned());
        }
        for message in &caveats {
            tx.execute(
                "INSERT INTO schedule_caveats (schedule, at, message) VALUES (?1, ?2, ?3)",
                params![firing.schedule, now(), message],
            )?;
        }
        tx.execute(
            "UPDATE schedules SET considered_until = ?2 WHERE name = ?1",
            params![firing.schedule, firing.until],
        )?;
        tx.commit()?;
        Ok(Some(queued_ids))
    }
}
