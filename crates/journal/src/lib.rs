//! The journal: tasks, their steps, attempts, signed records, events (logs, progress,
//! notes), artifacts, key/value state, the background lane's queue and cron schedules.
//!
//! This crate is the storage interface, [`Store`], with the rows it reads and writes; the
//! backends implement it in crates of their own (`nightshift-journal-sqlite`, the default,
//! and `nightshift-journal-postgres`, shared by workers on many hosts), chosen at start-up by
//! [`StoreLocation`]. The runner, worker, scheduler and report code see only [`Journal`].
//! [`backend`] holds what the backends share; the `conformance` feature adds the suite every
//! backend must pass.
//!
//! Every method is one statement or one transaction: a step's commit (its record, artifacts
//! and end) is atomic on both backends, and every write of a leased task is fenced (see
//! [`Lease`]).

#![warn(missing_docs)]

#[cfg(feature = "conformance")]
pub mod conformance;
mod off_runtime;
mod queue;
mod rows;
mod schedules;
pub mod time_format;

use std::path::PathBuf;

pub use nightshift_plugin_abi::LogLevel;
pub use off_runtime::off_runtime;
pub use queue::{Lease, QueueOptions, Submitted};
pub use rows::{
    ArtifactKind, ArtifactRow, ChainHead, Commit, ComponentKind, DanglingAttempt, EventKind,
    EventRow, FileChange, LatestProduct, NewArtifact, NewEvent, NewStep, NewTask, PendingApply,
    Progress, RecordRow, ScheduleRun, SealedReport, StepResult, StepRow, StepStatus, TaskRow,
    TaskStatus,
};
pub use schedules::{Firing, Overlap, ScheduleCaveat, ScheduleRow};

/// The error of a backend's database client, kept with its type (the journal itself does not
/// depend on any client library).
pub type BackendError = Box<dyn std::error::Error + Send + std::marker::Sync + 'static>;

/// Errors of the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// SQLite refused an operation.
    #[cfg(feature = "sqlite")]
    #[error("journal: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The journal file could not be opened.
    #[cfg(feature = "sqlite")]
    #[error("cannot open journal {path}: {cause}")]
    Open {
        /// The journal file.
        path: PathBuf,
        /// The cause (shown in the message, so not a `source`).
        cause: rusqlite::Error,
    },
    /// PostgreSQL refused an operation.
    #[error("journal (PostgreSQL {server}): {cause}")]
    Postgres {
        /// The server, without credentials.
        server: String,
        /// The backend's error (shown in the message, so not a `source`).
        cause: BackendError,
    },
    /// The PostgreSQL server could not be reached or refused the login.
    #[error("cannot connect to PostgreSQL {server}: {cause}")]
    Connect {
        /// The server, without credentials.
        server: String,
        /// The backend's error (shown in the message, so not a `source`).
        cause: BackendError,
    },
    /// A PostgreSQL URL was given to a build without the PostgreSQL backend.
    #[error(
        "cannot connect to PostgreSQL {server}: this nightshift was built without PostgreSQL (cargo feature `postgres`)"
    )]
    PostgresNotBuilt {
        /// The server, without credentials.
        server: String,
    },
    /// The connection to PostgreSQL was lost and could not be made again in time.
    #[error(
        "lost the connection to PostgreSQL {server} and could not reconnect within {seconds} s: {cause}"
    )]
    Disconnected {
        /// The server, without credentials.
        server: String,
        /// How long reconnecting was tried.
        seconds: u64,
        /// The last error (shown in the message, so not a `source`).
        cause: BackendError,
    },
    /// A value read from the journal is not what this build writes.
    #[error("journal: {0}")]
    Corrupt(String),
    /// The journal was written by a newer Nightshift.
    #[error(
        "the journal has schema version {found}, newer than the {supported} this nightshift knows; upgrade nightshift"
    )]
    NewerSchema {
        /// The version found.
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

/// What the backends share, beside the [`Store`] interface: the queue's and the schedules'
/// decisions, so that both backends decide alike.
pub mod backend {
    pub use crate::queue::{CANCELLED_WHILE_QUEUED, claim_message, release_message};
    pub use crate::schedules::{decide, paused_caveat, serial_key, skipped_caveat};

    /// The tables holding a task's records, besides `tasks`, in an order that deletes them
    /// without breaking a reference.
    pub const TASK_TABLES: [&str; 9] = super::TASK_TABLES;
}

/// See [`backend::TASK_TABLES`].
const TASK_TABLES: [&str; 9] = [
    "events",
    "artifacts",
    "kv",
    "checkpoints",
    "pending_applies",
    "attempts",
    "records",
    "reports",
    "steps",
];

/// Shorthand for journal results.
pub type Result<T, E = JournalError> = std::result::Result<T, E>;

/// Where the journal lives: what `--state` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// An SQLite file (`<state>/journal.db`).
    Sqlite(PathBuf),
    /// A PostgreSQL database, by connection URL (`postgres://...`).
    Postgres(String),
}

