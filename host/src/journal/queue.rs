//! The background lane's queue: submitting tasks, claiming them under leases, heartbeats,
//! release at shutdown, and the fencing check every write of a leased task goes through.
//!
//! A claim increments the task's fencing token. Each write a worker makes for a task carries
//! the token of its lease; if another worker has claimed the task since, the token is no
//! longer current and the write is refused ([`JournalError::LeaseLost`]), so a worker that
//! was paused past its lease can never commit a step twice.

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use super::{Journal, JournalError, NewTask, Result, TaskStatus, insert_task};
use crate::time_format::{now, now_ms};

/// A worker's claim on a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The task.
    pub task_id: String,
    /// The worker holding it.
    pub owner: String,
    /// The fencing token: grows with every claim of the task.
    pub token: i64,
}

/// How a task waits in the queue.
#[derive(Debug, Clone, Default)]
pub struct QueueOptions<'a> {
    /// Higher runs first.
    pub priority: i64,
    /// Not claimed before this time (unix milliseconds).
    pub not_before: Option<i64>,
    /// A second submit with the same key returns the first task.
    pub idempotency_key: Option<&'a str>,
    /// The schedule that fired it.
    pub schedule: Option<&'a str>,
    /// Tasks with the same serial key never run at the same time.
    pub serial_key: Option<&'a str>,
}

/// The task a submit queued, or found under the same idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The task id.
    pub task_id: String,
    /// True when the idempotency key matched an earlier task, and nothing new was queued.
    pub existing: bool,
}

/// Refuses the write unless `fence` (if any) holds the task's current fencing token.
pub(super) fn check_fence(
    tx: &Transaction<'_>,
    task_id: &str,
    fence: Option<&Lease>,
) -> Result<()> {
    let Some(lease) = fence else {
        return Ok(());
    };
    let current: i64 = tx.query_row(
        "SELECT lease_token FROM tasks WHERE id = ?1",
        [task_id],
        |row| row.get(0),
    )?;
    if current != lease.token {
        return Err(JournalError::LeaseLost {
            task: task_id.to_owned(),
            token: lease.token,
            current,
        });
    }
    Ok(())
}

