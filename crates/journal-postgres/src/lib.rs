//! The PostgreSQL backend: one database shared by workers on many hosts.
//!
//! Selected with `--state postgres://...` (or `NIGHTSHIFT_STATE`). It keeps what the SQLite
//! journal keeps, with the same transactions: a step's record, artifacts and end commit
//! together, every write of a leased task checks its fencing token under the task's row
//! lock, workers claim with `FOR UPDATE SKIP LOCKED`, each schedule's due run is fired once
//! (the schedule's row lock, and a unique `(schedule, due_at)`), and `NOTIFY` wakes idle
//! workers when a task is queued.
//!
//! Artifacts are not stored in the database: they stay content-addressed by blake3 in the
//! `cas/` of the files directory, which hosts share like their workspaces.
//!
//! Durability is SQLite's: what a step commits (its record, artifacts and end), a submitted
//! or cancelled task, and schedule changes return once the server has flushed them to its
//! write-ahead log (`synchronous_commit = on`); bookkeeping around them (attempt starts,
//! events, leases, heartbeats, task ends) returns without waiting for the flush (`off`),
//! and becomes durable with the next flushed commit, as the log is flushed in order. A
//! server crash can so forget bookkeeping written after the last commit, never a commit.
//!
//! A lost connection (the server restarting, a network cut) is made again, and the operation
//! that failed is run again, for up to [`RECONNECT_FOR`]. When the answer to a COMMIT was
//! lost, the first run may have landed: a step commit, task insert or attempt start that did
//! is recognised and not repeated; an event may be logged twice, and a claim whose answer
//! was lost leaves its task leased to this worker until the lease expires and another claim
//! takes it.

#![warn(missing_docs)]

mod error;
mod listen;
mod prune;
mod queue;
mod rows;
mod schedules;
mod schema;
mod session;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use error::{ConnectError, DbError};
use nightshift_journal::BackendError;
use rows::{FromPgRow, all, unsigned};
use session::{Failure, Outcome, Session};

use nightshift_journal::time_format::now;
use nightshift_journal::{
    ArtifactRow, ChainHead, Commit, DanglingAttempt, EventRow, FileChange, Firing, JournalError,
    LatestProduct, Lease, LogLevel, NewEvent, NewTask, PendingApply, Progress, QueueOptions,
    QueueWakeups, RecordRow, Result, ScheduleCaveat, ScheduleRow, ScheduleRun, SealedReport,
    StepRow, StepStatus, Store, Submitted, TaskRow, TaskStatus,
};

/// How long a lost connection is tried again before the operation fails.
pub const RECONNECT_FOR: Duration = Duration::from_secs(60);

/// The channel `NOTIFY` announces queued tasks on.
const QUEUE_CHANNEL: &str = "nightshift_queue";

/// The PostgreSQL journal: a pool of connections, one per caller at a time, so tasks of one
/// worker read and commit side by side.
#[derive(Debug)]
pub struct Postgres {
    config: tokio_postgres::Config,
    server: String,
    idle: Mutex<Vec<Session>>,
}

impl Postgres {
    /// Connects to the database at `url` and migrates its schema to this build's.
    pub fn connect(url: &str) -> Result<Self> {
        let postgres = Postgres::connect_unmigrated(url)?;
        postgres.run(|s| schema::migrate(s).map(|_| ()))?;
        Ok(postgres)
    }

    /// Connects to the database at `url`, leaving its schema as it is.
    pub fn connect_unmigrated(url: &str) -> Result<Self> {
        let config = session::config(url)?;
        let server = session::describe(&config);
        let session = Session::connect(&config).map_err(|e| JournalError::Connect {
            server: server.clone(),
            cause: Box::new(e),
        })?;
        Ok(Postgres {
            config,
            server,
            idle: Mutex::new(vec![session]),
        })
    }

