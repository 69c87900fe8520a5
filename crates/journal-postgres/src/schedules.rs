//! Schedules on PostgreSQL: a firing locks its schedule's row and checks that no other
//! worker fired the same runs first; `(schedule, due_at)` is unique besides, so a due run
//! is fired once across all workers.

use super::rows::all;
use super::session::{Outcome, Session};
use super::{insert_task, queue};
use nightshift_journal::backend::{decide, paused_caveat, serial_key, skipped_caveat};
use nightshift_journal::time_format::now;
use nightshift_journal::{
    Firing, Overlap, QueueOptions, ScheduleCaveat, ScheduleRow, ScheduleRun, TaskStatus,
};

pub(super) fn add(s: &mut Session, schedule: &ScheduleRow) -> Outcome<bool> {
    let added = s.execute(
        "INSERT INTO schedules (name, cron, zone, pipeline_path, workspace, params, catch_up_ms,
                                overlap, paused, considered_until, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (name) DO NOTHING",
        &[
            &schedule.name,
            &schedule.cron,
            &schedule.zone,
            &schedule.pipeline_path,
            &schedule.workspace,
            &schedule.params,
            &schedule.catch_up_ms,
            &schedule.overlap.as_str(),
            &schedule.paused,
            &schedule.considered_until,
            &schedule.created_at,
        ],
    )?;
    Ok(added == 1)
}

pub(super) fn all_schedules(s: &mut Session) -> Outcome<Vec<ScheduleRow>> {
    let sql = format!(
        "SELECT {} FROM schedules ORDER BY name COLLATE \"C\"",
        ScheduleRow::COLUMNS
    );
    all(&s.query(&sql, &[])?)
}

pub(super) fn set_paused(s: &mut Session, name: &str, paused: bool, now_ms: i64) -> Outcome<bool> {
    let Some(row) = s.query_opt(
        "SELECT paused, considered_until FROM schedules WHERE name = $1 FOR UPDATE",
        &[&name],
    )?
    else {
        return Ok(false);
    };
    let (was_paused, until): (bool, i64) = (row.try_get(0)?, row.try_get(1)?);
    if paused {
        s.execute(
            "UPDATE schedules SET paused = true WHERE name = $1",
            &[&name],
        )?;
    } else if was_paused {
        s.execute(
            "UPDATE schedules SET paused = false, considered_until = GREATEST(considered_until, $2)
             WHERE name = $1",
            &[&name, &now_ms],
        )?;
        s.execute(
            "INSERT INTO schedule_caveats (schedule, at, message) VALUES ($1, $2, $3)",
            &[&name, &now(), &paused_caveat(until, now_ms)],
        )?;
    }
    Ok(true)
}

pub(super) fn remove(s: &mut Session, name: &str) -> Outcome<bool> {
    let removed = s.execute("DELETE FROM schedules WHERE name = $1", &[&name])?;
    s.execute("DELETE FROM schedule_runs WHERE schedule = $1", &[&name])?;
    s.execute("DELETE FROM schedule_caveats WHERE schedule = $1", &[&name])?;
    Ok(removed == 1)
}

pub(super) fn caveats(s: &mut Session, name: &str, limit: usize) -> Outcome<Vec<ScheduleCaveat>> {
    s.query(
        "SELECT at, message FROM schedule_caveats WHERE schedule = $1 ORDER BY seq DESC LIMIT $2",
        &[&name, &(limit as i64)],
    )?
    .iter()
    .map(|row| {
        Ok(ScheduleCaveat {
            at: row.try_get(0)?,
            message: row.try_get(1)?,
        })
    })
    .collect()
}

pub(super) fn runs(s: &mut Session, name: &str) -> Outcome<Vec<ScheduleRun>> {
    s.query(
        "SELECT due_at, task_id, outcome FROM schedule_runs WHERE schedule = $1 ORDER BY due_at",
        &[&name],
    )?
    .iter()
    .map(|row| {
        Ok(ScheduleRun {
            due_at_ms: row.try_get(0)?,
            task_id: row.try_get(1)?,
            outcome: row.try_get(2)?,
        })
    })
    .collect()
}

pub(super) fn fire(s: &mut Session, firing: &Firing<'_>) -> Outcome<Option<Vec<String>>> {
    let current: Option<i64> = match s.query_opt(
        "SELECT considered_until FROM schedules WHERE name = $1 AND NOT paused FOR UPDATE",
        &[&firing.schedule],
    )? {
        Some(row) => Some(row.try_get(0)?),
        None => None,
    };
    if current != Some(firing.seen_until) {
        return Ok(None);
    }
    let mut count = |status: TaskStatus| -> Outcome<i64> {
        Ok(s.query_one(
            "SELECT count(*) FROM tasks WHERE schedule = $1 AND status = $2",
            &[&firing.schedule, &status.as_str()],
        )?
        .try_get(0)?)
    };
    let (running, queued) = (count(TaskStatus::Running)?, count(TaskStatus::Queued)?);
    let mut caveats = firing.caveats.clone();
    let mut queued_ids = Vec::new();
    for ((due, task), skip) in firing.start.iter().zip(decide(firing, running, queued)) {
        if let Some(reason) = skip {
            s.execute(
                "INSERT INTO schedule_runs (schedule, due_at, outcome) VALUES ($1, $2, 'skipped')",
                &[&firing.schedule, due],
            )?;
            caveats.push(skipped_caveat(*due, reason));
            continue;
        }
        if firing.overlap == Overlap::CancelOther {
            s.execute(
                "UPDATE tasks SET cancel_requested = true
                 WHERE schedule = $1 AND status IN ('queued', 'running')",
                &[&firing.schedule],
            )?;
            s.execute(
                "UPDATE tasks SET status = 'cancelled', finished_at = $2
                 WHERE schedule = $1 AND status = 'queued'",
                &[&firing.schedule, &now()],
            )?;
        }
        let options = QueueOptions {
            schedule: Some(firing.schedule),
            serial_key: serial_key(firing),
            ..QueueOptions::default()
        };
        insert_task(s, task, TaskStatus::Queued, &options)?;
        s.execute(
            "INSERT INTO schedule_runs (schedule, due_at, task_id, outcome) VALUES ($1, $2, $3, 'queued')",
            &[&firing.schedule, due, &task.id],
        )?;
        queued_ids.push(task.id.to_owned());
    }
    for message in &caveats {
        s.execute(
            "INSERT INTO schedule_caveats (schedule, at, message) VALUES ($1, $2, $3)",
            &[&firing.schedule, &now(), message],
        )?;
    }
    s.execute(
        "UPDATE schedules SET considered_until = $2 WHERE name = $1",
        &[&firing.schedule, &firing.until],
    )?;
    if !queued_ids.is_empty() {
        queue::notify(s)?;
    }
    Ok(Some(queued_ids))
}
