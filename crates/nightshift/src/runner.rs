//! Drives one task: its steps in order, each in a fresh sandbox, each attempt a transaction.
//!
//! The commit protocol of an attempt: the guest writes into staging copies of its write
//! grants; when it ends, the host compares staging with the workspace, stores every new file
//! in `cas/`, then commits the attempt's end, its artifacts, its signed record and (when it
//! succeeded with changes) a pending apply in one SQLite transaction; only then are the
//! changes applied to the workspace, and the pending apply cleared. Killed anywhere, a task
//! resumes from what the journal says really happened: a step without a committed success
//! runs again from its last checkpoint, a committed but unapplied step is applied again.

mod apply;
mod host_calls;
mod retry;
mod staging;
mod workspace;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

pub use apply::ApplyError;
pub use workspace::WorkspaceError;

use crate::evidence::record::{
    AttemptFacts, ClockMode, ComponentRef, Material, Product, RecordBody, RecordClocks,
    RecordGrants, digest_json,
};
use crate::evidence::{Cas, CasError, KeyError, Signer};
use crate::failpoint;
use crate::journal::{
    ArtifactKind, ChainHead, Commit, EventKind, Journal, JournalError, Lease, LogLevel,
    NewArtifact, NewEvent, NewStep, NewTask, QueueOptions, StepResult, StepStatus, Submitted,
    TaskStatus, off_runtime,
};
use crate::manifest::{Plan, StepKind, StepPlan};
use crate::sandbox::{
    CancelToken, Captured, Grants, OpenedDirs, Prepared, PriorOutput, Sandbox, SandboxError,
    StepContext, StepError, StepInput,
};
use crate::state::{StateDir, StateError, WorkspaceLock};
use host_calls::JournalHost;
use staging::{StagedChange, Staging};
use workspace::Workspace;

/// A step conflicting with other tasks' changes this often in a row fails with a conflict.
const MAX_CONFLICTS: u32 = 5;

/// Errors that stop a task from being run or recorded (a failing step is not one: it is
/// recorded, and the task ends `failed`).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The journal refused a write.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// An artifact could not be stored.
    #[error(transparent)]
    Cas(#[from] CasError),
    /// The signing key is unusable.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The state directory refused a lock.
    #[error(transparent)]
    State(#[from] StateError),
    /// Committed changes could not be applied to the workspace.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// The workspace could not be opened.
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    /// A record could not be encoded.
    #[error("cannot encode a step record: {0}")]
    Record(#[from] serde_json::Error),
    /// Another process runs the task.
    #[error("task {0} is being run by another nightshift process")]
    Busy(String),
    /// The task belongs to the background lane: workers resume it, not `resume`.
    #[error(
        "task {0} runs in the background lane; a worker resumes it (start one with `nightshift worker`)"
    )]
    Background(String),
    /// The pipeline no longer matches what the task started with.
    #[error(
        "task {task}: step `{step}` now runs component {found}, but the task started with {expected}; resume needs the same components"
    )]
    ComponentChanged {
        /// The task.
        task: String,
        /// The step.
        step: String,
        /// The digest the task started with.
        expected: String,
        /// The digest found now.
        found: String,
    },
}

/// Why a step's directories could not be opened; the attempt fails with it.
#[derive(Debug, thiserror::Error)]
enum OpenDirsError {
    /// A grant cannot be opened beneath the workspace.
    #[error(transparent)]
    Grant(#[from] workspace::GrantRefused),
    /// The state directory's `staging/` cannot be opened.
    #[error(transparent)]
    State(#[from] StateError),
    /// The write grants cannot be staged (shown in the message, so not a `source`).
    #[error("cannot stage the write grants: {0}")]
    Stage(crate::beneath::BeneathError),
    /// The staged copies cannot be opened for the guest.
    #[error("cannot stage the write grants: {0}")]
    OpenStaged(std::io::Error),
}

/// Errors reading back the pipeline a task was started with.
#[derive(Debug, thiserror::Error)]
pub enum StoredPlanError {
    /// The task was recorded without its pipeline text.
    #[error("task {0} has no stored pipeline to run from")]
    Missing(String),
    /// The stored parameters are not a JSON object of strings.
    #[error("task {task}: stored params: {cause}")]
    Params {
        /// The task.
        task: String,
        /// The cause (shown in the message, so not a `source`).
        cause: serde_json::Error,
    },
    /// The stored pipeline no longer checks (a plugin was removed, a grant now escapes...);
    /// the cause is shown in the message, so it is not a `source`.
    #[error("the pipeline no longer loads: {0}")]
    Manifest(crate::manifest::ManifestError),
}

/// The plan of a recorded task: its stored pipeline text and params, checked again now.
pub fn stored_plan(
    state: &StateDir,
    task: &crate::journal::TaskRow,
) -> Result<Plan, StoredPlanError> {
    let text = task
        .pipeline_text
        .clone()
        .ok_or_else(|| StoredPlanError::Missing(task.id.clone()))?;
    let params: std::collections::BTreeMap<String, String> = serde_json::from_str(&task.params)
        .map_err(|cause| StoredPlanError::Params {
            task: task.id.clone(),
            cause,
        })?;
    let params: Vec<_> = params.into_iter().collect();
    let catalog = crate::catalog::Catalog::new(state.plugins_dir());
    let options = crate::manifest::LoadOptions {
        workspace: Path::new(&task.workspace),
        state_dir: state.root(),
        params: &params,
        catalog: &catalog,
    };
    Plan::parse(Path::new(&task.pipeline_path), text.into_bytes(), &options)
        .map_err(StoredPlanError::Manifest)
}

/// Watches a task run, e.g. to draw progress on a terminal.
pub trait Observer: Send + Sync {
    /// Step `index` (from 0) of `total` starts.
    fn step_started(&self, index: usize, total: usize, step_id: &str);
    /// A step reports progress.
    fn progress(&self, step_id: &str, done: u64, total: u64, message: &str);
    /// A step ended.
    fn step_finished(&self, step_id: &str, status: StepStatus, duration_ms: u64, detail: &str);
}

/// An observer that watches nothing.
#[derive(Debug, Default)]
pub struct Silent;

impl Observer for Silent {
    fn step_started(&self, _: usize, _: usize, _: &str) {}
    fn progress(&self, _: &str, _: u64, _: u64, _: &str) {}
    fn step_finished(&self, _: &str, _: StepStatus, _: u64, _: &str) {}
}

/// How a task ended.
#[derive(Debug, Clone)]
pub struct TaskOutcome {
    /// The task id.
    pub task_id: String,
    /// Its final status.
    pub status: TaskStatus,
    /// True when `resume` found the task already finished and did nothing.
    pub already_finished: bool,
}

/// How a worker steers a task it runs.
#[derive(Debug, Clone, Default)]
pub struct Control {
    /// Set at shutdown: the running step finishes, no other starts.
    stop: Arc<AtomicBool>,
    /// Cancelled when the worker loses its lease: the running step stops now.
    pub lost: CancelToken,
}

impl Control {
    /// Asks the task to stop after its running step.
    pub fn stop_after_step(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// The task a drive works on, and what fences and steers its writes.
struct Guard<'a> {
    task_id: &'a str,
    fence: Option<&'a Lease>,
    control: &'a Control,
}

/// The journal fields of new tasks of one plan.
#[derive(Debug)]
pub struct TaskFields<'a> {
    plan: &'a Plan,
    params: String,
    source: String,
    workspace: String,
}

impl TaskFields<'_> {
    /// The task `id` of this plan, ready to be recorded.
    pub fn task<'s>(&'s self, id: &'s str) -> NewTask<'s> {
        NewTask {
            id,
            pipeline: &self.plan.name,
            pipeline_path: &self.source,
            pipeline_digest: &self.plan.digest,
            workspace: &self.workspace,
            params: &self.params,
            pipeline_text: &self.plan.text,
            steps: self
                .plan
                .steps
                .iter()
                .map(|s| NewStep {
                    step_id: &s.id,
                    kind: s.kind.component_kind(),
                    plugin: &s.kind.component().reference,
                    plugin_digest: &s.kind.component().digest,
                    is_check: s.check,
                })
                .collect(),
        }
    }
}

/// The journal fields of new tasks of `plan`.
pub fn task_fields(plan: &Plan) -> Result<TaskFields<'_>, serde_json::Error> {
    Ok(TaskFields {
        plan,
        params: serde_json::to_string(&plan.params)?,
        source: plan.source.display().to_string(),
        workspace: plan.workspace.display().to_string(),
    })
}