    /// Brings the schema to this build's version, refusing a newer one: (from, to).
    pub fn migrate(&self) -> Result<(u32, u32)> {
        self.run(schema::migrate)
    }

    /// The schema version the database holds, and the one this build writes (tests that
    /// check a refused database was left alone).
    #[cfg(test)]
    pub(crate) fn schema_version(&self) -> Result<(u32, u32)> {
        Ok((self.run(schema::version)?, schema::CURRENT_VERSION))
    }

    /// Runs statements as they are (tests that tamper with the database).
    #[cfg(test)]
    pub(crate) fn run_sql(&self, sql: &str) -> Result<()> {
        self.run(|s| s.batch(sql))
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Session>> {
        // The lock only guards the list; a panic while holding it cannot leave a session
        // half used.
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Puts a session that is still open back in the pool.
    fn give_back(&self, session: Option<Session>) {
        if let Some(session) = session.filter(|s| !s.is_closed()) {
            self.idle().push(session);
        }
    }

    /// Runs `op` on a session of the pool (a new one if none is idle), reconnecting and
    /// running it again while the failure is a lost connection or a retryable conflict, for
    /// up to [`RECONNECT_FOR`].
    fn run<T>(&self, mut op: impl FnMut(&mut Session) -> Outcome<T>) -> Result<T> {
        let mut session = self.idle().pop();
        let mut lost_since: Option<Instant> = None;
        let mut pause = Duration::from_millis(50);
        let gave_up = |since: Instant, cause: BackendError| {
            if since.elapsed() >= RECONNECT_FOR {
                Err(JournalError::Disconnected {
                    server: self.server.clone(),
                    seconds: RECONNECT_FOR.as_secs(),
                    cause,
                })
            } else {
                Ok(())
            }
        };
        loop {
            if session.as_ref().is_none_or(Session::is_closed) {
                if session.take().is_some() {
                    tracing::warn!(server = %self.server, "the connection to PostgreSQL was lost; reconnecting");
                }
                match Session::connect(&self.config) {
                    Ok(made) => {
                        if let Some(since) = &lost_since {
                            tracing::info!(server = %self.server, after = ?since.elapsed(), "reconnected to PostgreSQL");
                        }
                        session = Some(made);
                    }
                    Err(e) => {
                        let since = *lost_since.get_or_insert_with(Instant::now);
                        gave_up(since, Box::new(e))?;
                        std::thread::sleep(pause);
                        pause = (pause * 2).min(Duration::from_secs(1));
                        continue;
                    }
                }
            }
            let Some(current) = session.as_mut() else {
                continue;
            };
            match op(current) {
                Ok(value) => {
                    self.give_back(session);
                    return Ok(value);
                }
                Err(Failure::Journal(e)) => {
                    self.give_back(session);
                    return Err(e);
                }
                Err(Failure::Db(e)) if session::is_transient(&e) || current.is_closed() => {
                    let lost = current.is_closed() || e.is_closed();
                    let since = *lost_since.get_or_insert_with(Instant::now);
                    let cause = DbError(e);
                    let next = if lost {
                        "reconnecting and trying again"
                    } else {
                        "trying again"
                    };
                    tracing::warn!(server = %self.server, "PostgreSQL: {cause}; {next}");
                    gave_up(since, Box::new(cause))?;
                    if lost {
                        session = None;
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Err(Failure::Db(e)) => {
                    self.give_back(session);
                    return Err(JournalError::Postgres {
                        server: self.server.clone(),
                        cause: Box::new(DbError(e)),
                    });
                }
            }
        }
    }

    /// Runs `op` in one transaction, as [`Postgres::run`] does, returning before the WAL is
    /// flushed (bookkeeping).
    fn transaction<T>(&self, mut op: impl FnMut(&mut Session) -> Outcome<T>) -> Result<T> {
        self.run(|session| session.transaction(false, &mut op))
    }

    /// Runs `op` in one transaction, as [`Postgres::run`] does, returning once it is durable.
    fn durable<T>(&self, mut op: impl FnMut(&mut Session) -> Outcome<T>) -> Result<T> {
        self.run(|session| session.transaction(true, &mut op))
    }
}

/// Refuses the write unless `fence` (if any) holds the task's current fencing token. Locks
/// the task's row until the transaction ends, so no claim can take the task in between.
fn check_fence(session: &mut Session, task_id: &str, fence: Option<&Lease>) -> Outcome<()> {
    let Some(lease) = fence else {
        return Ok(());
    };
    let current: i64 = session
        .query_one(
            "SELECT lease_token FROM tasks WHERE id = $1 FOR UPDATE",
            &[&task_id],
        )?
        .try_get(0)?;
    if current != lease.token {
        return Err(JournalError::LeaseLost {
            task: task_id.to_owned(),
            token: lease.token,
            current,
        }
        .into());
    }
    Ok(())
}

/// Inserts a task and its pending steps; nothing if a task with its id exists (an insert
/// run again after its commit's answer was lost). True if it inserted.
fn insert_task(
    session: &mut Session,
    task: &NewTask<'_>,
    status: TaskStatus,
    queue: &QueueOptions<'_>,
) -> Outcome<bool> {
    let now = now();
    let started = (status == TaskStatus::Running).then_some(&now);
    let inserted = session.execute(
        "INSERT INTO tasks (id, pipeline, pipeline_path, pipeline_digest, workspace, params,
                            status, created_at, started_at, pipeline_text, background, priority,
                            not_before, idempotency_key, schedule, serial_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         ON CONFLICT (id) DO NOTHING",
        &[
            &task.id,
            &task.pipeline,
            &task.pipeline_path,
            &task.pipeline_digest,
            &task.workspace,
            &task.params,
            &status.as_str(),
            &now,
            &started,
            &task.pipeline_text,
            &(status == TaskStatus::Queued),
            &queue.priority,
            &queue.not_before,
            &queue.idempotency_key,
            &queue.schedule,
            &queue.serial_key,
        ],
    )?;
    if inserted == 0 {
        return Ok(false);
    }
    for (position, step) in task.steps.iter().enumerate() {
        session.execute(
            "INSERT INTO steps (task_id, step_id, position, kind, plugin, plugin_digest, status, is_check)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &task.id,
                &step.step_id,
                &(position as i64),
                &step.kind.as_str(),
                &step.plugin,
                &step.plugin_digest,
                &StepStatus::Pending.as_str(),
                &step.is_check,
            ],
        )?;
    }
    Ok(true)
}

impl Store for Postgres {
    fn location(&self) -> String {
        format!("postgres://{}", self.server)
    }

    fn create_task(&self, task: &NewTask<'_>) -> Result<()> {
        self.durable(|s| {
            insert_task(s, task, TaskStatus::Running, &QueueOptions::default()).map(|_| ())
        })
    }

    fn start_attempt(
        &self,
        task_id: &str,
        step_id: &str,
        attempt: u32,
        fence: Option<&Lease>,
    ) -> Result<()> {
        let attempt = i64::from(attempt);
        self.transaction(|s| {
            check_fence(s, task_id, fence)?;
            let now = now();
            s.execute(
                "INSERT INTO attempts (task_id, step_id, attempt, status, started_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[
                    &task_id,
                    &step_id,
                    &attempt,
                    &StepStatus::Running.as_str(),
                    &now,
                ],
            )?;
            s.execute(
                "UPDATE steps SET status = $3, attempts = $4, started_at = COALESCE(started_at, $5)
                 WHERE task_id = $1 AND step_id = $2",
                &[
                    &task_id,
                    &step_id,
                    &StepStatus::Running.as_str(),
                    &attempt,
                    &now,
                ],
            )?;
            s.execute(
                "UPDATE tasks SET current_step = $2 WHERE id = $1",
                &[&task_id, &step_id],
            )?;
            Ok(())
        })
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
        let attempt = i64::from(attempt);
        self.durable(|s| {
            check_fence(s, task_id, fence)?;
            // Run again after a lost answer to COMMIT: the first run may have landed.
            if let Some(row) = s.query_opt(
                &format!(
                    "SELECT {} FROM records WHERE task_id = $1 AND step_id = $2 AND attempt = $3",
                    RecordRow::COLUMNS
                ),
                &[&task_id, &step_id, &attempt],
            )? {
                return Ok(Some(RecordRow::from_pg(&row)?));
            }
            let head = s.query_opt(
                "SELECT seq, hash FROM records WHERE task_id = $1 ORDER BY seq DESC LIMIT 1",
                &[&task_id],
            )?;
            let head = match head {
                Some(row) => ChainHead {
                    seq: unsigned::<u64>(row.try_get(0)?, "record sequence number")? + 1,
                    prev_hash: Some(row.try_get(1)?),
                },
                None => ChainHead {
                    seq: 1,
                    prev_hash: None,
                },
            };
            // Signed before anything is written, so a refusal leaves nothing behind.
            let Some(record) = sign(&head) else {
                return Ok(None);
            };
            let now = now();
            s.execute(
                "UPDATE attempts SET status = $4, error = $5, finished_at = $6
                 WHERE task_id = $1 AND step_id = $2 AND attempt = $3",
                &[&task_id, &step_id, &attempt, &result.status.as_str(), &result.error, &now],
            )?;
            s.execute(
                "UPDATE steps SET status = $3, summary = $4, data = $5, checks = $6, caveats = $7,
                                  error = $8, finished_at = $9, duration_ms = $10
                 WHERE task_id = $1 AND step_id = $2",
                &[
                    &task_id,
                    &step_id,
                    &result.status.as_str(),
                    &result.summary,
                    &result.data,
                    &result.checks,
                    &result.caveats,
                    &result.error,
                    &now,
                    &(result.duration_ms as i64),
                ],
            )?;
            for artifact in artifacts {
                s.execute(
                    "INSERT INTO artifacts (task_id, step_id, attempt, name, kind, change, blake3, bytes)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[
                        &task_id,
                        &step_id,
                        &attempt,
                        &artifact.name,
                        &artifact.kind.as_str(),
                        &artifact.change.map(FileChange::as_str),
                        &artifact.blake3,
                        &(artifact.bytes as i64),
                    ],
                )?;
            }
            s.execute(
                "INSERT INTO records (task_id, seq, step_id, attempt, body, hash, signature, key_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &task_id,
                    &(record.seq as i64),
                    &record.step_id,
                    &i64::from(record.attempt),
                    &record.body,
                    &record.hash,
                    &record.signature,
                    &record.key_id,
                ],
            )?;
            if apply_pending {
                s.execute(
                    "INSERT INTO pending_applies (task_id, step_id, attempt) VALUES ($1, $2, $3)",
                    &[&task_id, &step_id, &attempt],
                )?;
            }
            Ok(Some(record))
        })
    }

