//! The task service: what every front door (the `nightshift` command, the MCP server, the
//! coming web server) does with tasks, in one place, so that they behave alike: find, submit,
//! cancel, status, logs, report, verify.
//!
//! Front doors translate their arguments onto these calls and their results into their own
//! output; none of them talks to the journal, the signing key or the runner for these
//! operations on its own. Queuing a task wakes idle workers by itself (the journal's store
//! does it), so no caller has to remember to.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::evidence::verify::{Verification, verify_task};
use crate::evidence::{Cas, KeyError, Signer};
use crate::journal::{
    EventRow, Journal, JournalError, QueueOptions, StepRow, Submitted, TaskRow, TaskStatus,
};
use crate::manifest::Plan;
use crate::report::{BuildError, Report};
use crate::runner::{RunError, Runner};
use crate::sandbox::{Sandbox, SandboxError};
use crate::state::StateDir;

/// Errors of the task service.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The journal refused or failed (an unknown or ambiguous task among others).
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The runner could not record or recover a task.
    #[error(transparent)]
    Run(#[from] RunError),
    /// A report could not be built or sealed.
    #[error(transparent)]
    Report(#[from] BuildError),
    /// The state directory's signing key is missing or unusable.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The sandbox (needed to settle a task) could not start.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
}

/// A task's status as people see it: the journal's, except that a task recorded as running
/// that no live process runs is `interrupted`. Computed here only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ShownStatus {
    /// Waiting in the background lane.
    Queued,
    /// A live process runs it.
    Running,
    /// Recorded as running, but its process is gone: `resume` (or the next worker) goes on.
    Interrupted,
    /// Every step succeeded.
    Succeeded,
    /// A step failed.
    Failed,
    /// Someone cancelled it.
    Cancelled,
}

impl ShownStatus {
    /// The status of `task`, given whether a live process runs it.
    pub fn of(task: &TaskRow, live: bool) -> ShownStatus {
        match task.status {
            TaskStatus::Queued => ShownStatus::Queued,
            TaskStatus::Running if live => ShownStatus::Running,
            TaskStatus::Running => ShownStatus::Interrupted,
            TaskStatus::Succeeded => ShownStatus::Succeeded,
            TaskStatus::Failed => ShownStatus::Failed,
            TaskStatus::Cancelled => ShownStatus::Cancelled,
        }
    }

    /// The word shown for it.
    pub fn as_str(self) -> &'static str {
        match self {
            ShownStatus::Queued => "queued",
            ShownStatus::Running => "running",
            ShownStatus::Interrupted => "interrupted",
            ShownStatus::Succeeded => "succeeded",
            ShownStatus::Failed => "failed",
            ShownStatus::Cancelled => "cancelled",
        }
    }

    /// Whether the task has ended (succeeded, failed or cancelled).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            ShownStatus::Succeeded | ShownStatus::Failed | ShownStatus::Cancelled
        )
    }
}

impl std::fmt::Display for ShownStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// How a cancellation went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// The task was still queued: it will never start.
    BeforeStart,
    /// The task stopped; its status now (cancelled, or another end it reached first).
    Stopped(TaskStatus),
    /// The task had already ended with this status: nothing to cancel.
    AlreadyEnded(TaskStatus),
    /// Cancellation is requested but the process running the task has not stopped it within
    /// the wait: a worker (for a background task) or its own process stops it at its next
    /// check.
    Requested {
        /// Whether the task belongs to the background lane.
        background: bool,
    },
}

/// One task with what its status shows beyond its row.
#[derive(Debug, Clone)]
pub struct TaskView {
    /// The task's row.
    pub task: TaskRow,
    /// Its status as shown.
    pub status: ShownStatus,
}

/// The task service over one state directory.
pub struct Tasks {
    state: StateDir,
    journal: Arc<Journal>,
    runner: OnceLock<Arc<Runner>>,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks")
            .field("state", &self.state.root())
            .field("runner", &self.runner.get().is_some())
            .finish_non_exhaustive()
    }
}

impl Tasks {
    /// The service over `state`, opening its journal. The runner (and its sandbox) start
    /// only when an operation needs one.
    pub fn open(state: StateDir) -> Result<Tasks, TaskError> {
        let journal = Arc::new(crate::journal::open(state.store())?);
        Ok(Tasks {
            state,
            journal,
            runner: OnceLock::new(),
        })
    }

    /// The service over a runner that already exists (a process that runs tasks too).
    pub fn with_runner(state: StateDir, runner: Arc<Runner>) -> Tasks {
        let journal = Arc::clone(runner.journal());
        let cell = OnceLock::from(runner);
        Tasks {
            state,
            journal,
            runner: cell,
        }
    }

    /// The state directory.
    pub fn state(&self) -> &StateDir {
        &self.state
    }

    /// The journal.
    pub fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    /// The runner, started on first use (loading or creating the signing key).
    pub fn runner(&self) -> Result<&Arc<Runner>, TaskError> {
        if let Some(runner) = self.runner.get() {
            return Ok(runner);
        }
        let sandbox = Arc::new(Sandbox::new(&self.state.compile_cache_dir())?);
        let runner = Runner::new(self.state.clone(), Arc::clone(&self.journal), sandbox)?;
        Ok(self.runner.get_or_init(|| Arc::new(runner)))
    }