/// A fresh task id: a UUIDv7, so ids sort by creation.
fn new_task_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Runs tasks against one state directory: journal, artifact store, signing key, sandbox.
pub struct Runner {
    journal: Arc<Journal>,
    sandbox: Arc<Sandbox>,
    cas: Cas,
    signer: Signer,
    state: StateDir,
    /// The cancel token of the step each task of this process is running, so that a
    /// cancellation made in this process reaches it at once (other processes' cancellations
    /// arrive through the journal).
    running: Arc<std::sync::Mutex<HashMap<String, CancelToken>>>,
}

/// Watching one running step for cancellation; dropping it stops watching.
struct CancelWatch {
    poll: tokio::task::JoinHandle<()>,
    running: Arc<std::sync::Mutex<HashMap<String, CancelToken>>>,
    task_id: String,
}

impl Drop for CancelWatch {
    fn drop(&mut self) {
        self.poll.abort();
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.task_id);
    }
}

/// What one attempt produced, before it is committed.
struct Attempt {
    result: StepResult,
    artifacts: Vec<NewArtifact>,
    prior: Option<PriorOutput>,
    products: Vec<Product>,
    materials: Vec<Material>,
    staging: Option<Staging>,
    /// What the step changed in its write grants, with the digests it started from.
    changes: Vec<StagedChange>,
    /// How it ended, agreeing with `result.status`.
    end: AttemptEnd,
}

/// How an attempt ended; what the task does next depends on it alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttemptEnd {
    /// It succeeded: its changes are committed and applied.
    Succeeded,
    /// It failed; a retryable failure is tried again while the step's retries last.
    Failed {
        /// The plugin said so, or it timed out and the step retries timeouts.
        retryable: bool,
    },
    /// Someone cancelled the task (or its worker lost the lease) while it ran.
    Cancelled,
    /// A file it changed changed in the workspace meanwhile: it runs again on the new state.
    Conflict,
}

impl AttemptEnd {
    /// How a plugin attempt whose result has `status` ended, from what the sandbox returned.
    fn of_plugin<T>(
        outcome: &Result<Result<T, StepError>, SandboxError>,
        policy: &crate::manifest::RetryPolicy,
        status: StepStatus,
    ) -> AttemptEnd {
        match outcome {
            _ if status == StepStatus::Succeeded => AttemptEnd::Succeeded,
            Err(SandboxError::Cancelled) => AttemptEnd::Cancelled,
            Ok(Err(StepError::Retryable(_))) => AttemptEnd::Failed { retryable: true },
            Err(SandboxError::Timeout { .. }) => AttemptEnd::Failed {
                retryable: policy.on_timeout,
            },
            _ => AttemptEnd::Failed { retryable: false },
        }
    }

    /// How a command attempt whose result has `status` ended: only a timeout may be retried.
    fn of_command<T>(
        outcome: &Result<T, SandboxError>,
        policy: &crate::manifest::RetryPolicy,
        status: StepStatus,
    ) -> AttemptEnd {
        match outcome {
            _ if status == StepStatus::Succeeded => AttemptEnd::Succeeded,
            Err(SandboxError::Cancelled) => AttemptEnd::Cancelled,
            Err(SandboxError::Timeout { .. }) => AttemptEnd::Failed {
                retryable: policy.on_timeout,
            },
            _ => AttemptEnd::Failed { retryable: false },
        }
    }
}

impl Attempt {
    /// Turns a successful attempt into a failed one: its changes cannot be applied safely.
    fn refuse(&mut self, error: String) {
        self.result.status = StepStatus::Failed;
        self.result.error = Some(error);
        self.products.clear();
        self.artifacts.retain(|a| a.kind != ArtifactKind::File);
        self.prior = None;
        self.end = AttemptEnd::Failed { retryable: false };
    }

    /// Turns a successful attempt into a failed one: `path` changed in the workspace since
    /// the step started.
    fn conflict_on(&mut self, path: &str) {
        self.result.status = StepStatus::Failed;
        self.result.error = Some(format!(
            "conflict: `{path}` changed in the workspace since the step started (another task committed it); nothing was applied"
        ));
        self.products.clear();
        self.artifacts.retain(|a| a.kind != ArtifactKind::File);
        self.prior = None;
        self.end = AttemptEnd::Conflict;
    }
}

/// The first change whose workspace file is no longer what the step started from; an error
/// naming the change's grant when the way to the file is no longer a plain directory (a
/// symlink was planted on it).
fn first_conflict(
    changes: &[StagedChange],
    workspace: &Workspace,
) -> Result<Option<String>, String> {
    for change in changes {
        match change.still_current(&workspace.dir) {
            Ok(true) => {}
            Ok(false) => return Ok(Some(change.path.clone())),
            Err(e) => {
                return Err(format!(
                    "write grant `{}` refused: {e}; nothing was applied",
                    change.grant
                ));
            }
        }
    }
    Ok(None)
}

/// How a step ended, for the task to decide what comes next.
struct StepEnd {
    end: AttemptEnd,
    duration_ms: u64,
    detail: String,
}

