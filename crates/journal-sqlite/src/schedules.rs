//! Schedules on SQLite: each due run is fired exactly once, because the firing worker holds
//! the one write lock and checks that no other fired it first.

use super::rows::Word;
use super::{Sqlite, insert_task};
use nightshift_journal::backend::{decide, paused_caveat, serial_key, skipped_caveat};
use nightshift_journal::time_format::now;
use nightshift_journal::{
    Firing, Overlap, QueueOptions, Result, ScheduleCaveat, ScheduleRow, ScheduleRun, TaskStatus,
};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

fn schedule_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ScheduleRow> {
    Ok(ScheduleRow {
        name: row.get(0)?,
        cron: row.get(1)?,
        zone: row.get(2)?,
        pipeline_path: row.get(3)?,
        workspace: row.get(4)?,
        params: row.get(5)?,
        catch_up_ms: row.get(6)?,
        overlap: row.get::<_, Word<Overlap>>(7)?.0,
        paused: row.get(8)?,
        considered_until: row.get(9)?,
        created_at: row.get(10)?,
    })
}

impl Sqlite {
    /// [`Store::add_schedule`](nightshift_journal::Store::add_schedule).
    pub(super) fn insert_schedule(&self, schedule: &ScheduleRow) -> Result<bool> {
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
                schedule.overlap.as_str(),
                schedule.paused,
                schedule.considered_until,
                schedule.created_at
            ],
        )?;
        Ok(added == 1)
    }

    /// [`Store::schedules`](nightshift_journal::Store::schedules).
    pub(super) fn all_schedules(&self) -> Result<Vec<ScheduleRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM schedules ORDER BY name",
            ScheduleRow::COLUMNS
        ))?;
        let rows = stmt.query_map([], schedule_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// [`Store::set_schedule_paused`](nightshift_journal::Store::set_schedule_paused).
    pub(super) fn pause_schedule(&self, name: &str, paused: bool, now_ms: i64) -> Result<bool> {
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
                params![name, now(), paused_caveat(until, now_ms)],
            )?;
        }
        tx.commit()?;
        Ok(true)
    }

    /// [`Store::remove_schedule`](nightshift_journal::Store::remove_schedule).
    pub(super) fn delete_schedule(&self, name: &str) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let removed = tx.execute("DELETE FROM schedules WHERE name = ?1", [name])?;
        tx.execute("DELETE FROM schedule_runs WHERE schedule = ?1", [name])?;
        tx.execute("DELETE FROM schedule_caveats WHERE schedule = ?1", [name])?;
        tx.commit()?;
        Ok(removed == 1)
    }

    /// [`Store::schedule_caveats`](nightshift_journal::Store::schedule_caveats).
    pub(super) fn caveats_of(&self, name: &str, limit: usize) -> Result<Vec<ScheduleCaveat>> {
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

    /// [`Store::schedule_runs`](nightshift_journal::Store::schedule_runs).
    pub(super) fn runs_of(&self, name: &str) -> Result<Vec<ScheduleRun>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT due_at, task_id, outcome FROM schedule_runs WHERE schedule = ?1 ORDER BY due_at",
        )?;
        let rows = stmt.query_map([name], |row| {
            Ok(ScheduleRun {
                due_at_ms: row.get(0)?,
                task_id: row.get(1)?,
                outcome: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// [`Store::fire_schedule`](nightshift_journal::Store::fire_schedule).
    pub(super) fn fire(&self, firing: &Firing<'_>) -> Result<Option<Vec<String>>> {
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
        let decisions = decide(firing, running, queued);
        let mut caveats = firing.caveats.clone();
        let mut queued_ids = Vec::new();
        for ((due, task), skip) in firing.start.iter().zip(decisions) {
            if let Some(reason) = skip {
                tx.execute(
                    "INSERT INTO schedule_runs (schedule, due_at, outcome) VALUES (?1, ?2, 'skipped')",
                    params![firing.schedule, due],
                )?;
                caveats.push(skipped_caveat(*due, reason));
                continue;
            }
            if firing.overlap == Overlap::CancelOther {
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
            let queue = QueueOptions {
                schedule: Some(firing.schedule),
                serial_key: serial_key(firing),
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