    /// The task whose id is `id_or_prefix`, or the only one whose id starts with it.
    pub fn find(&self, id_or_prefix: &str) -> Result<TaskRow, TaskError> {
        Ok(self.journal.find_task(id_or_prefix)?)
    }

    /// The status shown for `task`.
    pub fn shown_status(&self, task: &TaskRow) -> ShownStatus {
        let live = task.status == TaskStatus::Running && self.state.task_is_live(task);
        ShownStatus::of(task, live)
    }

    /// One task with its shown status.
    pub fn view(&self, id_or_prefix: &str) -> Result<TaskView, TaskError> {
        let task = self.find(id_or_prefix)?;
        Ok(self.view_of(task))
    }

    /// The most recent tasks, newest first, with their shown status.
    pub fn recent(&self, limit: usize) -> Result<Vec<TaskView>, TaskError> {
        Ok(self
            .journal
            .recent_tasks(limit)?
            .into_iter()
            .map(|task| self.view_of(task))
            .collect())
    }

    fn view_of(&self, task: TaskRow) -> TaskView {
        TaskView {
            status: self.shown_status(&task),
            task,
        }
    }

    /// The steps of a task, in pipeline order.
    pub fn steps(&self, task_id: &str) -> Result<Vec<StepRow>, TaskError> {
        Ok(self.journal.steps(task_id)?)
    }

    /// The events of a task after the sequence number `after`, in order, with the task as it
    /// stood before they were read (so that a finished task's events are all included).
    pub fn events(
        &self,
        id_or_prefix: &str,
        after: i64,
    ) -> Result<(TaskView, Vec<EventRow>), TaskError> {
        let view = self.view(id_or_prefix)?;
        let events = self.journal.events(&view.task.id, after)?;
        Ok((view, events))
    }

    /// Queues `plan` for the background lane; idle workers wake at once.
    pub fn submit(&self, plan: &Plan, queue: &QueueOptions<'_>) -> Result<Submitted, TaskError> {
        Ok(self.runner()?.submit(plan, queue)?)
    }

    /// Cancels a task: a queued one never starts (and what an earlier worker left of it is
    /// settled, so its evidence is complete); a running one stops at its next check, and
    /// this waits up to `wait` for that; a foreground task whose process is gone is settled
    /// and ended here.
    pub async fn cancel(
        &self,
        id_or_prefix: &str,
        wait: Duration,
    ) -> Result<(TaskRow, Cancelled), TaskError> {
        let task = self.find(id_or_prefix)?;
        if task.status == TaskStatus::Queued && self.journal.cancel_queued(&task.id)? {
            // A task put back in the queue may have run before: complete its evidence.
            self.runner()?.settle_cancelled(&task.id).await?;
            return Ok((task, Cancelled::BeforeStart));
        }
        let task = self.find(&task.id)?;
        if task.status != TaskStatus::Running {
            let status = task.status;
            return Ok((task, Cancelled::AlreadyEnded(status)));
        }
        self.journal.request_cancel(&task.id)?;
        // A step this process runs stops at once; another process finds the request in the
        // journal at its next check.
        if let Some(runner) = self.runner.get()
            && runner.cancel_running(&task.id)
        {
            tracing::debug!(task = %task.id, "cancelled a step running in this process");
        }
        // A live process stops the task itself; only a stopped foreground task needs the
        // runner here, to record what its process left open.
        if !task.background
            && !self.state.task_is_live(&task)
            && self.runner()?.cancel_stopped(&task.id).await?
        {
            return Ok((task, Cancelled::Stopped(TaskStatus::Cancelled)));
        }
        let deadline = Instant::now() + wait;
        loop {
            let now = self.find(&task.id)?;
            if now.status != TaskStatus::Running {
                let status = now.status;
                return Ok((now, Cancelled::Stopped(status)));
            }
            if Instant::now() >= deadline {
                let background = now.background;
                return Ok((now, Cancelled::Requested { background }));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The report of a task, built from the journal alone (its evidence checked against the
    /// state directory's key when there is one).
    pub fn report(&self, id_or_prefix: &str) -> Result<(TaskRow, Report), TaskError> {
        let task = self.find(id_or_prefix)?;
        let key = Signer::load(&self.state.keys_dir())
            .ok()
            .map(|s| s.public_key());
        let cas = Cas::new(self.state.cas_dir());
        let live = self.state.task_is_live(&task);
        let report = crate::report::build(&self.journal, &cas, key.as_ref(), &task.id, live)?;
        Ok((task, report))
    }

    /// Builds the report of a task that ended and seals it: stores it in `cas/` and records
    /// its digest signed. Done once, where the task ends.
    pub fn seal_report(&self, task_id: &str) -> Result<Report, TaskError> {
        Ok(self.runner()?.seal_report(task_id)?)
    }

    /// Checks a task's evidence: every hash, signature, the chain, the stored artifacts and
    /// the workspace files.
    pub fn verify(&self, id_or_prefix: &str) -> Result<(Signer, Verification), TaskError> {
        let signer = Signer::load(&self.state.keys_dir())?;
        let cas = Cas::new(self.state.cas_dir());
        let verification = verify_task(&self.journal, &cas, &signer.public_key(), id_or_prefix)?;
        Ok((signer, verification))
    }
}
