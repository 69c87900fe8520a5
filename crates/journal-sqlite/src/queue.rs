//! The queue on SQLite: submitting tasks, claiming them under leases (`BEGIN IMMEDIATE`
//! holds the one write lock while a claim picks its task), heartbeats, release at shutdown,
//! and the fencing check every write of a leased task goes through.

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use super::{Sqlite, insert_task};
use nightshift_journal::backend::{CANCELLED_WHILE_QUEUED, claim_message, release_message};
use nightshift_journal::time_format::{now, now_ms};
use nightshift_journal::{
    JournalError, Lease, NewTask, QueueOptions, Result, Submitted, TaskStatus,
};

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

impl Sqlite {
    /// [`Store::submit_task`](nightshift_journal::Store::submit_task).
    pub(super) fn submit(&self, task: &NewTask<'_>, queue: &QueueOptions<'_>) -> Result<Submitted> {
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

    /// [`Store::claim`](nightshift_journal::Store::claim).
    pub(super) fn claim_next(&self, owner: &str, ttl_ms: i64) -> Result<Option<Lease>> {
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
        let (task_id, expired) = match expired {
            Some((id, old_owner, old_token)) => (id, Some((old_owner, old_token))),
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
                    Some(id) => (id, None),
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
                claim_message(
                    owner,
                    expired.as_ref().map(|(o, t)| (o.as_deref(), *t)),
                    token
                ),
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

    /// [`Store::heartbeat`](nightshift_journal::Store::heartbeat).
    pub(super) fn extend_lease(&self, lease: &Lease, ttl_ms: i64) -> Result<bool> {
        let changed = self.relaxed().execute(
            "UPDATE tasks SET lease_expires = ?3
             WHERE id = ?1 AND lease_token = ?2 AND status = 'running'",
            params![lease.task_id, lease.token, now_ms() + ttl_ms],
        )?;
        Ok(changed == 1)
    }

    /// [`Store::release`](nightshift_journal::Store::release).
    pub(super) fn release_lease(&self, lease: &Lease, why: &str) -> Result<bool> {
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
                    release_message(lease, why)
                ],
            )?;
        }
        tx.commit()?;
        Ok(changed == 1)
    }

    /// [`Store::cancel_queued`](nightshift_journal::Store::cancel_queued).
    pub(super) fn cancel_if_queued(&self, task_id: &str) -> Result<bool> {
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
                params![task_id, now(), CANCELLED_WHILE_QUEUED],
            )?;
        }
        tx.commit()?;
        Ok(changed == 1)
    }

    /// [`Store::lane_busy`](nightshift_journal::Store::lane_busy).
    pub(super) fn has_background_work(&self) -> Result<bool> {
        Ok(self.conn().query_row(
            "SELECT EXISTS (SELECT 1 FROM tasks WHERE status = 'queued'
                                AND (not_before IS NULL OR not_before <= ?1))
                 OR EXISTS (SELECT 1 FROM tasks WHERE lease_expires IS NOT NULL AND status = 'running')",
            [now_ms()],
            |row| row.get(0),
        )?)
    }

    /// [`Store::latest_progress`](nightshift_journal::Store::latest_progress).
    pub(super) fn last_progress(&self, task_id: &str) -> Result<Option<(String, Option<String>)>> {
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