impl Journal {
    /// Queues a task for the background lane; with an idempotency key already used, returns
    /// the task that key queued instead.
    pub fn submit_task(&self, task: &NewTask<'_>, queue: &QueueOptions<'_>) -> Result<Submitted> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(key) = queue.idempotency_key {
            let found: Option<String> = tx
                .query_row(
                    "SELECT id FROM tasks WHERE idempotency_key = ?1",
                    [key],
                    |row| row.get(0),
                )
                .optional()?;
            if let Some(task_id) = found {
                return Ok(Submitted {
                    task_id,
                    existing: true,
                });
            }
        }
        insert_task(&tx, task, TaskStatus::Queued, queue)?;
        tx.commit()?;
        Ok(Submitted {
            task_id: task.id.to_owned(),
            existing: false,
        })
    }

    /// Claims the next task for `owner` for `ttl_ms`: first a running task whose lease
    /// expired (its worker died), else the queued task that is due, highest priority first,
    /// oldest first. `None` when there is nothing to claim.
    pub fn claim(&self, owner: &str, ttl_ms: i64) -> Result<Option<Lease>> {
        let mut conn = self.relaxed();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now_ms = now_ms();
        let expired: Option<(String, Option<String>, i64)> = tx
            .query_row(
                "SELECT id, lease_owner, lease_token FROM tasks
                 WHERE lease_expires IS NOT NULL AND lease_expires < ?1 AND status = 'running'
                 ORDER BY lease_expires LIMIT 1",
                [now_ms],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?;
        let (task_id, message) = match expired {
            Some((id, old_owner, old_token)) => {
                let old_owner = old_owner.unwrap_or_else(|| "a worker".into());
                (
                    id,
                    format!("lease {old_token} of {old_owner} expired; reclaimed by {owner}"),
                )
            }
            None => {
                let queued: Option<String> = tx
                    .query_row(
                        "SELECT id FROM tasks t
                         WHERE status = 'queued' AND (not_before IS NULL OR not_before <= ?1)
                           AND (serial_key IS NULL OR NOT EXISTS (
                                SELECT 1 FROM tasks r
                                WHERE r.serial_key = t.serial_key AND r.status = 'running'))
                         ORDER BY priority DESC, created_at LIMIT 1",
                        [now_ms],
                        |row| row.get(0),
                    )
                    .optional()?;
                match queued {
                    Some(id) => (id, format!("claimed by {owner}")),
                    None => return Ok(None),
                }
            }
        };
        let token: i64 = tx.query_row(
            "UPDATE tasks SET status = 'running', lease_owner = ?2, lease_expires = ?3,
                              lease_token = lease_token + 1, started_at = COALESCE(started_at, ?4)
             WHERE id = ?1 RETURNING lease_token",
            params![task_id, owner, now_ms + ttl_ms, now()],
            |row| row.get(0),
        )?;
        tx.execute(
            "INSERT INTO events (task_id, at, kind, level, message, data)
             VALUES (?1, ?2, 'lease', 'info', ?3, ?4)",
            params![
                task_id,
                now(),
                format!("{message} (lease {token})"),
                serde_json::json!({ "owner": owner, "token": token }).to_string()
            ],
        )?;
        tx.commit()?;
        Ok(Some(Lease {
            task_id,
            owner: owner.to_owned(),
            token,
        }))
    }

    /// Extends a lease by `ttl_ms` from now. `false` if the lease is no longer current.
    pub fn heartbeat(&self, lease: &Lease, ttl_ms: i64) -> Result<bool> {
        let changed = self.relaxed().execute(
            "UPDATE tasks SET lease_expires = ?3
             WHERE id = ?1 AND lease_token = ?2 AND status = 'running'",
            params![lease.task_id, lease.token, now_ms() + ttl_ms],
        )?;
        Ok(changed == 1)
    }

    /// Puts a task whose worker is shutting down back in the queue, to be resumed by the
    /// next claim. `false` if the lease was no longer current.
    pub fn release(&self, lease: &Lease, why: &str) -> Result<bool> {
        let mut conn = self.relaxed();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let changed = tx.execute(
            "UPDATE tasks SET status = 'queued', lease_owner = NULL, lease_expires = NULL,
                              current_step = NULL
             WHERE id = ?1 AND lease_token = ?2 AND status = 'running'",
            params![lease.task_id, lease.token],
        )?;
        if changed == 1 {
            tx.execute(
                "INSERT INTO events (task_id, at, kind, level, message) VALUES (?1, ?2, 'lease', 'info', ?3)",
                params![
                    lease.task_id,
                    now(),
                    format!("released by {} (lease {}): {why}", lease.owner, lease.token)
                ],
            )?;
        }
        tx.commit()?;
        Ok(changed == 1)
    }

    /// Cancels a task that is still queued, so it never starts. `false` if it is not queued.
    pub fn cancel_queued(&self, task_id: &str) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let changed = tx.execute(
            "UPDATE tasks SET status = 'cancelled', cancel_requested = 1, finished_at = ?2
             WHERE id = ?1 AND status = 'queued'",
            params![task_id, now()],
        )?;
        if changed == 1 {
            tx.execute(
                "UPDATE steps SET status = 'skipped' WHERE task_id = ?1 AND status = 'pending'",
                [task_id],
            )?;
            tx.execute(
                "INSERT INTO events (task_id, at, kind, level, message) VALUES (?1, ?2, 'cancel', 'info', ?3)",
                params![task_id, now(), "cancelled while queued; it never started"],
            )?;
        }
        tx.commit()?;
        Ok(changed == 1)
    }

    /// Whether the background lane has work: a queued task due now, or a leased task
    /// running (or waiting to be reclaimed).
    pub fn lane_busy(&self) -> Result<bool> {
        Ok(self.conn().query_row(
            "SELECT EXISTS (SELECT 1 FROM tasks WHERE status = 'queued'
                                AND (not_before IS NULL OR not_before <= ?1))
                 OR EXISTS (SELECT 1 FROM tasks WHERE lease_expires IS NOT NULL AND status = 'running')",
            [now_ms()],
            |row| row.get(0),
        )?)
    }

    /// The latest progress a task's plugin reported: (message, data JSON).
    pub fn latest_progress(&self, task_id: &str) -> Result<Option<(String, Option<String>)>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT message, data FROM events WHERE task_id = ?1 AND kind = 'progress'
                 ORDER BY seq DESC LIMIT 1",
                [task_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?)
    }
}