impl Runner {
    /// A runner over `state`, loading (or on first use creating) its signing key.
    pub fn new(
        state: StateDir,
        journal: Arc<Journal>,
        sandbox: Arc<Sandbox>,
    ) -> Result<Self, RunError> {
        let signer =
            Signer::load_or_create(&state.keys_dir(), journal.any_signing_key()?.as_deref())?;
        Ok(Runner {
            cas: Cas::new(state.cas_dir()),
            journal,
            sandbox,
            signer,
            state,
            running: Arc::default(),
        })
    }

    /// Builds the report of a task from the journal, checks its evidence, and seals it:
    /// stores it in `cas/` and records its digest signed.
    pub fn seal_report(
        &self,
        task_id: &str,
    ) -> Result<crate::report::Report, crate::report::BuildError> {
        let report = crate::report::build(
            &self.journal,
            &self.cas,
            Some(&self.signer.public_key()),
            task_id,
            false,
        )?;
        crate::report::seal(&self.journal, &self.cas, &self.signer, &report)?;
        Ok(report)
    }

    /// The journal this runner records into.
    pub fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    /// Records a new task for `plan` and runs it to the end, in the foreground.
    pub async fn run(
        &self,
        plan: &Plan,
        observer: Arc<dyn Observer>,
    ) -> Result<TaskOutcome, RunError> {
        let task_id = new_task_id();
        let lock = self
            .state
            .lock_task(&task_id)?
            .ok_or_else(|| RunError::Busy(task_id.clone()))?;
        self.journal
            .create_task(&task_fields(plan)?.task(&task_id))?;
        tracing::info!(task = %task_id, pipeline = %plan.name, "task started");
        let guard = Guard {
            task_id: &task_id,
            fence: None,
            control: &Control::default(),
        };
        let outcome = self.drive(&guard, plan, observer).await;
        drop(lock);
        outcome
    }

    /// Queues a new task for `plan` in the background lane; with an idempotency key used
    /// before, returns the task queued then.
    pub fn submit(&self, plan: &Plan, queue: &QueueOptions<'_>) -> Result<Submitted, RunError> {
        let task_id = new_task_id();
        Ok(self
            .journal
            .submit_task(&task_fields(plan)?.task(&task_id), queue)?)
    }

    /// Continues an interrupted foreground task from the first step without a committed
    /// success, after finishing what its last process left half done.
    pub async fn resume(
        &self,
        task_id: &str,
        plan: &Plan,
        observer: Arc<dyn Observer>,
    ) -> Result<TaskOutcome, RunError> {
        let task = self.journal.find_task(task_id)?;
        let lock = self
            .state
            .lock_task(&task.id)?
            .ok_or_else(|| RunError::Busy(task.id.clone()))?;
        if task.status != TaskStatus::Running {
            return Ok(TaskOutcome {
                task_id: task.id,
                status: task.status,
                already_finished: true,
            });
        }
        if task.background {
            return Err(RunError::Background(task.id));
        }
        self.check_components(&task.id, plan)?;
        let guard = Guard {
            task_id: &task.id,
            fence: None,
            control: &Control::default(),
        };
        self.recover(&guard, &plan.workspace).await?;
        self.journal.reopen_task(&task.id)?;
        tracing::info!(task = %task.id, "task resumed");
        let outcome = self.drive(&guard, plan, observer).await;
        drop(lock);
        outcome
    }

    /// Runs (or, after its last worker died or released it, resumes) a task claimed from the
    /// background lane under `lease`. Every write is fenced by the lease: once another worker
    /// claims the task, this one's writes are refused ([`RunError::Journal`] with
    /// [`JournalError::LeaseLost`]).
    pub async fn run_leased(
        &self,
        lease: &Lease,
        plan: &Plan,
        observer: Arc<dyn Observer>,
        control: &Control,
    ) -> Result<TaskOutcome, RunError> {
        self.check_components(&lease.task_id, plan)?;
        let guard = Guard {
            task_id: &lease.task_id,
            fence: Some(lease),
            control,
        };
        self.recover(&guard, &plan.workspace).await?;
        self.drive(&guard, plan, observer).await
    }

    /// Ends a leased task whose pipeline can no longer be loaded, recording why.
    pub fn fail_leased(&self, lease: &Lease, error: &str) -> Result<(), RunError> {
        self.journal.append_event(&NewEvent {
            task_id: &lease.task_id,
            step_id: None,
            attempt: None,
            kind: EventKind::Error,
            level: Some(LogLevel::Error),
            message: error,
            data: None,
        })?;
        self.journal
            .finish_task(&lease.task_id, TaskStatus::Failed, Some(lease))?;
        Ok(())
    }

    /// Refuses to continue a task whose steps now run other components than it started with.
    fn check_components(&self, task_id: &str, plan: &Plan) -> Result<(), RunError> {
        for row in self.journal.steps(task_id)? {
            if let Some(step) = plan.steps.iter().find(|s| s.id == row.step_id)
                && step.kind.component().digest != row.plugin_digest
            {
                return Err(RunError::ComponentChanged {
                    task: task_id.to_owned(),
                    step: row.step_id,
                    expected: row.plugin_digest,
                    found: step.kind.component().digest.clone(),
                });
            }
        }
        Ok(())
    }

    /// Cancels a foreground task that no process runs: applies what its last process
    /// committed, records its open attempts as interrupted, and ends it cancelled. `false` if
    /// a process runs it (that process stops it at its next check).
    pub async fn cancel_stopped(&self, task_id: &str) -> Result<bool, RunError> {
        let Some(_lock) = self.state.lock_task(task_id)? else {
            return Ok(false);
        };
        let task = self.journal.find_task(task_id)?;
        let guard = Guard {
            task_id,
            fence: None,
            control: &Control::default(),
        };
        self.recover(&guard, Path::new(&task.workspace)).await?;
        self.journal
            .finish_task(task_id, TaskStatus::Cancelled, None)?;
        Ok(true)
    }

    /// Settles a background task cancelled while queued: applies what an earlier worker
    /// committed but did not apply, and records the attempts it left open as interrupted, so
    /// its evidence is complete.
    pub async fn settle_cancelled(&self, task_id: &str) -> Result<(), RunError> {
        let task = self.journal.find_task(task_id)?;
        let guard = Guard {
            task_id: &task.id,
            fence: None,
            control: &Control::default(),
        };
        self.recover(&guard, Path::new(&task.workspace)).await
    }