    fn pending_applies(&self) -> Result<Vec<PendingApply>> {
        self.run(|s| {
            s.query(
                "SELECT p.task_id, p.step_id, p.attempt, t.workspace
                 FROM pending_applies p JOIN tasks t ON t.id = p.task_id ORDER BY t.created_at, p.seq",
                &[],
            )?
            .iter()
            .map(|row| {
                Ok(PendingApply {
                    task_id: row.try_get(0)?,
                    step_id: row.try_get(1)?,
                    attempt: unsigned(row.try_get(2)?, "attempt")?,
                    workspace: row.try_get(3)?,
                })
            })
            .collect()
        })
    }

    fn mark_applied(&self, task_id: &str, step_id: &str) -> Result<()> {
        self.run(|s| {
            s.execute(
                "DELETE FROM pending_applies WHERE task_id = $1 AND step_id = $2",
                &[&task_id, &step_id],
            )
            .map(|_| ())
        })
    }

    fn records(&self, task_id: &str) -> Result<Vec<RecordRow>> {
        let sql = format!(
            "SELECT {} FROM records WHERE task_id = $1 ORDER BY seq",
            RecordRow::COLUMNS
        );
        self.run(|s| all(&s.query(&sql, &[&task_id])?))
    }

    fn any_signing_key(&self) -> Result<Option<String>> {
        self.run(|s| {
            Ok(
                match s.query_opt("SELECT key_id FROM records LIMIT 1", &[])? {
                    Some(row) => Some(row.try_get(0)?),
                    None => None,
                },
            )
        })
    }

