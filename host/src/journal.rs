//! The journal: an SQLite database in the state directory holding tasks, their steps,
//! attempts, events (logs, progress, notes), artifacts and key/value state.
//!
//! The connection sits behind a mutex; every method is one short statement or one
//! transaction, so callers on async threads hold it only briefly.
//!
//! Durability: what a step committed (its record, artifacts and end), and a submitted task,
//! are synced to disk before the call returns (`synchronous=FULL`). Bookkeeping around them
//! (attempt starts, events, leases, heartbeats, checkpoints, applied marks, report digests,
//! task ends) is written without waiting for the disk: it survives the process being killed
//! at any instant, and becomes durable against power loss with the next synced commit, since
//! the write-ahead log is synced in order. A power loss can so forget bookkeeping written
//! after the last commit (an attempt that had not committed, a lease), never a commit.

mod prune;
mod queue;
mod rows;
mod schedules;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

pub use queue::{Lease, QueueOptions, Submitted};
pub use rows::{
    ArtifactRow, ChainHead, Commit, EventRow, NewArtifact, NewEvent, NewStep, NewTask,
    PendingApply, RecordRow, StepResult, StepRow, StepStatus, TaskRow, TaskStatus,
};
pub use schedules::{Firing, OverlapRule, ScheduleCaveat, ScheduleRow};

/// Errors of the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// SQLite refused an operation.
    #[error("journal: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The journal file could not be opened.
    #[error("cannot open journal {path}: {source}")]
    Open {
        /// The journal file.
        path: PathBuf,
        /// The cause.
        source: rusqlite::Error,
    },
    /// The journal was written by a newer Nightshift.
    #[error(
        "the journal has schema version {found}, newer than the {supported} this nightshift knows; upgrade nightshift"
    )]
    NewerSchema {
        /// The version found in the file.
        found: u32,
        /// The newest version this build supports.
        supported: u32,
    },
    /// No task matches the id or prefix given.
    #[error("no task matches `{0}`")]
    TaskNotFound(String),
    /// The worker's lease on the task was taken over: its writes are refused.
    #[error(
        "task {task}: lease {token} is no longer current (another worker claimed the task with lease {current}); the write was refused"
    )]
    LeaseLost {
        /// The task.
        task: String,
        /// The fencing token the writer held.
        token: i64,
        /// The task's current fencing token.
        current: i64,
    },
    /// Several tasks match the prefix given.
    #[error("`{prefix}` matches {count} tasks; give more of the id")]
    AmbiguousTask {
        /// The prefix given.
        prefix: String,
        /// How many tasks it matches.
        count: usize,
    },
}

/// How durable a commit is when it returns (SQLite's `synchronous` in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sync {
    /// Survives power loss: the WAL is synced at every commit. The default.
    Full,
    /// Survives the process being killed; a power loss may roll back the last commits.
    Normal,
}

impl Sync {
    fn pragma(self) -> &'static str {
        match self {
            Sync::Full => "FULL",
            Sync::Normal => "NORMAL",
        }
    }
}

/// Shorthand for journal results.
pub type Result<T, E = JournalError> = std::result::Result<T, E>;

/// An open journal.
#[derive(Debug)]
pub struct Journal {
    conn: Mutex<Connection>,
    path: PathBuf,
    sync: Sync,
}

/// The connection, writing without waiting for the disk while held (see the module doc).
struct Relaxed<'a> {
    conn: MutexGuard<'a, Connection>,
    restore: Option<&'static str>,
}

impl std::ops::Deref for Relaxed<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl std::ops::DerefMut for Relaxed<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

impl Drop for Relaxed<'_> {
    fn drop(&mut self) {
        if let Some(level) = self.restore
            && let Err(e) = self.conn.pragma_update(None, "synchronous", level)
        {
            tracing::error!("journal: cannot restore synchronous={level}: {e}");
        }
    }
}

impl Journal {
    /// Opens (creating if needed) the journal at `path` and migrates its schema.
    pub fn open(path: &Path) -> Result<Self> {
        Journal::open_with(path, Sync::Full)
    }