    /// Applies committed changes left unapplied, and records attempts whose process stopped.
    async fn recover(&self, guard: &Guard<'_>, workspace: &Path) -> Result<(), RunError> {
        let task_id = guard.task_id;
        if self
            .journal
            .pending_applies()?
            .iter()
            .any(|p| p.task_id == task_id)
        {
            let _lock = self.lock_workspace(workspace).await?;
            self.settle_workspace(&Workspace::open(workspace)?)?;
        }
        let steps = self.journal.steps(task_id)?;
        for crate::journal::DanglingAttempt {
            step_id,
            attempt,
            started_at,
        } in self.journal.dangling_attempts(task_id)?
        {
            let result = StepResult {
                status: StepStatus::Interrupted,
                summary: None,
                data: None,
                checks: None,
                caveats: None,
                error: Some(
                    "interrupted: the process running this attempt stopped before it ended".into(),
                ),
                duration_ms: 0,
            };
            let Some(row) = steps.iter().find(|s| s.step_id == step_id) else {
                return Err(JournalError::Corrupt(format!(
                    "task {task_id}: attempt {attempt} of step `{step_id}` has no step"
                ))
                .into());
            };
            let body = RecordBody::of_attempt(AttemptFacts {
                task: task_id,
                step: &step_id,
                attempt,
                kind: row.kind,
                plugin: ComponentRef {
                    name: Some(row.plugin.clone()),
                    digest: Some(row.plugin_digest.clone()),
                },
                params_digest: String::new(),
                grants: None,
                started_at,
                result: &result,
                materials: Vec::new(),
                products: Vec::new(),
                notes: Vec::new(),
            });
            let body = |head: &ChainHead| body.clone().seal(head, &self.signer);
            let commit = Commit {
                task_id,
                step_id: &step_id,
                attempt,
                result: &result,
                artifacts: &[],
                apply_pending: false,
                fence: guard.fence,
            };
            self.journal.commit_attempt(&commit, body)??;
        }
        Ok(())
    }