    fn attempt_artifacts(
        &self,
        task_id: &str,
        step_id: &str,
        attempt: u32,
    ) -> Result<Vec<ArtifactRow>> {
        let sql = format!(
            "SELECT {} FROM artifacts a WHERE a.task_id = $1 AND a.step_id = $2 AND a.attempt = $3
             ORDER BY a.name COLLATE \"C\"",
            ArtifactRow::COLUMNS
        );
        let attempt = i64::from(attempt);
        self.run(|s| all(&s.query(&sql, &[&task_id, &step_id, &attempt])?))
    }

    fn notes(&self, task_id: &str, step_id: &str, attempt: u32) -> Result<Vec<String>> {
        let attempt = i64::from(attempt);
        self.run(|s| {
            s.query(
                "SELECT message FROM events
                 WHERE task_id = $1 AND step_id = $2 AND attempt = $3 AND kind = 'note' ORDER BY seq",
                &[&task_id, &step_id, &attempt],
            )?
            .iter()
            .map(|row| Ok(row.try_get(0)?))
            .collect()
        })
    }

    fn dangling_attempts(&self, task_id: &str) -> Result<Vec<DanglingAttempt>> {
        self.run(|s| {
            s.query(
                "SELECT step_id, attempt, started_at FROM attempts
                 WHERE task_id = $1 AND finished_at IS NULL ORDER BY started_at",
                &[&task_id],
            )?
            .iter()
            .map(|row| {
                Ok(DanglingAttempt {
                    step_id: row.try_get(0)?,
                    attempt: unsigned(row.try_get(1)?, "attempt")?,
                    started_at: row.try_get(2)?,
                })
            })
            .collect()
        })
    }