    /// Opens the journal at `path` with the given durability of commits.
    pub fn open_with(path: &Path, sync: Sync) -> Result<Self> {
        let mut conn = Connection::open(path).map_err(|source| JournalError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        schema::prepare(&mut conn, sync).map_err(|e| match e {
            JournalError::Sqlite(source) => JournalError::Open {
                path: path.to_path_buf(),
                source,
            },
            other => other,
        })?;
        Ok(Journal {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            sync,
        })
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent: its own
        // transactions roll back. Keep going with the connection.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The connection for bookkeeping writes, which do not wait for the disk.
    fn relaxed(&self) -> Relaxed<'_> {
        let conn = self.conn();
        let restore = (self.sync == Sync::Full
            && conn
                .pragma_update(None, "synchronous", Sync::Normal.pragma())
                .is_ok())
        .then_some(Sync::Full.pragma());
        Relaxed { conn, restore }
    }

    /// Records a new task, running from now, with all its steps pending.
    pub fn create_task(&self, task: &NewTask<'_>) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        insert_task(&tx, task, TaskStatus::Running, &QueueOptions::default())?;
        tx.commit()?;
        Ok(())
    }

    /// Marks the start of attempt `attempt` of a step (refused if `fence` is not current).
    pub fn start_attempt(
        &self,
        task_id: &str,
        step_id: &str,
        attempt: u32,
        fence: Option<&Lease>,
    ) -> Result<()> {
        let mut conn = self.relaxed();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        queue::check_fence(&tx, task_id, fence)?;
        let now = crate::time_format::now();
        tx.execute(
            "INSERT INTO attempts (task_id, step_id, attempt, status, started_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![task_id, step_id, attempt, StepStatus::Running.as_str(), now],
        )?;
        tx.execute(
            "UPDATE steps SET status = ?3, attempts = ?4, started_at = COALESCE(started_at, ?5)
             WHERE task_id = ?1 AND step_id = ?2",
            params![task_id, step_id, StepStatus::Running.as_str(), attempt, now],
        )?;
        tx.execute(
            "UPDATE tasks SET current_step = ?2 WHERE id = ?1",
            params![task_id, step_id],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Commits how an attempt ended: its status, artifacts, signed record (made by `sign`
    /// from the chain head it extends) and, if its changes are still to be applied, a pending
    /// apply; all in one transaction, so either all of it is in the journal or none.
    pub fn commit_attempt<E>(
        &self,
        commit: &Commit<'_>,
        sign: impl FnOnce(&ChainHead) -> Result<RecordRow, E>,
    ) -> Result<Result<RecordRow, E>> {
        let Commit {
            task_id,
            step_id,
            attempt,
            result,
            artifacts,
            apply_pending,
            fence,
        } = *commit;
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        queue::check_fence(&tx, task_id, fence)?;
        let now = crate::time_format::now();
        tx.execute(
            "UPDATE attempts SET status = ?4, error = ?5, finished_at = ?6
             WHERE task_id = ?1 AND step_id = ?2 AND attempt = ?3",
            params![
                task_id,
                step_id,
                attempt,
                result.status.as_str(),
                result.error,
                now
            ],
        )?;
        tx.execute(
            "UPDATE steps SET status = ?3, summary = ?4, data = ?5, checks = ?6, caveats = ?7,
                              error = ?8, finished_at = ?9, duration_ms = ?10
             WHERE task_id = ?1 AND step_id = ?2",
            params![
                task_id,
                step_id,
                result.status.as_str(),
                result.summary,
                result.data,
                result.checks,
                result.caveats,
                result.error,
                now,
                result.duration_ms as i64
            ],
        )?;
        for artifact in artifacts {
            tx.execute(
                "INSERT INTO artifacts (task_id, step_id, attempt, name, kind, change, blake3, bytes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    task_id,
                    step_id,
                    attempt,
                    artifact.name,
                    artifact.kind,
                    artifact.change,
                    artifact.blake3,
                    artifact.bytes as i64
                ],
            )?;
        }
        let head = tx
            .query_row(
                "SELECT seq, hash FROM records WHERE task_id = ?1 ORDER BY seq DESC LIMIT 1",
                [task_id],
                |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)),
            )
            .optional()?;
        let head = match head {
            Some((seq, hash)) => ChainHead {
                seq: seq as u64 + 1,
                prev_hash: Some(hash),
            },
            None => ChainHead {
                seq: 1,
                prev_hash: None,
            },
        };
        let record = match sign(&head) {
            Ok(record) => record,
            Err(e) => return Ok(Err(e)),
        };
        tx.execute(
            "INSERT INTO records (task_id, seq, step_id, attempt, body, hash, signature, key_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                task_id,
                record.seq as i64,
                record.step_id,
                record.attempt,
                record.body,
                record.hash,
                record.signature,
                record.key_id
            ],
        )?;
        if apply_pending {
            tx.execute(
                "INSERT INTO pending_applies (task_id, step_id, attempt) VALUES (?1, ?2, ?3)",
                params![task_id, step_id, attempt],
            )?;
        }
        tx.commit()?;
        Ok(Ok(record))
    }