    /// Waits for the lock under which changes are committed to and applied in `workspace`.
    async fn lock_workspace(&self, workspace: &Path) -> Result<WorkspaceLock, RunError> {
        loop {
            if let Some(lock) = self.state.try_lock_workspace(workspace)? {
                return Ok(lock);
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    /// Applies every change committed to `workspace` but left unapplied (its process died
    /// between commit and apply), by any task. Called with the workspace lock held, so that
    /// no later commit is checked against, or applied over, a stale file.
    fn settle_workspace(&self, workspace: &Workspace) -> Result<(), RunError> {
        let here = workspace.path.display().to_string();
        for pending in self
            .journal
            .pending_applies()?
            .into_iter()
            .filter(|p| p.workspace == here)
        {
            let artifacts = self.journal.attempt_artifacts(
                &pending.task_id,
                &pending.step_id,
                pending.attempt,
            )?;
            apply::apply(&self.cas, &workspace.dir, &artifacts)?;
            self.journal
                .mark_applied(&pending.task_id, &pending.step_id)?;
            self.event(
                &pending.task_id,
                &pending.step_id,
                pending.attempt,
                EventKind::Recovery,
                "applied committed changes left unapplied",
            )?;
        }
        Ok(())
    }

    async fn drive(
        &self,
        guard: &Guard<'_>,
        plan: &Plan,
        observer: Arc<dyn Observer>,
    ) -> Result<TaskOutcome, RunError> {
        let task_id = guard.task_id;
        let workspace = Workspace::open(&plan.workspace)?;
        let rows: HashMap<String, _> = self
            .journal
            .steps(task_id)?
            .into_iter()
            .map(|r| (r.step_id.clone(), r))
            .collect();
        let mut prior = Vec::new();
        let mut status = TaskStatus::Succeeded;
        for (index, step) in plan.steps.iter().enumerate() {
            let row = rows.get(&step.id);
            if let Some(row) = row.filter(|r| r.status == StepStatus::Succeeded) {
                if let (StepKind::Plugin { .. }, Some(data)) = (&step.kind, &row.data) {
                    prior.push(PriorOutput {
                        step_id: step.id.clone(),
                        data: data.clone(),
                    });
                }
                continue;
            }
            if self.journal.cancel_requested(task_id)? {
                status = TaskStatus::Cancelled;
                break;
            }
            if guard.control.stop_requested() {
                return Ok(TaskOutcome {
                    task_id: task_id.to_owned(),
                    status: TaskStatus::Running,
                    already_finished: false,
                });
            }
            let first = row.map_or(0, |r| r.attempts) + 1;
            // The retries earlier runs of the task used stay used: `retries = N` allows N + 1
            // failed attempts in all, however often the task is resumed.
            let retried = match row {
                Some(row) if row.attempts > 0 => retry::used(&self.journal, task_id, &step.id)?,
                _ => 0,
            };
            observer.step_started(index, plan.steps.len(), &step.id);
            if retried > step.retry.retries {
                // Its last attempt failed with no retry left; the process stopped before
                // ending the task.
                let message = format!(
                    "attempt {} failed with no retry left (retries = {}); the step is not run again",
                    first - 1,
                    step.retry.retries
                );
                self.event(task_id, &step.id, first - 1, EventKind::Exhausted, &message)?;
                let detail = row.and_then(|r| r.error.clone()).unwrap_or(message);
                let duration_ms = row.and_then(|r| r.duration_ms).unwrap_or(0);
                observer.step_finished(&step.id, StepStatus::Failed, duration_ms, &detail);
                status = TaskStatus::Failed;
                break;
            }
            let end = self
                .run_step(
                    guard, plan, &workspace, step, first, retried, &mut prior, &observer,
                )
                .await?;
            let finished = match end.end {
                AttemptEnd::Succeeded => StepStatus::Succeeded,
                _ => StepStatus::Failed,
            };
            observer.step_finished(&step.id, finished, end.duration_ms, &end.detail);
            match end.end {
                AttemptEnd::Succeeded => {}
                AttemptEnd::Cancelled => {
                    status = TaskStatus::Cancelled;
                    break;
                }
                AttemptEnd::Failed { .. } | AttemptEnd::Conflict => {
                    status = TaskStatus::Failed;
                    break;
                }
            }
        }
        self.journal.finish_task(task_id, status, guard.fence)?;
        tracing::info!(task = %task_id, %status, "task ended");
        Ok(TaskOutcome {
            task_id: task_id.to_owned(),
            status,
            already_finished: false,
        })
    }

    /// Runs a step's attempts, from attempt `first`, until one succeeds or no retry is left
    /// (`retried` of them were used before): retryable failures back off exponentially with
    /// jitter; a conflict with another task's change runs the step again at once, on the new
    /// state, with the workspace locked for the rerun.
    #[expect(clippy::too_many_arguments, reason = "one step's whole context")]
    async fn run_step(
        &self,
        guard: &Guard<'_>,
        plan: &Plan,
        workspace: &Workspace,
        step: &StepPlan,
        first: u32,
        retried: u32,
        prior: &mut Vec<PriorOutput>,
        observer: &Arc<dyn Observer>,
    ) -> Result<StepEnd, RunError> {
        let mut attempt = first;
        let mut retries = retried;
        let mut conflicts = 0;
        let mut exclusive: Option<WorkspaceLock> = None;
        loop {
            let end = self
                .step(
                    guard,
                    plan,
                    workspace,
                    step,
                    attempt,
                    exclusive.is_some(),
                    prior,
                    observer,
                )
                .await?;
            let task_id = guard.task_id;
            let retryable = match end.end {
                AttemptEnd::Succeeded | AttemptEnd::Cancelled => return Ok(end),
                AttemptEnd::Conflict => None,
                AttemptEnd::Failed { retryable } => Some(retryable),
            };
            if retryable.is_none() {
                conflicts += 1;
                if conflicts > MAX_CONFLICTS {
                    return Ok(end);
                }
                if exclusive.is_none() {
                    exclusive = Some(self.lock_workspace(&plan.workspace).await?);
                }
            } else if retryable == Some(true) && retries < step.retry.retries {
                retries += 1;
                let delay = retry::backoff(step.retry.backoff, retries);
                let message = format!(
                    "attempt {attempt} failed with a retryable error; retry {retries} of {} in {} ms",
                    step.retry.retries,
                    delay.as_millis()
                );
                let data = serde_json::json!({
                    "retry": retries,
                    "of": step.retry.retries,
                    "delay_ms": delay.as_millis() as u64,
                })
                .to_string();
                EventScope {
                    journal: &self.journal,
                    task_id,
                    step_id: &step.id,
                    attempt,
                }
                .append(
                    EventKind::Retry,
                    Some(LogLevel::Info),
                    &message,
                    Some(&data),
                )?;
                if !self.wait_or_cancel(guard, delay).await? {
                    return Ok(StepEnd {
                        end: AttemptEnd::Cancelled,
                        ..end
                    });
                }
            } else {
                return Ok(end);
            }
            attempt += 1;
        }
    }

    /// Sleeps `delay` unless the task is cancelled (or its lease lost) meanwhile: `false`
    /// then.
    async fn wait_or_cancel(
        &self,
        guard: &Guard<'_>,
        delay: std::time::Duration,
    ) -> Result<bool, RunError> {
        let until = Instant::now() + delay;
        while Instant::now() < until {
            if self.journal.cancel_requested(guard.task_id)? || guard.control.lost.is_cancelled() {
                return Ok(false);
            }
            let left = until.saturating_duration_since(Instant::now());
            tokio::time::sleep(left.min(std::time::Duration::from_millis(100))).await;
        }
        Ok(true)
    }

    /// Runs, commits and applies one attempt.
    #[expect(clippy::too_many_arguments, reason = "one attempt's whole context")]
    async fn step(
        &self,
        guard: &Guard<'_>,
        plan: &Plan,
        workspace: &Workspace,
        step: &StepPlan,
        attempt: u32,
        workspace_locked: bool,
        prior: &mut Vec<PriorOutput>,
        observer: &Arc<dyn Observer>,
    ) -> Result<StepEnd, RunError> {
        let task_id = guard.task_id;
        off_runtime(|| self.begin_attempt(guard, step, attempt))?;
        let started_at = crate::time_format::now();
        let started = Instant::now();
        failpoint::hit("before-step");
        let ctx = StepContext {
            cancel: CancelToken::default(),
            seed: seed(step, prior),
        };
        let watcher = self.watch_for_cancel(task_id, &ctx.cancel, &guard.control.lost);
        let run = self
            .attempt(task_id, workspace, step, attempt, prior, observer, &ctx)
            .await;
        drop(watcher);
        let mut run = run?;
        run.result.duration_ms = started.elapsed().as_millis() as u64;
        failpoint::hit("after-run");

        // Changes are checked against the workspace, committed and applied under its lock.
        let _workspace = if !run.changes.is_empty() && !workspace_locked {
            Some(self.lock_workspace(&plan.workspace).await?)
        } else {
            None
        };
        off_runtime(|| {
            self.conclude_attempt(
                guard, workspace, step, attempt, run, &ctx, started_at, prior,
            )
        })
    }

    /// Records that an attempt starts, and the grants its step was not given.
    fn begin_attempt(
        &self,
        guard: &Guard<'_>,
        step: &StepPlan,
        attempt: u32,
    ) -> Result<(), RunError> {
        let task_id = guard.task_id;
        self.journal
            .start_attempt(task_id, &step.id, attempt, guard.fence)?;
        self.event(
            task_id,
            &step.id,
            attempt,
            EventKind::Attempt,
            &format!("attempt {attempt} started"),
        )?;
        for grant in &step.withdrawn {
            let message = format!("grant {grant} not given: the plugin did not request it");
            self.event(task_id, &step.id, attempt, EventKind::Grant, &message)?;
        }
        Ok(())
    }

    /// Checks an attempt's changes against the workspace, commits its signed record and
    /// applies its changes: the blocking end of an attempt, run off the runtime's threads
    /// as a whole (one hand-off instead of one per journal call).
    #[expect(clippy::too_many_arguments, reason = "one attempt's whole context")]
    fn conclude_attempt(
        &self,
        guard: &Guard<'_>,
        workspace: &Workspace,
        step: &StepPlan,
        attempt: u32,
        mut run: Attempt,
        ctx: &StepContext,
        started_at: String,
        prior: &mut Vec<PriorOutput>,
    ) -> Result<StepEnd, RunError> {
        let task_id = guard.task_id;
        if !run.changes.is_empty() {
            self.settle_workspace(workspace)?;
            match first_conflict(&run.changes, workspace) {
                Ok(None) => {}
                Ok(Some(path)) => {
                    // Recorded before the commit, so that a process stopped right after it
                    // leaves the conflict known: a conflicted attempt uses no retry.
                    let message = format!(
                        "attempt {attempt} conflicted with another task's change to `{path}`; nothing was applied"
                    );
                    self.event(task_id, &step.id, attempt, EventKind::Conflict, &message)?;
                    run.conflict_on(&path);
                }
                Err(refused) => run.refuse(refused),
            }
        }

        let notes = self.journal.notes(task_id, &step.id, attempt)?;
        let body = RecordBody::of_attempt(AttemptFacts {
            task: task_id,
            step: &step.id,
            attempt,
            kind: step.kind.component_kind(),
            plugin: ComponentRef {
                name: Some(step.kind.component().reference.clone()),
                digest: Some(step.kind.component().digest.clone()),
            },
            params_digest: digest_json(&step_params(step)),
            grants: Some(record_grants(&step.grants, &ctx.seed)),
            started_at,
            result: &run.result,
            materials: run.materials.clone(),
            products: run.products.clone(),
            notes,
        });
        let succeeded = run.result.status == StepStatus::Succeeded;
        let apply_pending = succeeded && !run.products.is_empty();
        let commit = Commit {
            task_id,
            step_id: &step.id,
            attempt,
            result: &run.result,
            artifacts: &run.artifacts,
            apply_pending,
            fence: guard.fence,
        };
        self.journal
            .commit_attempt(&commit, |head| body.clone().seal(head, &self.signer))??;
        failpoint::hit("after-commit");

        if apply_pending {
            let artifacts = self.journal.attempt_artifacts(task_id, &step.id, attempt)?;
            apply::apply(&self.cas, &workspace.dir, &artifacts)?;
            failpoint::hit("after-apply");
            self.journal.mark_applied(task_id, &step.id)?;
        }
        if let Some(staging) = run.staging.take() {
            staging.discard();
        }
        prior.extend(run.prior);
        let ended = match &run.result.error {
            Some(error) => format!("attempt {attempt} {}: {error}", run.result.status),
            None => format!("attempt {attempt} {}", run.result.status),
        };
        self.event(task_id, &step.id, attempt, EventKind::Attempt, &ended)?;
        Ok(StepEnd {
            end: run.end,
            duration_ms: run.result.duration_ms,
            detail: run.result.error.or(run.result.summary).unwrap_or_default(),
        })
    }

    /// Stops the step `task_id` is running in this process, if one is: `false` if none is
    /// (then the process that runs it learns of the request from the journal).
    pub fn cancel_running(&self, task_id: &str) -> bool {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        match running.get(task_id) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Watches for a cancellation while a step runs, and stops the step when one comes or
    /// when the worker loses its lease (`lost`): a cancellation made in this process arrives
    /// through [`Runner::cancel_running`] at once; one made by another process is found by
    /// polling the journal. Watching ends when the returned guard is dropped.
    fn watch_for_cancel(
        &self,
        task_id: &str,
        cancel: &CancelToken,
        lost: &CancelToken,
    ) -> CancelWatch {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(task_id.to_owned(), cancel.clone());
        let journal = Arc::clone(&self.journal);
        let polled_id = task_id.to_owned();
        let cancel = cancel.clone();
        let lost = lost.clone();
        let poll = tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                if cancel.is_cancelled() {
                    return;
                }
                let requested = match journal.cancel_requested(&polled_id) {
                    Ok(requested) => requested,
                    Err(e) => {
                        tracing::warn!(task = %polled_id, "cannot read cancellation requests: {e}");
                        false
                    }
                };
                if lost.is_cancelled() || requested {
                    cancel.cancel();
                    return;
                }
            }
        });
        CancelWatch {
            poll,
            running: Arc::clone(&self.running),
            task_id: task_id.to_owned(),
        }
    }

    #[expect(clippy::too_many_arguments, reason = "one attempt's whole context")]
    async fn attempt(
        &self,
        task_id: &str,
        workspace: &Workspace,
        step: &StepPlan,
        attempt: u32,
        prior: &[PriorOutput],
        observer: &Arc<dyn Observer>,
        ctx: &StepContext,
    ) -> Result<Attempt, RunError> {
        let scope = EventScope {
            journal: &self.journal,
            task_id,
            step_id: &step.id,
            attempt,
        };
        let component = step.kind.component();
        let mut materials = vec![Material {
            name: "component".into(),
            blake3: component.digest.clone(),
        }];
        // Compiling (or loading) the component and opening the grants block: off the
        // runtime, in one hand-off.
        let ready = off_runtime(|| self.ready_attempt(&scope, workspace, step))?;
        let (prepared, staging, dirs) = match ready {
            Ok(ready) => ready,
            Err(why) => return Ok(failed(why, materials)),
        };
        let host = Box::new(JournalHost::new(
            Arc::clone(&self.journal),
            task_id,
            &step.id,
            attempt,
            Arc::clone(observer),
        ));

        let mut run = match &step.kind {
            StepKind::Plugin { params, .. } => {
                let checkpoint = self.journal.checkpoint(task_id, &step.id)?;
                materials.push(Material {
                    name: "params".into(),
                    blake3: digest_json(params),
                });
                let prior_json: Vec<_> = prior
                    .iter()
                    .map(|p| serde_json::json!({ "step": p.step_id, "data": p.data }))
                    .collect();
                materials.push(Material {
                    name: "prior".into(),
                    blake3: digest_json(&serde_json::Value::from(prior_json)),
                });
                if let Some(state) = &checkpoint {
                    materials.push(Material {
                        name: "checkpoint".into(),
                        blake3: crate::evidence::digest(state),
                    });
                }
                let input = StepInput {
                    task_id: task_id.to_owned(),
                    step_id: step.id.clone(),
                    attempt,
                    params: params.to_string(),
                    prior: prior.to_vec(),
                    checkpoint,
                };
                let captured = self
                    .sandbox
                    .run_plugin(&prepared, &step.grants, &dirs, &input, host, ctx)
                    .await;
                let (outcome, artifacts) = off_runtime(|| self.keep_stdio(captured, &scope))?;
                let failed_end = AttemptEnd::of_plugin(&outcome, &step.retry, StepStatus::Failed);
                let mut run = plugin_attempt(outcome, materials);
                if run.result.status != StepStatus::Succeeded {
                    run.end = failed_end;
                }
                run.artifacts = artifacts;
                if let Some(prior) = &mut run.prior {
                    prior.step_id = step.id.clone();
                }
                run
            }
            StepKind::Command { args, stdin, .. } => {
                materials.push(Material {
                    name: "params".into(),
                    blake3: digest_json(&step_params(step)),
                });
                let captured = self
                    .sandbox
                    .run_command(
                        &prepared,
                        &step.grants,
                        &dirs,
                        args,
                        stdin.as_deref(),
                        host,
                        ctx,
                    )
                    .await;
                let (outcome, artifacts) = off_runtime(|| self.keep_stdio(captured, &scope))?;
                let failed_end = AttemptEnd::of_command(&outcome, &step.retry, StepStatus::Failed);
                let mut run = command_attempt(outcome, materials);
                if run.result.status != StepStatus::Succeeded {
                    run.end = failed_end;
                }
                run.artifacts = artifacts;
                run
            }
        };

        if run.result.status == StepStatus::Succeeded
            && let Err(refused) = workspace::check_read_unchanged(workspace, &dirs.read)
        {
            run.refuse(refused.to_string());
        }
        if run.result.status == StepStatus::Succeeded {
            match staging.changes() {
                Ok(changes) => {
                    run.changes = changes.clone();
                    for change in changes {
                        let (blake3, bytes) = match staging.content(&change) {
                            Ok(Some(content)) => {
                                (Some(self.cas.put(&content)?), content.len() as u64)
                            }
                            Ok(None) => (None, 0),
                            Err(e) => {
                                run = failed(
                                    format!("cannot read staged file {}: {e}", change.path),
                                    run.materials,
                                );
                                break;
                            }
                        };
                        run.products.push(Product {
                            path: change.path.clone(),
                            change: change.kind,
                            blake3: blake3.clone(),
                            bytes,
                        });
                        run.artifacts.push(NewArtifact {
                            name: change.path,
                            kind: ArtifactKind::File,
                            change: Some(change.kind),
                            blake3,
                            bytes,
                        });
                    }
                }
                Err(e) => {
                    run = failed(
                        format!("cannot compare staged writes with the workspace: {e}"),
                        run.materials,
                    )
                }
            }
        }
        if run.result.status != StepStatus::Succeeded {
            run.products.clear();
            run.changes.clear();
            run.artifacts.retain(|a| a.kind != ArtifactKind::File);
        }
        run.staging = Some(staging);
        Ok(run)
    }

    /// Compiles or loads the step's component, recording which, and opens its directories:
    /// what the attempt runs with, or why it cannot run.
    fn ready_attempt(
        &self,
        scope: &EventScope<'_>,
        workspace: &Workspace,
        step: &StepPlan,
    ) -> Result<Result<(Prepared, Staging, OpenedDirs), String>, RunError> {
        let component = step.kind.component();
        let prepared = match self.sandbox.prepare(component) {
            Ok((prepared, cache)) => {
                let message = match cache {
                    crate::sandbox::CacheOutcome::Hit => {
                        format!("loaded precompiled {}", component.reference)
                    }
                    crate::sandbox::CacheOutcome::Compiled => {
                        format!("compiled {}", component.reference)
                    }
                };
                let data =
                    serde_json::json!({ "cache": cache.as_str(), "digest": component.digest })
                        .to_string();
                scope.append(
                    EventKind::Cache,
                    Some(LogLevel::Debug),
                    &message,
                    Some(&data),
                )?;
                prepared
            }
            Err(e) => return Ok(Err(e.to_string())),
        };
        match self.open_dirs(scope.task_id, workspace, step) {
            Ok((staging, dirs)) => Ok(Ok((prepared, staging, dirs))),
            Err(error) => Ok(Err(error.to_string())),
        }
    }

    /// Opens the step's grants beneath the workspace now, whatever their paths became since
    /// the pipeline was checked, and stages its write grants: the directories the guest
    /// gets, or why the step cannot run.
    fn open_dirs(
        &self,
        task_id: &str,
        workspace: &Workspace,
        step: &StepPlan,
    ) -> Result<(Staging, OpenedDirs), OpenDirsError> {
        let read = workspace::open_read(workspace, &step.grants.read)?;
        let sources = workspace::open_write(workspace, &step.grants.write)?;
        let (parent, name) = self.state.open_staging(task_id, &step.id)?;
        let staging = Staging::prepare(parent, &name, &step.grants.write, &sources)
            .map_err(OpenDirsError::Stage)?;
        let write = staging.opened().map_err(OpenDirsError::OpenStaged)?;
        Ok((staging, OpenedDirs { read, write }))
    }

    /// Stores non-empty stdout and stderr in the artifact store and logs them as events.
    fn keep_stdio<T>(
        &self,
        captured: Captured<T>,
        scope: &EventScope<'_>,
    ) -> Result<(Result<T, SandboxError>, Vec<NewArtifact>), RunError> {
        for denial in &captured.denials {
            scope.append(EventKind::Denied, Some(LogLevel::Warn), denial, None)?;
        }
        let mut artifacts = Vec::new();
        let streams = [
            (EventKind::Stdout, ArtifactKind::Stdout, &captured.stdout),
            (EventKind::Stderr, ArtifactKind::Stderr, &captured.stderr),
        ];
        for (event, stream, bytes) in streams {
            if bytes.is_empty() {
                continue;
            }
            let digest = self.cas.put(bytes)?;
            let text = String::from_utf8_lossy(bytes);
            let data = serde_json::json!({ "blake3": digest, "bytes": bytes.len() }).to_string();
            scope.append(event, None, &text, Some(&data))?;
            artifacts.push(NewArtifact {
                name: stream.as_str().to_owned(),
                kind: stream,
                change: None,
                blake3: Some(digest),
                bytes: bytes.len() as u64,
            });
        }
        Ok((captured.outcome, artifacts))
    }

    fn event(
        &self,
        task_id: &str,
        step_id: &str,
        attempt: u32,
        kind: EventKind,
        message: &str,
    ) -> Result<(), JournalError> {
        EventScope {
            journal: &self.journal,
            task_id,
            step_id,
            attempt,
        }
        .append(kind, Some(LogLevel::Info), message, None)
    }
}

/// Where the events of one attempt go.
struct EventScope<'a> {
    journal: &'a Journal,
    task_id: &'a str,
    step_id: &'a str,
    attempt: u32,
}