    fn request_cancel(&self, task_id: &str) -> Result<()> {
        self.durable(|s| {
            s.execute(
                "UPDATE tasks SET cancel_requested = true WHERE id = $1",
                &[&task_id],
            )
            .map(|_| ())
        })
    }

    fn cancel_requested(&self, task_id: &str) -> Result<bool> {
        self.run(|s| {
            Ok(s.query_one(
                "SELECT cancel_requested FROM tasks WHERE id = $1",
                &[&task_id],
            )?
            .try_get(0)?)
        })
    }

    fn save_report(
        &self,
        task_id: &str,
        blake3: &str,
        signature: &str,
        key_id: &str,
    ) -> Result<()> {
        self.run(|s| {
            s.execute(
                "INSERT INTO reports (task_id, blake3, signature, key_id) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (task_id) DO UPDATE SET blake3 = excluded.blake3,
                     signature = excluded.signature, key_id = excluded.key_id",
                &[&task_id, &blake3, &signature, &key_id],
            )
            .map(|_| ())
        })
    }

    fn report(&self, task_id: &str) -> Result<Option<SealedReport>> {
        self.run(|s| {
            Ok(
                match s.query_opt(
                    "SELECT blake3, signature, key_id FROM reports WHERE task_id = $1",
                    &[&task_id],
                )? {
                    Some(row) => Some(SealedReport {
                        blake3: row.try_get(0)?,
                        signature: row.try_get(1)?,
                        key_id: row.try_get(2)?,
                    }),
                    None => None,
                },
            )
        })
    }