    /// The committed attempts whose changes are not applied to their workspace yet.
    pub fn pending_applies(&self) -> Result<Vec<PendingApply>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT p.task_id, p.step_id, p.attempt, t.workspace
             FROM pending_applies p JOIN tasks t ON t.id = p.task_id ORDER BY t.created_at, p.rowid",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(PendingApply {
                task_id: row.get(0)?,
                step_id: row.get(1)?,
                attempt: row.get(2)?,
                workspace: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Marks the changes of a step as applied to the workspace.
    pub fn mark_applied(&self, task_id: &str, step_id: &str) -> Result<()> {
        self.relaxed().execute(
            "DELETE FROM pending_applies WHERE task_id = ?1 AND step_id = ?2",
            params![task_id, step_id],
        )?;
        Ok(())
    }

    /// The signed records of a task, in chain order.
    pub fn records(&self, task_id: &str) -> Result<Vec<RecordRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM records WHERE task_id = ?1 ORDER BY seq",
            RecordRow::COLUMNS
        ))?;
        let rows = stmt.query_map([task_id], RecordRow::from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The id of a key that signed any record in this journal, if there is one.
    pub fn any_signing_key(&self) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row("SELECT key_id FROM records LIMIT 1", [], |row| row.get(0))
            .optional()?)
    }

    /// The artifacts of one attempt.
    pub fn attempt_artifacts(
        &self,
        task_id: &str,
        step_id: &str,
        attempt: u32,
    ) -> Result<Vec<ArtifactRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM artifacts a WHERE a.task_id = ?1 AND a.step_id = ?2 AND a.attempt = ?3 ORDER BY a.name",
            ArtifactRow::COLUMNS
        ))?;
        let rows = stmt.query_map(params![task_id, step_id, attempt], ArtifactRow::from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The texts of the notes an attempt left, in order.
    pub fn notes(&self, task_id: &str, step_id: &str, attempt: u32) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT message FROM events WHERE task_id = ?1 AND step_id = ?2 AND attempt = ?3 AND kind = 'note' ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![task_id, step_id, attempt], |row| row.get(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Attempts that started but never ended: their process stopped.
    pub fn dangling_attempts(&self, task_id: &str) -> Result<Vec<(String, u32, String)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT step_id, attempt, started_at FROM attempts WHERE task_id = ?1 AND finished_at IS NULL ORDER BY started_at",
        )?;
        let rows = stmt.query_map([task_id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Asks the process running the task to stop it.
    pub fn request_cancel(&self, task_id: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE tasks SET cancel_requested = 1 WHERE id = ?1",
            [task_id],
        )?;
        Ok(())
    }

    /// Whether someone asked to cancel the task.
    pub fn cancel_requested(&self, task_id: &str) -> Result<bool> {
        Ok(self.conn().query_row(
            "SELECT cancel_requested FROM tasks WHERE id = ?1",
            [task_id],
            |row| row.get(0),
        )?)
    }

    /// Stores the signed digest of a task's report (its content is in `cas/`).
    pub fn save_report(
        &self,
        task_id: &str,
        blake3: &str,
        signature: &str,
        key_id: &str,
    ) -> Result<()> {
        self.relaxed().execute(
            "INSERT INTO reports (task_id, blake3, signature, key_id) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (task_id) DO UPDATE SET blake3 = excluded.blake3, signature = excluded.signature,
                                                 key_id = excluded.key_id",
            params![task_id, blake3, signature, key_id],
        )?;
        Ok(())
    }

    /// The stored report of a task: (blake3, signature, key id).
    pub fn report(&self, task_id: &str) -> Result<Option<(String, String, String)>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT blake3, signature, key_id FROM reports WHERE task_id = ?1",
                [task_id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?)
    }

    /// Marks the task running again (when resumed), clearing its end.
    pub fn reopen_task(&self, task_id: &str) -> Result<()> {
        self.relaxed().execute(
            "UPDATE tasks SET status = ?2, finished_at = NULL WHERE id = ?1",
            params![task_id, TaskStatus::Running.as_str()],
        )?;
        Ok(())
    }

    /// Ends a task with `status`, marking its steps that never ran as skipped and releasing
    /// its lease; refused if `fence` is not current.
    pub fn finish_task(
        &self,
        task_id: &str,
        status: TaskStatus,
        fence: Option<&Lease>,
    ) -> Result<()> {
        let mut conn = self.relaxed();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        queue::check_fence(&tx, task_id, fence)?;
        tx.execute(
            "UPDATE steps SET status = ?2 WHERE task_id = ?1 AND status = ?3",
            params![
                task_id,
                StepStatus::Skipped.as_str(),
                StepStatus::Pending.as_str()
            ],
        )?;
        tx.execute(
            "UPDATE tasks SET status = ?2, finished_at = ?3, current_step = NULL,
                              lease_owner = NULL, lease_expires = NULL
             WHERE id = ?1",
            params![task_id, status.as_str(), crate::time_format::now()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Appends an event to the task's log.
    pub fn append_event(&self, event: &NewEvent<'_>) -> Result<()> {
        self.relaxed().execute(
            "INSERT INTO events (task_id, step_id, attempt, at, kind, level, message, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                event.task_id,
                event.step_id,
                event.attempt,
                crate::time_format::now(),
                event.kind,
                event.level,
                event.message,
                event.data
            ],
        )?;
        Ok(())
    }

    /// The task whose id is `id_or_prefix`, or the only one whose id starts with it.
    pub fn find_task(&self, id_or_prefix: &str) -> Result<TaskRow> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM tasks WHERE id = ?1 OR substr(id, 1, length(?1)) = ?1 LIMIT 2",
            TaskRow::COLUMNS
        ))?;
        let found = stmt
            .query_map([id_or_prefix], TaskRow::from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        match found.len() {
            0 => Err(JournalError::TaskNotFound(id_or_prefix.to_owned())),
            1 => found
                .into_iter()
                .next()
                .ok_or_else(|| JournalError::TaskNotFound(id_or_prefix.to_owned())),
            _ => {
                if let Some(exact) = found.iter().find(|t| t.id == id_or_prefix) {
                    return Ok(exact.clone());
                }
                let count: i64 = conn.query_row(
                    "SELECT count(*) FROM tasks WHERE substr(id, 1, length(?1)) = ?1",
                    [id_or_prefix],
                    |row| row.get(0),
                )?;
                Err(JournalError::AmbiguousTask {
                    prefix: id_or_prefix.to_owned(),
                    count: count as usize,
                })
            }
        }
    }

    /// The most recent tasks, newest first.
    pub fn recent_tasks(&self, limit: usize) -> Result<Vec<TaskRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM tasks ORDER BY created_at DESC, id DESC LIMIT ?1",
            TaskRow::COLUMNS
        ))?;
        let rows = stmt.query_map([limit as i64], TaskRow::from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The steps of a task, in pipeline order.
    pub fn steps(&self, task_id: &str) -> Result<Vec<StepRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM steps WHERE task_id = ?1 ORDER BY position",
            StepRow::COLUMNS
        ))?;
        let rows = stmt.query_map([task_id], StepRow::from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The events of a task with a sequence number above `after`, in order.
    pub fn events(&self, task_id: &str, after: i64) -> Result<Vec<EventRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM events WHERE task_id = ?1 AND seq > ?2 ORDER BY seq",
            EventRow::COLUMNS
        ))?;
        let rows = stmt.query_map(params![task_id, after], EventRow::from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The artifacts of a task, in step order.
    pub fn artifacts(&self, task_id: &str) -> Result<Vec<ArtifactRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM artifacts a JOIN steps s USING (task_id, step_id)
             WHERE a.task_id = ?1 ORDER BY s.position, a.attempt, a.name",
            ArtifactRow::COLUMNS
        ))?;
        let rows = stmt.query_map([task_id], ArtifactRow::from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The task that last committed a change to `path` in `workspace`, and the digest it
    /// left (none for a deletion).
    pub fn latest_product(
        &self,
        workspace: &str,
        path: &str,
    ) -> Result<Option<(String, Option<String>)>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT a.task_id, a.blake3 FROM artifacts a
                 JOIN tasks t ON t.id = a.task_id
                 JOIN attempts x ON x.task_id = a.task_id AND x.step_id = a.step_id AND x.attempt = a.attempt
                 WHERE t.workspace = ?1 AND a.name = ?2 AND a.kind = 'file' AND x.status = 'succeeded'
                 ORDER BY x.finished_at DESC, a.rowid DESC LIMIT 1",
                params![workspace, path],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?)
    }

    /// Reads a value of the task's key/value state.
    pub fn kv_get(&self, task_id: &str, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT value FROM kv WHERE task_id = ?1 AND key = ?2",
                params![task_id, key],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Writes a value of the task's key/value state.
    pub fn kv_set(&self, task_id: &str, key: &str, value: &[u8]) -> Result<()> {
        self.relaxed().execute(
            "INSERT INTO kv (task_id, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (task_id, key) DO UPDATE SET value = excluded.value",
            params![task_id, key, value],
        )?;
        Ok(())
    }

    /// Saves the latest checkpoint of a step, replacing the previous one.
    pub fn save_checkpoint(&self, task_id: &str, step_id: &str, state: &[u8]) -> Result<()> {
        self.relaxed().execute(
            "INSERT INTO checkpoints (task_id, step_id, state, at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (task_id, step_id) DO UPDATE SET state = excluded.state, at = excluded.at",
            params![task_id, step_id, state, crate::time_format::now()],
        )?;
        Ok(())
    }

    /// The latest checkpoint of a step, if any.
    pub fn checkpoint(&self, task_id: &str, step_id: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT state FROM checkpoints WHERE task_id = ?1 AND step_id = ?2",
                params![task_id, step_id],
                |row| row.get(0),
            )
            .optional()?)
    }
}