impl EventScope<'_> {
    fn append(
        &self,
        kind: EventKind,
        level: Option<LogLevel>,
        message: &str,
        data: Option<&str>,
    ) -> Result<(), JournalError> {
        self.journal.append_event(&NewEvent {
            task_id: self.task_id,
            step_id: Some(self.step_id),
            attempt: Some(self.attempt),
            kind,
            level,
            message,
            data,
        })
    }
}

/// What a step is given besides its component: params, or arguments and stdin.
fn step_params(step: &StepPlan) -> serde_json::Value {
    match &step.kind {
        StepKind::Plugin { params, .. } => params.clone(),
        StepKind::Command { args, stdin, .. } => {
            serde_json::json!({ "args": args, "stdin": stdin })
        }
    }
}

/// The seed of a step's virtual clocks and randomness: its identity and inputs, so the same
/// step with the same inputs sees the same randomness.
fn seed(step: &StepPlan, prior: &[PriorOutput]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_derive_key("nightshift step seed v1");
    hasher.update(step.id.as_bytes());
    hasher.update(step.kind.component().digest.as_bytes());
    hasher.update(digest_json(&step_params(step)).as_bytes());
    for p in prior {
        hasher.update(p.step_id.as_bytes());
        hasher.update(p.data.as_bytes());
    }
    *hasher.finalize().as_bytes()
}