    fn reopen_task(&self, task_id: &str) -> Result<()> {
        self.run(|s| {
            s.execute(
                "UPDATE tasks SET status = $2, finished_at = NULL WHERE id = $1",
                &[&task_id, &TaskStatus::Running.as_str()],
            )
            .map(|_| ())
        })
    }

    fn finish_task(&self, task_id: &str, status: TaskStatus, fence: Option<&Lease>) -> Result<()> {
        self.transaction(|s| {
            check_fence(s, task_id, fence)?;
            s.execute(
                "UPDATE steps SET status = $2 WHERE task_id = $1 AND status = $3",
                &[
                    &task_id,
                    &StepStatus::Skipped.as_str(),
                    &StepStatus::Pending.as_str(),
                ],
            )?;
            s.execute(
                "UPDATE tasks SET status = $2, finished_at = $3, current_step = NULL,
                                  lease_owner = NULL, lease_expires = NULL
                 WHERE id = $1",
                &[&task_id, &status.as_str(), &now()],
            )?;
            Ok(())
        })
    }

    fn append_event(&self, event: &NewEvent<'_>) -> Result<()> {
        let attempt = event.attempt.map(i64::from);
        self.run(|s| {
            s.execute(
                "INSERT INTO events (task_id, step_id, attempt, at, kind, level, message, data)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &event.task_id,
                    &event.step_id,
                    &attempt,
                    &now(),
                    &event.kind.as_str(),
                    &event.level.map(LogLevel::as_str),
                    &event.message,
                    &event.data,
                ],
            )
            .map(|_| ())
        })
    }

    fn find_task(&self, id_or_prefix: &str) -> Result<TaskRow> {
        let sql = format!(
            "SELECT {} FROM tasks WHERE id = $1 OR starts_with(id, $1) ORDER BY id = $1 DESC LIMIT 2",
            TaskRow::COLUMNS
        );
        let found: Vec<TaskRow> = self.run(|s| all(&s.query(&sql, &[&id_or_prefix])?))?;
        match found.as_slice() {
            [] => Err(JournalError::TaskNotFound(id_or_prefix.to_owned())),
            [only] => Ok(only.clone()),
            [first, ..] if first.id == id_or_prefix => Ok(first.clone()),
            _ => {
                let count: i64 = self.run(|s| {
                    Ok(s.query_one(
                        "SELECT count(*) FROM tasks WHERE starts_with(id, $1)",
                        &[&id_or_prefix],
                    )?
                    .try_get(0)?)
                })?;
                Err(JournalError::AmbiguousTask {
                    prefix: id_or_prefix.to_owned(),
                    count: count as usize,
                })
            }
        }
    }

    fn recent_tasks(&self, limit: usize) -> Result<Vec<TaskRow>> {
        let sql = format!(
            "SELECT {} FROM tasks ORDER BY created_at DESC, id DESC LIMIT $1",
            TaskRow::COLUMNS
        );
        let limit = limit as i64;
        self.run(|s| all(&s.query(&sql, &[&limit])?))
    }

    fn steps(&self, task_id: &str) -> Result<Vec<StepRow>> {
        let sql = format!(
            "SELECT {} FROM steps WHERE task_id = $1 ORDER BY position",
            StepRow::COLUMNS
        );
        self.run(|s| all(&s.query(&sql, &[&task_id])?))
    }

    fn events(&self, task_id: &str, after: i64) -> Result<Vec<EventRow>> {
        let sql = format!(
            "SELECT {} FROM events WHERE task_id = $1 AND seq > $2 ORDER BY seq",
            EventRow::COLUMNS
        );
        self.run(|s| all(&s.query(&sql, &[&task_id, &after])?))
    }

    fn artifacts(&self, task_id: &str) -> Result<Vec<ArtifactRow>> {
        let sql = format!(
            "SELECT {} FROM artifacts a JOIN steps s USING (task_id, step_id)
             WHERE a.task_id = $1 ORDER BY s.position, a.attempt, a.name COLLATE \"C\"",
            ArtifactRow::COLUMNS
        );
        self.run(|s| all(&s.query(&sql, &[&task_id])?))
    }

    fn latest_product(&self, workspace: &str, path: &str) -> Result<Option<LatestProduct>> {
        self.run(|s| {
            Ok(
                match s.query_opt(
                    "SELECT a.task_id, a.blake3 FROM artifacts a
                     JOIN tasks t ON t.id = a.task_id
                     JOIN attempts x ON x.task_id = a.task_id AND x.step_id = a.step_id
                                    AND x.attempt = a.attempt
                     WHERE t.workspace = $1 AND a.name = $2 AND a.kind = 'file'
                       AND x.status = 'succeeded'
                     ORDER BY x.finished_at DESC, a.seq DESC LIMIT 1",
                    &[&workspace, &path],
                )? {
                    Some(row) => Some(LatestProduct {
                        task_id: row.try_get(0)?,
                        blake3: row.try_get(1)?,
                    }),
                    None => None,
                },
            )
        })
    }

    fn kv_get(&self, task_id: &str, key: &str) -> Result<Option<Vec<u8>>> {
        self.run(|s| {
            Ok(
                match s.query_opt(
                    "SELECT value FROM kv WHERE task_id = $1 AND key = $2",
                    &[&task_id, &key],
                )? {
                    Some(row) => Some(row.try_get(0)?),
                    None => None,
                },
            )
        })
    }

    fn kv_set(&self, task_id: &str, key: &str, value: &[u8]) -> Result<()> {
        self.run(|s| {
            s.execute(
                "INSERT INTO kv (task_id, key, value) VALUES ($1, $2, $3)
                 ON CONFLICT (task_id, key) DO UPDATE SET value = excluded.value",
                &[&task_id, &key, &value],
            )
            .map(|_| ())
        })
    }

    fn save_checkpoint(&self, task_id: &str, step_id: &str, state: &[u8]) -> Result<()> {
        self.run(|s| {
            s.execute(
                "INSERT INTO checkpoints (task_id, step_id, state, at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (task_id, step_id) DO UPDATE SET state = excluded.state, at = excluded.at",
                &[&task_id, &step_id, &state, &now()],
            )
            .map(|_| ())
        })
    }

    fn checkpoint(&self, task_id: &str, step_id: &str) -> Result<Option<Vec<u8>>> {
        self.run(|s| {
            Ok(
                match s.query_opt(
                    "SELECT state FROM checkpoints WHERE task_id = $1 AND step_id = $2",
                    &[&task_id, &step_id],
                )? {
                    Some(row) => Some(row.try_get(0)?),
                    None => None,
                },
            )
        })
    }

    fn submit_task(&self, task: &NewTask<'_>, queue: &QueueOptions<'_>) -> Result<Submitted> {
        self.durable(|s| queue::submit(s, task, queue))
    }

    fn claim(&self, owner: &str, ttl_ms: i64) -> Result<Option<Lease>> {
        self.transaction(|s| queue::claim(s, owner, ttl_ms))
    }

    fn heartbeat(&self, lease: &Lease, ttl_ms: i64) -> Result<bool> {
        self.run(|s| queue::heartbeat(s, lease, ttl_ms))
    }

    fn release(&self, lease: &Lease, why: &str) -> Result<bool> {
        self.transaction(|s| queue::release(s, lease, why))
    }

    fn cancel_queued(&self, task_id: &str) -> Result<bool> {
        self.durable(|s| queue::cancel_queued(s, task_id))
    }

    fn lane_busy(&self) -> Result<bool> {
        self.run(queue::lane_busy)
    }

    fn latest_progress(&self, task_id: &str) -> Result<Option<Progress>> {
        let progress = self.run(|s| queue::latest_progress(s, task_id))?;
        Ok(progress.map(|(message, data)| Progress { message, data }))
    }

    fn queue_wakeups(&self) -> Result<Option<QueueWakeups>> {
        Ok(Some(listen::queue_wakeups(&self.config, QUEUE_CHANNEL)))
    }

    fn add_schedule(&self, schedule: &ScheduleRow) -> Result<bool> {
        self.durable(|s| schedules::add(s, schedule))
    }

    fn schedules(&self) -> Result<Vec<ScheduleRow>> {
        self.run(schedules::all_schedules)
    }

    fn set_schedule_paused(&self, name: &str, paused: bool, now_ms: i64) -> Result<bool> {
        self.durable(|s| schedules::set_paused(s, name, paused, now_ms))
    }

    fn remove_schedule(&self, name: &str) -> Result<bool> {
        self.durable(|s| schedules::remove(s, name))
    }

    fn schedule_caveats(&self, name: &str, limit: usize) -> Result<Vec<ScheduleCaveat>> {
        self.run(|s| schedules::caveats(s, name, limit))
    }

    fn schedule_runs(&self, name: &str) -> Result<Vec<ScheduleRun>> {
        self.run(|s| schedules::runs(s, name))
    }

    fn fire_schedule(&self, firing: &Firing<'_>) -> Result<Option<Vec<String>>> {
        self.durable(|s| schedules::fire(s, firing))
    }

    fn finished_before(&self, cutoff: &str) -> Result<Vec<TaskRow>> {
        self.run(|s| prune::finished_before(s, cutoff))
    }

    fn delete_task(&self, task_id: &str) -> Result<()> {
        self.durable(|s| prune::delete_task(s, task_id))
    }
}

