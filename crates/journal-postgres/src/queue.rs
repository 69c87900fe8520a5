//! The queue on PostgreSQL: workers on many hosts claim with `FOR UPDATE SKIP LOCKED`, so
//! each claim locks one task and never waits on another worker's; submits `NOTIFY` idle
//! workers.

use super::session::{Outcome, Session};
use super::{QUEUE_CHANNEL, insert_task};
use nightshift_journal::backend::{CANCELLED_WHILE_QUEUED, claim_message, release_message};
use nightshift_journal::time_format::{now, now_ms};
use nightshift_journal::{Lease, NewTask, QueueOptions, Submitted, TaskStatus};

pub(super) fn submit(
    s: &mut Session,
    task: &NewTask<'_>,
    queue: &QueueOptions<'_>,
) -> Outcome<Submitted> {
    if let Some(key) = queue.idempotency_key {
        // Two submits with one key at once: the second waits here for the first.
        s.query_one("SELECT pg_advisory_xact_lock(hashtext($1))", &[&key])?;
        if let Some(row) =
            s.query_opt("SELECT id FROM tasks WHERE idempotency_key = $1", &[&key])?
        {
            let task_id: String = row.try_get(0)?;
            return Ok(Submitted {
                existing: task_id != task.id,
                task_id,
            });
        }
    }
    insert_task(s, task, TaskStatus::Queued, queue)?;
    notify(s)?;
    Ok(Submitted {
        task_id: task.id.to_owned(),
        existing: false,
    })
}

/// Wakes listening workers when the transaction commits.
pub(super) fn notify(s: &mut Session) -> Outcome<()> {
    s.batch(&format!("NOTIFY {QUEUE_CHANNEL}"))
}

pub(super) fn claim(s: &mut Session, owner: &str, ttl_ms: i64) -> Outcome<Option<Lease>> {
    let now_ms = now_ms();
    let expired = s.query_opt(
        "SELECT id, lease_owner, lease_token FROM tasks
         WHERE lease_expires IS NOT NULL AND lease_expires < $1 AND status = 'running'
         ORDER BY lease_expires LIMIT 1 FOR UPDATE SKIP LOCKED",
        &[&now_ms],
    )?;
    let (task_id, expired) = match expired {
        Some(row) => (
            row.try_get::<_, String>(0)?,
            Some((
                row.try_get::<_, Option<String>>(1)?,
                row.try_get::<_, i64>(2)?,
            )),
        ),
        None => {
            let Some(row) = s.query_opt(
                "SELECT id, serial_key FROM tasks t
                 WHERE status = 'queued' AND (not_before IS NULL OR not_before <= $1)
                   AND (serial_key IS NULL OR NOT EXISTS (
                        SELECT 1 FROM tasks r
                        WHERE r.serial_key = t.serial_key AND r.status = 'running'))
                 ORDER BY priority DESC, created_at LIMIT 1 FOR UPDATE SKIP LOCKED",
                &[&now_ms],
            )?
            else {
                return Ok(None);
            };
            let serial: Option<String> = row.try_get(1)?;
            if let Some(serial) = serial {
                // Claims of one serial key take turns, then look again: another worker may
                // have started one since this snapshot.
                s.query_one("SELECT pg_advisory_xact_lock(hashtext($1))", &[&serial])?;
                let running = s.query_opt(
                    "SELECT 1 FROM tasks WHERE serial_key = $1 AND status = 'running' LIMIT 1",
                    &[&serial],
                )?;
                if running.is_some() {
                    return Ok(None);
                }
            }
            (row.try_get(0)?, None)
        }
    };
    let token: i64 = s
        .query_one(
            "UPDATE tasks SET status = 'running', lease_owner = $2, lease_expires = $3,
                              lease_token = lease_token + 1, started_at = COALESCE(started_at, $4)
             WHERE id = $1 RETURNING lease_token",
            &[&task_id, &owner, &(now_ms + ttl_ms), &now()],
        )?
        .try_get(0)?;
    let message = claim_message(
        owner,
        expired.as_ref().map(|(o, t)| (o.as_deref(), *t)),
        token,
    );
    let data = serde_json::json!({ "owner": owner, "token": token }).to_string();
    s.execute(
        "INSERT INTO events (task_id, at, kind, level, message, data)
         VALUES ($1, $2, 'lease', 'info', $3, $4)",
        &[&task_id, &now(), &message, &data],
    )?;
    Ok(Some(Lease {
        task_id,
        owner: owner.to_owned(),
        token,
    }))
}

pub(super) fn heartbeat(s: &mut Session, lease: &Lease, ttl_ms: i64) -> Outcome<bool> {
    let changed = s.execute(
        "UPDATE tasks SET lease_expires = $3
         WHERE id = $1 AND lease_token = $2 AND status = 'running'",
        &[&lease.task_id, &lease.token, &(now_ms() + ttl_ms)],
    )?;
    Ok(changed == 1)
}

pub(super) fn release(s: &mut Session, lease: &Lease, why: &str) -> Outcome<bool> {
    let changed = s.execute(
        "UPDATE tasks SET status = 'queued', lease_owner = NULL, lease_expires = NULL,
                          current_step = NULL
         WHERE id = $1 AND lease_token = $2 AND status = 'running'",
        &[&lease.task_id, &lease.token],
    )?;
    if changed == 1 {
        s.execute(
            "INSERT INTO events (task_id, at, kind, level, message) VALUES ($1, $2, 'lease', 'info', $3)",
            &[&lease.task_id, &now(), &release_message(lease, why)],
        )?;
        notify(s)?;
    }
    Ok(changed == 1)
}

pub(super) fn cancel_queued(s: &mut Session, task_id: &str) -> Outcome<bool> {
    let changed = s.execute(
        "UPDATE tasks SET status = 'cancelled', cancel_requested = true, finished_at = $2
         WHERE id = $1 AND status = 'queued'",
        &[&task_id, &now()],
    )?;
    if changed == 1 {
        s.execute(
            "UPDATE steps SET status = 'skipped' WHERE task_id = $1 AND status = 'pending'",
            &[&task_id],
        )?;
        s.execute(
            "INSERT INTO events (task_id, at, kind, level, message) VALUES ($1, $2, 'cancel', 'info', $3)",
            &[&task_id, &now(), &CANCELLED_WHILE_QUEUED],
        )?;
    }
    Ok(changed == 1)
}

pub(super) fn lane_busy(s: &mut Session) -> Outcome<bool> {
    Ok(s.query_one(
        "SELECT EXISTS (SELECT 1 FROM tasks WHERE status = 'queued'
                            AND (not_before IS NULL OR not_before <= $1))
             OR EXISTS (SELECT 1 FROM tasks WHERE lease_expires IS NOT NULL AND status = 'running')",
        &[&now_ms()],
    )?
    .try_get(0)?)
}

pub(super) fn latest_progress(
    s: &mut Session,
    task_id: &str,
) -> Outcome<Option<(String, Option<String>)>> {
    Ok(
        match s.query_opt(
            "SELECT message, data FROM events WHERE task_id = $1 AND kind = 'progress'
             ORDER BY seq DESC LIMIT 1",
            &[&task_id],
        )? {
            Some(row) => Some((row.try_get(0)?, row.try_get(1)?)),
            None => None,
        },
    )
}