fn record_grants(grants: &Grants, seed: &[u8; 32]) -> RecordGrants {
    let clocks = if grants.real_clocks {
        RecordClocks {
            mode: ClockMode::Real,
            seed: None,
        }
    } else {
        RecordClocks {
            mode: ClockMode::Virtual,
            seed: Some(crate::evidence::hex(seed)),
        }
    };
    let guest = |dirs: &[crate::sandbox::DirGrant]| dirs.iter().map(|d| d.guest.clone()).collect();
    RecordGrants {
        clocks,
        fuel: grants.limits.fuel,
        write_bytes: grants.limits.write_bytes,
        log_bytes: grants.limits.log_bytes,
        data_bytes: grants.limits.data_bytes,
        read: guest(&grants.read),
        write: guest(&grants.write),
        env: grants.env.clone(),
        network: grants.network.clone(),
        memory_bytes: grants.limits.memory_bytes,
        timeout_ms: grants.limits.timeout.as_millis() as u64,
        output_bytes: grants.limits.output_bytes,
    }
}

/// An attempt that produced nothing yet but `result`.
fn attempt_with(result: StepResult, materials: Vec<Material>) -> Attempt {
    Attempt {
        artifacts: Vec::new(),
        prior: None,
        products: Vec::new(),
        materials,
        staging: None,
        changes: Vec::new(),
        end: match result.status {
            StepStatus::Succeeded => AttemptEnd::Succeeded,
            _ => AttemptEnd::Failed { retryable: false },
        },
        result,
    }
}

