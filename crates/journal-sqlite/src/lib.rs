//! The SQLite backend of the journal: one file in the state directory (`journal.db`, WAL), behind a
//! mutex; every method is one short statement or one transaction, so callers on async
//! threads hold it only briefly.
//!
//! Durability: what a step committed (its record, artifacts and end), and a submitted task,
//! are synced to disk before the call returns (`synchronous=FULL`). Bookkeeping around them
//! (attempt starts, events, leases, heartbeats, checkpoints, applied marks, report digests,
//! task ends) is written without waiting for the disk: it survives the process being killed
//! at any instant, and becomes durable against power loss with the next synced commit, since
//! the write-ahead log is synced in order. A power loss can so forget bookkeeping written
//! after the last commit (an attempt that had not committed, a lease), never a commit.

#![warn(missing_docs)]

mod prune;
mod queue;
mod rows;
mod schedules;
mod schema;
mod wake;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use rows::FromRow;

use nightshift_journal::{
    ArtifactRow, ChainHead, Commit, DanglingAttempt, EventRow, FileChange, Firing, JournalError,
    LatestProduct, Lease, LogLevel, NewEvent, NewTask, PendingApply, Progress, QueueOptions,
    QueueWakeups, RecordRow, Result, ScheduleCaveat, ScheduleRow, ScheduleRun, SealedReport,
    StepRow, StepStatus, Store, Submitted, Sync, TaskRow, TaskStatus,
};

/// SQLite's `synchronous` setting for a durability of commits.
fn pragma(sync: Sync) -> &'static str {
    match sync {
        Sync::Full => "FULL",
        Sync::Normal => "NORMAL",
    }
}

/// The SQLite journal.
#[derive(Debug)]
pub struct Sqlite {
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

/// Refuses a journal file, write-ahead log, shared-memory or rollback file that is a symlink
/// (with a clearer message than SQLite's own `NOFOLLOW`, which covers the journal file only
/// and would write through the others).
fn refuse_symlinks(path: &Path) -> std::result::Result<(), rusqlite::Error> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut sidecar = path.as_os_str().to_owned();
        sidecar.push(suffix);
        let sidecar = PathBuf::from(sidecar);
        if sidecar
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!("{} is a symlink; refused", sidecar.display())),
            ));
        }
    }
    Ok(())
}

impl Sqlite {
    /// Opens (creating if needed) the journal at `path` with the given durability of
    /// commits, and migrates its schema.
    pub fn open(path: &Path, sync: Sync) -> Result<Self> {
        Ok(Sqlite::open_migrated(path, sync)?.0)
    }

    /// Opens the journal at `path` and migrates its schema: the journal, and the schema
    /// versions (before, after).
    pub fn open_migrated(path: &Path, sync: Sync) -> Result<(Self, (u32, u32))> {
        let open = |cause| JournalError::Open {
            path: path.to_path_buf(),
            cause,
        };
        refuse_symlinks(path).map_err(open)?;
        // A journal file that is a symlink (planted in the state directory, say) is refused,
        // not followed.
        let flags = OpenFlags::default() | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let mut conn = Connection::open_with_flags(path, flags).map_err(open)?;
        let versions = prepare_when_free(&mut conn, sync).map_err(|e| match e {
            JournalError::Sqlite(cause) => JournalError::Open {
                path: path.to_path_buf(),
                cause,
            },
            other => other,
        })?;
        let journal = Sqlite {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            sync,
        };
        Ok((journal, versions))
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
                .pragma_update(None, "synchronous", pragma(Sync::Normal))
                .is_ok())
        .then_some(pragma(Sync::Full));
        Relaxed { conn, restore }
    }
}

impl Store for Sqlite {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn create_task(&self, task: &NewTask<'_>) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        insert_task(&tx, task, TaskStatus::Running, &QueueOptions::default())?;
        tx.commit()?;
        Ok(())
    }