impl StoreLocation {
    /// True for the URLs that select PostgreSQL: `postgres://` and `postgresql://`.
    pub fn is_postgres_url(text: &str) -> bool {
        text.starts_with("postgres://") || text.starts_with("postgresql://")
    }
}

/// Wakes idle workers when a task is queued, from the store itself: `LISTEN`/`NOTIFY` on
/// PostgreSQL, wake sockets beside the file on SQLite. The store stops listening once this
/// is dropped.
#[derive(Debug, Clone)]
pub struct QueueWakeups {
    notified: std::sync::Arc<tokio::sync::Notify>,
}

impl QueueWakeups {
    /// Wakeups signalled on `notified`.
    pub fn new(notified: std::sync::Arc<tokio::sync::Notify>) -> Self {
        QueueWakeups { notified }
    }

    /// Waits for the next wakeup.
    pub async fn woken(&self) {
        self.notified.notified().await;
    }
}

/// The storage interface: what the runner, the worker, the scheduler and the report need
/// from the journal. Each method is one statement or one transaction.
pub trait Store: std::fmt::Debug + Send + std::marker::Sync {
    /// Where the journal is, for messages (never with credentials).
    fn location(&self) -> String;

    /// Records a new task, running from now, with all its steps pending.
    fn create_task(&self, task: &NewTask<'_>) -> Result<()>;

    /// Marks the start of attempt `attempt` of a step (refused if `fence` is not current).
    fn start_attempt(
        &self,
        task_id: &str,
        step_id: &str,
        attempt: u32,
        fence: Option<&Lease>,
    ) -> Result<()>;

    /// Commits how an attempt ended: its status, artifacts, signed record (made by `sign`
    /// from the chain head it extends) and, if its changes are still to be applied, a
    /// pending apply; all in one transaction. `None` (and nothing written) when `sign`
    /// returned `None`. See [`Journal::commit_attempt`].
    fn commit_attempt(
        &self,
        commit: &Commit<'_>,
        sign: &mut dyn FnMut(&ChainHead) -> Option<RecordRow>,
    ) -> Result<Option<RecordRow>>;

    /// The committed attempts whose changes are not applied to their workspace yet.
    fn pending_applies(&self) -> Result<Vec<PendingApply>>;

    /// Marks the changes of a step as applied to the workspace.
    fn mark_applied(&self, task_id: &str, step_id: &str) -> Result<()>;

    /// The signed records of a task, in chain order.
    fn records(&self, task_id: &str) -> Result<Vec<RecordRow>>;

    /// The id of a key that signed any record in this journal, if there is one.
    fn any_signing_key(&self) -> Result<Option<String>>;

    /// The artifacts of one attempt.
    fn attempt_artifacts(
        &self,
        task_id: &str,
        step_id: &str,
        attempt: u32,
    ) -> Result<Vec<ArtifactRow>>;

    /// The texts of the notes an attempt left, in order.
    fn notes(&self, task_id: &str, step_id: &str, attempt: u32) -> Result<Vec<String>>;

    /// Attempts that started but never ended (their process stopped), oldest first.
    fn dangling_attempts(&self, task_id: &str) -> Result<Vec<DanglingAttempt>>;

    /// Asks the process running the task to stop it.
    fn request_cancel(&self, task_id: &str) -> Result<()>;

    /// Whether someone asked to cancel the task.
    fn cancel_requested(&self, task_id: &str) -> Result<bool>;

    /// Stores the signed digest of a task's report (its content is in `cas/`).
    fn save_report(&self, task_id: &str, blake3: &str, signature: &str, key_id: &str)
    -> Result<()>;

    /// The stored report of a task.
    fn report(&self, task_id: &str) -> Result<Option<SealedReport>>;

    /// Marks the task running again (when resumed), clearing its end.
    fn reopen_task(&self, task_id: &str) -> Result<()>;

    /// Ends a task with `status`, marking its steps that never ran as skipped and releasing
    /// its lease; refused if `fence` is not current.
    fn finish_task(&self, task_id: &str, status: TaskStatus, fence: Option<&Lease>) -> Result<()>;

    /// Appends an event to the task's log.
    fn append_event(&self, event: &NewEvent<'_>) -> Result<()>;

    /// The task whose id is `id_or_prefix`, or the only one whose id starts with it.
    fn find_task(&self, id_or_prefix: &str) -> Result<TaskRow>;

    /// The most recent tasks, newest first.
    fn recent_tasks(&self, limit: usize) -> Result<Vec<TaskRow>>;

    /// The steps of a task, in pipeline order.
    fn steps(&self, task_id: &str) -> Result<Vec<StepRow>>;

    /// The events of a task with a sequence number above `after`, in order.
    fn events(&self, task_id: &str, after: i64) -> Result<Vec<EventRow>>;

    /// The artifacts of a task, in step order.
    fn artifacts(&self, task_id: &str) -> Result<Vec<ArtifactRow>>;

    /// The task that last committed a change to `path` in `workspace`, and the digest it
    /// left (none for a deletion).
    fn latest_product(&self, workspace: &str, path: &str) -> Result<Option<LatestProduct>>;

    /// Reads a value of the task's key/value state.
    fn kv_get(&self, task_id: &str, key: &str) -> Result<Option<Vec<u8>>>;

    /// Writes a value of the task's key/value state.
    fn kv_set(&self, task_id: &str, key: &str, value: &[u8]) -> Result<()>;

    /// Saves the latest checkpoint of a step, replacing the previous one.
    fn save_checkpoint(&self, task_id: &str, step_id: &str, state: &[u8]) -> Result<()>;

    /// The latest checkpoint of a step, if any.
    fn checkpoint(&self, task_id: &str, step_id: &str) -> Result<Option<Vec<u8>>>;

    /// Queues a task for the background lane; with an idempotency key already used,
    /// returns the task that key queued instead.
    fn submit_task(&self, task: &NewTask<'_>, queue: &QueueOptions<'_>) -> Result<Submitted>;

    /// Claims the next task for `owner` for `ttl_ms`: first a running task whose lease
    /// expired (its worker died), else the queued task that is due, highest priority
    /// first, oldest first. `None` when there is nothing to claim.
    fn claim(&self, owner: &str, ttl_ms: i64) -> Result<Option<Lease>>;

    /// Extends a lease by `ttl_ms` from now. `false` if the lease is no longer current.
    fn heartbeat(&self, lease: &Lease, ttl_ms: i64) -> Result<bool>;

    /// Puts a task whose worker is shutting down back in the queue, to be resumed by the
    /// next claim. `false` if the lease was no longer current.
    fn release(&self, lease: &Lease, why: &str) -> Result<bool>;

    /// Cancels a task that is still queued, so it never starts. `false` if it is not
    /// queued.
    fn cancel_queued(&self, task_id: &str) -> Result<bool>;

    /// Whether the background lane has work: a queued task due now, or a leased task
    /// running (or waiting to be reclaimed).
    fn lane_busy(&self) -> Result<bool>;

    /// The latest progress a task's plugin reported.
    fn latest_progress(&self, task_id: &str) -> Result<Option<Progress>>;

    /// Wakeups the store delivers when a task is queued (submitted, released by a worker
    /// shutting down, or fired by a schedule); `None` where it cannot, and the worker then
    /// finds new tasks by polling alone. Callers that queue tasks never wake workers
    /// themselves.
    fn queue_wakeups(&self) -> Result<Option<QueueWakeups>>;

    /// Adds a schedule; `false` if one with that name exists.
    fn add_schedule(&self, schedule: &ScheduleRow) -> Result<bool>;

    /// Every schedule, by name.
    fn schedules(&self) -> Result<Vec<ScheduleRow>>;

    /// Pauses or resumes a schedule; `false` if there is none by that name. Resuming
    /// skips the runs due while paused (from `now_ms` on it fires again).
    fn set_schedule_paused(&self, name: &str, paused: bool, now_ms: i64) -> Result<bool>;

    /// Removes a schedule (its tasks stay); `false` if there is none by that name.
    fn remove_schedule(&self, name: &str) -> Result<bool>;

    /// The latest caveats of a schedule, newest first.
    fn schedule_caveats(&self, name: &str, limit: usize) -> Result<Vec<ScheduleCaveat>>;

    /// The due instants a schedule fired, oldest first, with the task each queued.
    fn schedule_runs(&self, name: &str) -> Result<Vec<ScheduleRun>>;

    /// Fires a schedule: queues its due runs as the overlap rule allows and records every
    /// due instant and caveat, in one transaction. Returns the tasks queued, or `None` if
    /// another worker fired these runs first.
    fn fire_schedule(&self, firing: &Firing<'_>) -> Result<Option<Vec<String>>>;

    /// Finished tasks (succeeded, failed or cancelled) that ended before `cutoff` (a
    /// journal timestamp), oldest first.
    fn finished_before(&self, cutoff: &str) -> Result<Vec<TaskRow>>;

    /// Deletes a finished task and everything recorded about it, in one transaction. Its
    /// artifacts stay in `cas/` (other tasks may share them).
    fn delete_task(&self, task_id: &str) -> Result<()>;
}

/// An open journal, on whichever backend [`StoreLocation`] chose.
#[derive(Debug)]
pub struct Journal {
    store: Box<dyn Store>,
}

impl std::ops::Deref for Journal {
    type Target = dyn Store;
    fn deref(&self) -> &(dyn Store + 'static) {
        &*self.store
    }
}

impl Journal {
    /// A journal on `store`. Its calls never stall a runtime thread: one made on a worker
    /// thread of a multi-thread tokio runtime runs through `block_in_place`.
    pub fn new<S: Store + 'static>(store: S) -> Self {
        Journal {
            store: Box::new(off_runtime::OffRuntime(store)),
        }
    }

    /// Commits how an attempt ended (see [`Store::commit_attempt`]). `sign` makes the
    /// record from the chain head; it may be called again if the store retries the
    /// transaction after a lost connection. If it fails, nothing is written and its error
    /// is returned inside.
    pub fn commit_attempt<E>(
        &self,
        commit: &Commit<'_>,
        mut sign: impl FnMut(&ChainHead) -> Result<RecordRow, E>,
    ) -> Result<Result<RecordRow, E>> {
        let mut refusal = None;
        let committed = self
            .store
            .commit_attempt(commit, &mut |head| match sign(head) {
                Ok(record) => Some(record),
                Err(e) => {
                    refusal = Some(e);
                    None
                }
            })?;
        Ok(match (committed, refusal) {
            (Some(record), _) => Ok(record),
            (None, Some(e)) => Err(e),
            (None, None) => {
                return Err(JournalError::Corrupt(format!(
                    "the store committed no record for task {} step {} and gave no reason",
                    commit.task_id, commit.step_id
                )));
            }
        })
    }
}