fn failed(error: String, materials: Vec<Material>) -> Attempt {
    let result = StepResult {
        status: StepStatus::Failed,
        summary: None,
        data: None,
        checks: None,
        caveats: None,
        error: Some(error),
        duration_ms: 0,
    };
    attempt_with(result, materials)
}

fn succeeded(
    summary: String,
    data: String,
    checks: Option<String>,
    caveats: Option<String>,
    materials: Vec<Material>,
) -> Attempt {
    let result = StepResult {
        status: StepStatus::Succeeded,
        summary: Some(summary),
        data: Some(data),
        checks,
        caveats,
        error: None,
        duration_ms: 0,
    };
    attempt_with(result, materials)
}

fn plugin_attempt(
    outcome: Result<Result<crate::sandbox::StepOutput, StepError>, SandboxError>,
    materials: Vec<Material>,
) -> Attempt {
    let output = match outcome {
        Err(e) => return failed(e.to_string(), materials),
        Ok(Err(StepError::Fatal(message))) => {
            return failed(format!("plugin failed: {message}"), materials);
        }
        Ok(Err(StepError::Retryable(message))) => {
            return failed(format!("plugin failed (retryable): {message}"), materials);
        }
        Ok(Ok(output)) => output,
    };
    if let Err(e) = serde_json::from_str::<serde_json::Value>(&output.data) {
        return failed(
            format!("plugin returned data that is not JSON: {e}"),
            materials,
        );
    }
    let checks: Vec<_> = output
        .checks
        .iter()
        .map(|c| serde_json::json!({ "name": c.name, "passed": c.passed, "detail": c.detail }))
        .collect();
    let mut attempt = succeeded(
        output.summary,
        output.data.clone(),
        Some(serde_json::Value::from(checks).to_string()),
        Some(serde_json::Value::from(output.caveats).to_string()),
        materials,
    );
    // A failed check fails its step: the task does not claim what it could not verify.
    if let Some(check) = output.checks.iter().find(|c| !c.passed) {
        attempt.result.status = StepStatus::Failed;
        attempt.result.error = Some(format!("check `{}` failed: {}", check.name, check.detail));
        return attempt;
    }
    attempt.prior = Some(PriorOutput {
        step_id: String::new(),
        data: output.data,
    });
    attempt
}

fn command_attempt(outcome: Result<i32, SandboxError>, materials: Vec<Material>) -> Attempt {
    match outcome {
        Err(e) => failed(e.to_string(), materials),
        Ok(0) => succeeded(
            "exited with code 0".into(),
            serde_json::json!({ "exit_code": 0 }).to_string(),
            None,
            None,
            materials,
        ),
        Ok(code) => failed(format!("command exited with code {code}"), materials),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::manifest::RetryPolicy;

    fn policy(on_timeout: bool) -> RetryPolicy {
        RetryPolicy {
            retries: 2,
            backoff: Duration::from_millis(10),
            on_timeout,
        }
    }

    fn timeout<T>() -> Result<T, SandboxError> {
        Err(SandboxError::Timeout {
            limit: Duration::from_secs(1),
        })
    }

    #[test]
    fn a_plugin_attempt_ends_as_the_sandbox_and_the_plugin_say() {
        let failed = StepStatus::Failed;
        let end = |outcome: Result<Result<(), StepError>, SandboxError>, on_timeout| {
            AttemptEnd::of_plugin(&outcome, &policy(on_timeout), failed)
        };
        assert_eq!(
            end(Ok(Err(StepError::Retryable("later".into()))), false),
            AttemptEnd::Failed { retryable: true }
        );
        assert_eq!(
            end(Ok(Err(StepError::Fatal("no".into()))), true),
            AttemptEnd::Failed { retryable: false }
        );
        assert_eq!(end(timeout(), true), AttemptEnd::Failed { retryable: true });
        assert_eq!(
            end(timeout(), false),
            AttemptEnd::Failed { retryable: false }
        );
        assert_eq!(
            end(Err(SandboxError::Cancelled), true),
            AttemptEnd::Cancelled
        );
        // Output the host refused fails the attempt, not retryably.
        assert_eq!(
            end(Ok(Ok(())), true),
            AttemptEnd::Failed { retryable: false }
        );
        assert_eq!(
            AttemptEnd::of_plugin(
                &Ok::<_, SandboxError>(Ok::<(), StepError>(())),
                &policy(false),
                StepStatus::Succeeded
            ),
            AttemptEnd::Succeeded
        );
    }

    #[test]
    fn a_command_attempt_is_retried_only_on_a_timeout_the_step_allows() {
        let end = |outcome: Result<i32, SandboxError>, on_timeout| {
            AttemptEnd::of_command(&outcome, &policy(on_timeout), StepStatus::Failed)
        };
        assert_eq!(end(Ok(3), true), AttemptEnd::Failed { retryable: false });
        assert_eq!(end(timeout(), true), AttemptEnd::Failed { retryable: true });
        assert_eq!(
            end(timeout(), false),
            AttemptEnd::Failed { retryable: false }
        );
        assert_eq!(
            end(Err(SandboxError::Cancelled), true),
            AttemptEnd::Cancelled
        );
    }

    #[test]
    fn attempts_start_as_their_result_says_and_a_conflict_undoes_a_success() {
        let done = succeeded("ok".into(), "{}".into(), None, None, Vec::new());
        assert_eq!(done.end, AttemptEnd::Succeeded);
        assert_eq!(
            failed("boom".into(), Vec::new()).end,
            AttemptEnd::Failed { retryable: false }
        );
        let mut conflicted = done;
        conflicted.conflict_on("out/a.txt");
        assert_eq!(conflicted.end, AttemptEnd::Conflict);
        assert_eq!(conflicted.result.status, StepStatus::Failed);
        assert!(conflicted.products.is_empty() && conflicted.prior.is_none());
    }
}