#[cfg(test)]
mod tests {
    use nightshift_journal::{Journal, JournalError};

    use super::Postgres;

    /// A URL to a schema of its own on the test server, or `None` (with a message) if there
    /// is no test server: `NIGHTSHIFT_TEST_POSTGRES` names one. Under CI (`CI` set) it is
    /// never skipped.
    fn postgres_scratch() -> Option<String> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let Some(base) = std::env::var("NIGHTSHIFT_TEST_POSTGRES")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs every test on PostgreSQL too: set NIGHTSHIFT_TEST_POSTGRES"
            );
            eprintln!(
                "skipped on PostgreSQL: set NIGHTSHIFT_TEST_POSTGRES=postgres://... to run it"
            );
            return None;
        };
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let schema = format!("unit_{}_{n}", std::process::id());
        let sep = if base.contains('?') { '&' } else { '?' };
        Some(format!("{base}{sep}options=-csearch_path%3D{schema}"))
    }

    fn fresh() -> Option<((), Journal)> {
        let url = postgres_scratch()?;
        let store = Postgres::connect(&url).expect("open PostgreSQL");
        Some(((), Journal::new(store)))
    }

    nightshift_journal::conformance_suite!(fresh);

    #[test]
    fn a_newer_postgres_schema_is_refused_and_left_alone() {
        let Some(url) = postgres_scratch() else {
            return;
        };
        let unmigrated = || Postgres::connect_unmigrated(&url).expect("connect");
        assert_eq!(unmigrated().migrate().expect("migrate"), (0, 1));
        assert_eq!(unmigrated().migrate().expect("again"), (1, 1));
        let journal = Postgres::connect(&url).expect("connect");
        journal
            .run_sql("INSERT INTO nightshift_schema (version) VALUES (99)")
            .expect("bump");
        let err = Postgres::connect(&url).expect_err("newer schema");
        assert!(
            matches!(
                err,
                JournalError::NewerSchema {
                    found: 99,
                    supported: 1
                }
            ),
            "{err}"
        );
        assert_eq!(journal.schema_version().expect("version"), (99, 1));
    }
}