/// Inserts a task and its pending steps.
fn insert_task(
    tx: &rusqlite::Transaction<'_>,
    task: &NewTask<'_>,
    status: TaskStatus,
    queue: &QueueOptions<'_>,
) -> Result<()> {
    let now = crate::time_format::now();
    let started = (status == TaskStatus::Running).then_some(&now);
    tx.execute(
        "INSERT INTO tasks (id, pipeline, pipeline_path, pipeline_digest, workspace, params,
                            status, created_at, started_at, pipeline_text, background, priority,
                            not_before, idempotency_key, schedule, serial_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        params![
            task.id,
            task.pipeline,
            task.pipeline_path,
            task.pipeline_digest,
            task.workspace,
            task.params,
            status.as_str(),
            now,
            started,
            task.pipeline_text,
            status == TaskStatus::Queued,
            queue.priority,
            queue.not_before,
            queue.idempotency_key,
            queue.schedule,
            queue.serial_key,
        ],
    )?;
    for (position, step) in task.steps.iter().enumerate() {
        tx.execute(
            "INSERT INTO steps (task_id, step_id, position, kind, plugin, plugin_digest, status, is_check)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                task.id,
                step.step_id,
                position as i64,
                step.kind,
                step.plugin,
                step.plugin_digest,
                StepStatus::Pending.as_str(),
                step.is_check
            ],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