    fn start_attempt(
        &self,
        task_id: &str,
        step_id: &str,
        attempt: u32,
        fence: Option<&Lease>,
    ) -> Result<()> {
        let mut conn = self.relaxed();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        queue::check_fence(&tx, task_id, fence)?;
        let now = nightshift_journal::time_format::now();
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

    fn commit_attempt(
        &self,
        commit: &Commit<'_>,
        sign: &mut dyn FnMut(&ChainHead) -> Option<RecordRow>,
    ) -> Result<Option<RecordRow>> {
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
        let now = nightshift_journal::time_format::now();
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
                    artifact.kind.as_str(),
                    artifact.change.map(FileChange::as_str),
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
        let Some(record) = sign(&head) else {
            return Ok(None);
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
        Ok(Some(record))
    }

    fn pending_applies(&self) -> Result<Vec<PendingApply>> {
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

    fn mark_applied(&self, task_id: &str, step_id: &str) -> Result<()> {
        self.relaxed().execute(
            "DELETE FROM pending_applies WHERE task_id = ?1 AND step_id = ?2",
            params![task_id, step_id],
        )?;
        Ok(())
    }

    fn records(&self, task_id: &str) -> Result<Vec<RecordRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM records WHERE task_id = ?1 ORDER BY seq",
            RecordRow::COLUMNS
        ))?;
        let rows = stmt.query_map([task_id], <RecordRow as FromRow>::from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn any_signing_key(&self) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row("SELECT key_id FROM records LIMIT 1", [], |row| row.get(0))
            .optional()?)
    }

    fn attempt_artifacts(
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
        let rows = stmt.query_map(
            params![task_id, step_id, attempt],
            <ArtifactRow as FromRow>::from_row,
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn notes(&self, task_id: &str, step_id: &str, attempt: u32) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT message FROM events WHERE task_id = ?1 AND step_id = ?2 AND attempt = ?3 AND kind = 'note' ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![task_id, step_id, attempt], |row| row.get(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn dangling_attempts(&self, task_id: &str) -> Result<Vec<DanglingAttempt>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT step_id, attempt, started_at FROM attempts WHERE task_id = ?1 AND finished_at IS NULL ORDER BY started_at",
        )?;
        let rows = stmt.query_map([task_id], |row| {
            Ok(DanglingAttempt {
                step_id: row.get(0)?,
                attempt: row.get(1)?,
                started_at: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn request_cancel(&self, task_id: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE tasks SET cancel_requested = 1 WHERE id = ?1",
            [task_id],
        )?;
        Ok(())
    }

    fn cancel_requested(&self, task_id: &str) -> Result<bool> {
        Ok(self.conn().query_row(
            "SELECT cancel_requested FROM tasks WHERE id = ?1",
            [task_id],
            |row| row.get(0),
        )?)
    }

    fn save_report(
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

    fn report(&self, task_id: &str) -> Result<Option<SealedReport>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT blake3, signature, key_id FROM reports WHERE task_id = ?1",
                [task_id],
                |row| {
                    Ok(SealedReport {
                        blake3: row.get(0)?,
                        signature: row.get(1)?,
                        key_id: row.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    fn reopen_task(&self, task_id: &str) -> Result<()> {
        self.relaxed().execute(
            "UPDATE tasks SET status = ?2, finished_at = NULL WHERE id = ?1",
            params![task_id, TaskStatus::Running.as_str()],
        )?;
        Ok(())
    }

    fn finish_task(&self, task_id: &str, status: TaskStatus, fence: Option<&Lease>) -> Result<()> {
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
            params![
                task_id,
                status.as_str(),
                nightshift_journal::time_format::now()
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn append_event(&self, event: &NewEvent<'_>) -> Result<()> {
        self.relaxed().execute(
            "INSERT INTO events (task_id, step_id, attempt, at, kind, level, message, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                event.task_id,
                event.step_id,
                event.attempt,
                nightshift_journal::time_format::now(),
                event.kind.as_str(),
                event.level.map(LogLevel::as_str),
                event.message,
                event.data
            ],
        )?;
        Ok(())
    }

    fn find_task(&self, id_or_prefix: &str) -> Result<TaskRow> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM tasks WHERE id = ?1 OR substr(id, 1, length(?1)) = ?1
             ORDER BY id = ?1 DESC LIMIT 2",
            TaskRow::COLUMNS
        ))?;
        let found = stmt
            .query_map([id_or_prefix], <TaskRow as FromRow>::from_row)?
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

    fn recent_tasks(&self, limit: usize) -> Result<Vec<TaskRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM tasks ORDER BY created_at DESC, id DESC LIMIT ?1",
            TaskRow::COLUMNS
        ))?;
        let rows = stmt.query_map([limit as i64], <TaskRow as FromRow>::from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn steps(&self, task_id: &str) -> Result<Vec<StepRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM steps WHERE task_id = ?1 ORDER BY position",
            StepRow::COLUMNS
        ))?;
        let rows = stmt.query_map([task_id], <StepRow as FromRow>::from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn events(&self, task_id: &str, after: i64) -> Result<Vec<EventRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM events WHERE task_id = ?1 AND seq > ?2 ORDER BY seq",
            EventRow::COLUMNS
        ))?;
        let rows = stmt.query_map(params![task_id, after], <EventRow as FromRow>::from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn artifacts(&self, task_id: &str) -> Result<Vec<ArtifactRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM artifacts a JOIN steps s USING (task_id, step_id)
             WHERE a.task_id = ?1 ORDER BY s.position, a.attempt, a.name",
            ArtifactRow::COLUMNS
        ))?;
        let rows = stmt.query_map([task_id], <ArtifactRow as FromRow>::from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn latest_product(&self, workspace: &str, path: &str) -> Result<Option<LatestProduct>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT a.task_id, a.blake3 FROM artifacts a
                 JOIN tasks t ON t.id = a.task_id
                 JOIN attempts x ON x.task_id = a.task_id AND x.step_id = a.step_id AND x.attempt = a.attempt
                 WHERE t.workspace = ?1 AND a.name = ?2 AND a.kind = 'file' AND x.status = 'succeeded'
                 ORDER BY x.finished_at DESC, a.rowid DESC LIMIT 1",
                params![workspace, path],
                |row| {
                    Ok(LatestProduct {
                        task_id: row.get(0)?,
                        blake3: row.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    fn kv_get(&self, task_id: &str, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT value FROM kv WHERE task_id = ?1 AND key = ?2",
                params![task_id, key],
                |row| row.get(0),
            )
            .optional()?)
    }

    fn kv_set(&self, task_id: &str, key: &str, value: &[u8]) -> Result<()> {
        self.relaxed().execute(
            "INSERT INTO kv (task_id, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (task_id, key) DO UPDATE SET value = excluded.value",
            params![task_id, key, value],
        )?;
        Ok(())
    }

    fn save_checkpoint(&self, task_id: &str, step_id: &str, state: &[u8]) -> Result<()> {
        self.relaxed().execute(
            "INSERT INTO checkpoints (task_id, step_id, state, at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (task_id, step_id) DO UPDATE SET state = excluded.state, at = excluded.at",
            params![
                task_id,
                step_id,
                state,
                nightshift_journal::time_format::now()
            ],
        )?;
        Ok(())
    }

    fn checkpoint(&self, task_id: &str, step_id: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT state FROM checkpoints WHERE task_id = ?1 AND step_id = ?2",
                params![task_id, step_id],
                |row| row.get(0),
            )
            .optional()?)
    }

    fn submit_task(&self, task: &NewTask<'_>, queue: &QueueOptions<'_>) -> Result<Submitted> {
        let submitted = self.submit(task, queue)?;
        if !submitted.existing {
            wake::wake_workers(&wake::wake_dir(&self.path));
        }
        Ok(submitted)
    }

    fn claim(&self, owner: &str, ttl_ms: i64) -> Result<Option<Lease>> {
        self.claim_next(owner, ttl_ms)
    }

    fn heartbeat(&self, lease: &Lease, ttl_ms: i64) -> Result<bool> {
        self.extend_lease(lease, ttl_ms)
    }

    fn release(&self, lease: &Lease, why: &str) -> Result<bool> {
        let released = self.release_lease(lease, why)?;
        if released {
            wake::wake_workers(&wake::wake_dir(&self.path));
        }
        Ok(released)
    }

    fn cancel_queued(&self, task_id: &str) -> Result<bool> {
        self.cancel_if_queued(task_id)
    }

    fn lane_busy(&self) -> Result<bool> {
        self.has_background_work()
    }

    fn latest_progress(&self, task_id: &str) -> Result<Option<Progress>> {
        Ok(self
            .last_progress(task_id)?
            .map(|(message, data)| Progress { message, data }))
    }

    fn queue_wakeups(&self) -> Result<Option<QueueWakeups>> {
        Ok(wake::listen(&wake::wake_dir(&self.path)))
    }

    fn add_schedule(&self, schedule: &ScheduleRow) -> Result<bool> {
        self.insert_schedule(schedule)
    }

    fn schedules(&self) -> Result<Vec<ScheduleRow>> {
        self.all_schedules()
    }

    fn set_schedule_paused(&self, name: &str, paused: bool, now_ms: i64) -> Result<bool> {
        self.pause_schedule(name, paused, now_ms)
    }

    fn remove_schedule(&self, name: &str) -> Result<bool> {
        self.delete_schedule(name)
    }

    fn schedule_caveats(&self, name: &str, limit: usize) -> Result<Vec<ScheduleCaveat>> {
        self.caveats_of(name, limit)
    }

    fn schedule_runs(&self, name: &str) -> Result<Vec<ScheduleRun>> {
        self.runs_of(name)
    }

    fn fire_schedule(&self, firing: &Firing<'_>) -> Result<Option<Vec<String>>> {
        let queued = self.fire(firing)?;
        if queued.as_ref().is_some_and(|tasks| !tasks.is_empty()) {
            wake::wake_workers(&wake::wake_dir(&self.path));
        }
        Ok(queued)
    }

    fn finished_before(&self, cutoff: &str) -> Result<Vec<TaskRow>> {
        self.finished_tasks_before(cutoff)
    }

    fn delete_task(&self, task_id: &str) -> Result<()> {
        self.delete_finished_task(task_id)
    }
}

/// [`schema::prepare`], tried again while another process holds a lock it needs. Switching a
/// new journal to WAL takes a lock SQLite's busy handler does not wait for, so processes
/// opening the same new journal at once can be told it is locked.
fn prepare_when_free(conn: &mut Connection, sync: Sync) -> Result<(u32, u32)> {
    let started = std::time::Instant::now();
    loop {
        match schema::prepare(conn, sync) {
            Err(JournalError::Sqlite(e))
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && started.elapsed() < schema::BUSY_TIMEOUT =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Inserts a task and its pending steps.
fn insert_task(
    tx: &rusqlite::Transaction<'_>,
    task: &NewTask<'_>,
    status: TaskStatus,
    queue: &QueueOptions<'_>,
) -> Result<()> {
    let now = nightshift_journal::time_format::now();
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
                step.kind.as_str(),
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
mod tests {
    use nightshift_journal::{Journal, JournalError, Sync};
    use rusqlite::Connection;

    use super::{Sqlite, schema};

    fn fresh() -> Option<(tempfile::TempDir, Journal)> {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Sqlite::open(&dir.path().join("j.db"), Sync::Full).expect("open SQLite");
        Some((dir, Journal::new(store)))
    }

    nightshift_journal::conformance_suite!(fresh);

    #[test]
    fn a_newer_schema_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.db");
        drop(Sqlite::open(&path, Sync::Full).expect("open"));
        let conn = Connection::open(&path).expect("raw open");
        conn.pragma_update(None, "user_version", schema::CURRENT_VERSION + 1)
            .expect("bump");
        drop(conn);
        let err = Sqlite::open(&path, Sync::Full).expect_err("newer schema");
        assert!(matches!(err, JournalError::NewerSchema { .. }), "{err}");
        let conn = Connection::open(&path).expect("raw open");
        let version: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(version, schema::CURRENT_VERSION + 1);
    }
}
