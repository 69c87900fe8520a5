//! The background lane's worker: claims queued tasks under leases, keeps them alive with
//! heartbeats, runs up to N at once, fires due schedules, and shuts down gracefully.
//!
//! Idle workers wake when a task is queued, by the journal's own wakeups (wake sockets beside
//! an SQLite file, `LISTEN`/`NOTIFY` on PostgreSQL, so workers on other hosts wake too), and
//! otherwise poll.
//!
//! Tasks run as tokio tasks on the process's small thread pool; each guest yields at every
//! epoch tick, so one busy guest cannot starve the others. A task whose worker died is
//! reclaimed by any worker once its lease expires, and resumes from its last committed step.
//! At the first shutdown signal the worker stops claiming, lets each running step finish
//! within the grace period and puts the tasks back in the queue; at the second, or when the
//! grace period ends, it stops the running steps at once (they are recorded as interrupted
//! by whoever resumes them) and releases their leases.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::journal::{
    EventKind, Journal, JournalError, Lease, LogLevel, NewEvent, QueueWakeups, TaskStatus,
};
use crate::manifest::Plan;
use crate::runner::{Control, RunError, Runner, Silent, StoredPlanError};
use crate::state::StateDir;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Tasks run at once.
    pub concurrency: usize,
    /// Exit when the lane has nothing left to do.
    pub until_idle: bool,
    /// How long a claim lasts without a heartbeat.
    pub lease: Duration,
    /// How long running steps get to finish after the first shutdown signal.
    pub grace: Duration,
    /// How often to look for work when not woken.
    pub poll: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            concurrency: 1,
            until_idle: false,
            lease: Duration::from_secs(30),
            grace: Duration::from_secs(30),
            poll: Duration::from_millis(500),
        }
    }
}

/// How far shutdown has gone: sent to the worker by whoever catches the signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Shutdown {
    /// Keep working.
    No,
    /// Stop claiming; let running steps finish.
    Graceful,
    /// Stop running steps now.
    Now,
}

/// What a worker did before it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerSummary {
    /// Tasks it ran to their end.
    pub finished: u64,
    /// Tasks it put back in the queue at shutdown.
    pub released: u64,
    /// Tasks whose lease it lost to another worker.
    pub lost: u64,
    /// Tasks that stopped on an error of the host (they are reclaimed later).
    pub errors: u64,
}

/// Errors that stop a worker.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The journal refused a queue operation.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// A worker over one state directory.
pub struct Worker {
    runner: Arc<Runner>,
    state: StateDir,
    options: WorkerOptions,
    owner: String,
    plans: Arc<PlanCache>,
}

/// Plans of recent tasks, keyed by everything a plan is made from (pipeline file and text,
/// params, workspace, and the component digests the task recorded), so tasks of the same
/// pipeline do not read and check their components again.
#[derive(Default)]
struct PlanCache {
    plans: std::sync::Mutex<std::collections::HashMap<String, Plan>>,
}

/// Why a claimed task's pipeline could not be loaded; the task fails with it.
#[derive(Debug, thiserror::Error)]
enum LeasedPlanError {
    /// Its rows could not be read.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Its stored pipeline no longer loads.
    #[error(transparent)]
    Stored(#[from] StoredPlanError),
}

/// Plans kept at most; the cache starts over when full.
const PLANS_KEPT: usize = 64;

impl PlanCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Plan>> {
        // A panic elsewhere cannot leave a map of finished plans inconsistent.
        self.plans
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The task's pipeline as it was submitted, checked again unless an identical task's
    /// plan is at hand.
    fn plan(
        &self,
        journal: &Journal,
        state: &StateDir,
        task_id: &str,
    ) -> Result<Plan, LeasedPlanError> {
        let task = journal.find_task(task_id)?;
        let steps = journal.steps(task_id)?;
        let mut key = blake3::Hasher::new();
        for part in [
            task.pipeline_path.as_str(),
            task.pipeline_text.as_deref().unwrap_or_default(),
            &task.params,
            &task.workspace,
        ] {
            key.update(part.as_bytes()).update(&[0]);
        }
        for step in &steps {
            key.update(step.plugin_digest.as_bytes()).update(&[0]);
        }
        let key = key.finalize().to_hex().to_string();
        if let Some(plan) = self.lock().get(&key) {
            return Ok(plan.clone());
        }
        let plan = crate::runner::stored_plan(state, &task)?;
        let mut plans = self.lock();
        if plans.len() >= PLANS_KEPT {
            plans.clear();
        }
        plans.insert(key, plan.clone());
        Ok(plan)
    }
}

/// How one task ended in this worker.
enum Ended {
    Finished,
    Released,
    Lost,
    Error,
}

impl Worker {
    /// A worker running tasks with `runner`.
    pub fn new(runner: Arc<Runner>, state: StateDir, options: WorkerOptions) -> Worker {
        let id = uuid::Uuid::now_v7().simple().to_string();
        let owner = format!("worker-{}-{}", std::process::id(), &id[id.len() - 6..]);
        Worker {
            runner,
            state,
            options,
            owner,
            plans: Arc::default(),
        }
    }

    /// The name leases and events know this worker by.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Works until shut down (or, with `until_idle`, until the lane is idle). A closed
    /// `shutdown` channel (its sender dropped, so no signal can come any more) is a graceful
    /// shutdown.
    pub async fn run(
        &self,
        mut shutdown: watch::Receiver<Shutdown>,
    ) -> Result<WorkerSummary, WorkerError> {
        let journal = Arc::clone(self.runner.journal());
        let store_wakeups = journal.queue_wakeups()?;
        let mut running: JoinSet<(String, Ended)> = JoinSet::new();
        let mut controls: Vec<(Lease, Control)> = Vec::new();
        let mut summary = WorkerSummary::default();
        let concurrency = self.options.concurrency.max(1);
        tracing::info!(owner = %self.owner, concurrency, "worker started");
        loop {
            while let Some(joined) = running.try_join_next() {
                settle(joined, &mut controls, &mut summary);
            }
            if *shutdown.borrow() != Shutdown::No {
                break;
            }
            let schedules_due = crate::schedule::fire_due(&self.runner, &self.state);
            let next_schedule = match schedules_due {
                Ok(next) => next,
                Err(e) => {
                    tracing::warn!("schedules: {e}");
                    None
                }
            };
            while running.len() < concurrency {
                let Some(lease) = journal.claim(&self.owner, self.lease_ms())? else {
                    break;
                };
                tracing::debug!(task = %lease.task_id, token = lease.token, "claimed");
                let control = Control::default();
                controls.push((lease.clone(), control.clone()));
                running.spawn(run_task(
                    Arc::clone(&self.runner),
                    Arc::clone(&self.plans),
                    self.state.clone(),
                    lease,
                    control,
                    self.options.lease,
                ));
            }
            if self.options.until_idle && running.is_empty() && !journal.lane_busy()? {
                break;
            }
            let mut wait = self.options.poll;
            if let Some(at) = next_schedule {
                let until = Duration::from_millis(
                    u64::try_from(at - crate::time_format::now_ms()).unwrap_or(0),
                );
                wait = wait.min(until);
            }
            tokio::select! {
                () = store_woken(store_wakeups.as_ref()) => {}
                Some(joined) = running.join_next(), if !running.is_empty() => {
                    settle(joined, &mut controls, &mut summary);
                }
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        tracing::warn!(owner = %self.owner, "the shutdown signal's sender is gone; stopping");
                        break;
                    }
                }
                () = tokio::time::sleep(wait) => {}
            }
        }
        self.drain(running, &mut controls, shutdown, &mut summary)
            .await?;
        tracing::info!(owner = %self.owner, ?summary, "worker stopped");
        Ok(summary)
    }

    /// Shutdown: running steps finish within the grace period (or until a second signal),
    /// then whatever still runs is stopped and its lease released.
    async fn drain(
        &self,
        mut running: JoinSet<(String, Ended)>,
        controls: &mut Vec<(Lease, Control)>,
        mut shutdown: watch::Receiver<Shutdown>,
        summary: &mut WorkerSummary,
    ) -> Result<(), WorkerError> {
        for (_, control) in controls.iter() {
            control.stop_after_step();
        }
        let grace = tokio::time::sleep(self.options.grace);
        tokio::pin!(grace);
        // Once the channel is closed no second signal can come: the grace period alone ends
        // the wait.
        let mut listening = true;
        while !running.is_empty() {
            if *shutdown.borrow() == Shutdown::Now {
                break;
            }
            tokio::select! {
                Some(joined) = running.join_next() => settle(joined, controls, summary),
                changed = shutdown.changed(), if listening => listening = changed.is_ok(),
                () = &mut grace => break,
            }
        }
        if !running.is_empty() {
            running.shutdown().await;
            let journal = self.runner.journal();
            for (lease, _) in controls.iter() {
                if journal.release(lease, "the worker stopped before the step ended")? {
                    summary.released += 1;
                }
            }
        }
        Ok(())
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.options.lease.as_millis()).unwrap_or(i64::MAX)
    }
}

/// Counts a task that ended in this worker and forgets its control.
fn settle(
    joined: Result<(String, Ended), tokio::task::JoinError>,
    controls: &mut Vec<(Lease, Control)>,
    summary: &mut WorkerSummary,
) {
    let Ok((task_id, ended)) = joined else {
        summary.errors += 1;
        return;
    };
    controls.retain(|(lease, _)| lease.task_id != task_id);
    match ended {
        Ended::Finished => summary.finished += 1,
        Ended::Released => summary.released += 1,
        Ended::Lost => summary.lost += 1,
        Ended::Error => summary.errors += 1,
    }
}

async fn store_woken(wakeups: Option<&QueueWakeups>) {
    match wakeups {
        Some(wakeups) => wakeups.woken().await,
        None => std::future::pending().await,
    }
}

/// Runs one claimed task with a heartbeat, then seals its report or releases it.
async fn run_task(
    runner: Arc<Runner>,
    plans: Arc<PlanCache>,
    state: StateDir,
    lease: Lease,
    control: Control,
    ttl: Duration,
) -> (String, Ended) {
    let journal = Arc::clone(runner.journal());
    let heartbeat = tokio::spawn(heartbeat(
        Arc::clone(&journal),
        lease.clone(),
        control.clone(),
        ttl,
    ));
    let ended = run_claimed(&runner, &plans, &state, &lease, &control).await;
    heartbeat.abort();
    (lease.task_id, ended)
}

async fn run_claimed(
    runner: &Runner,
    plans: &PlanCache,
    state: &StateDir,
    lease: &Lease,
    control: &Control,
) -> Ended {
    let plan = match plans.plan(runner.journal(), state, &lease.task_id) {
        Ok(plan) => plan,
        Err(error) => {
            return match runner.fail_leased(lease, &error.to_string()) {
                Ok(()) => Ended::Finished,
                Err(e) => ended_by(runner.journal(), lease, &e),
            };
        }
    };
    match runner
        .run_leased(lease, &plan, Arc::new(Silent), control)
        .await
    {
        Ok(outcome) if outcome.status == TaskStatus::Running => {
            match runner.journal().release(
                lease,
                "the worker is shutting down; the next claim resumes it",
            ) {
                Ok(_) => Ended::Released,
                Err(e) => {
                    tracing::warn!(task = %lease.task_id, "cannot release: {e}");
                    Ended::Error
                }
            }
        }
        Ok(outcome) => {
            if let Err(e) = runner.seal_report(&outcome.task_id) {
                tracing::warn!(task = %outcome.task_id, "cannot seal the report: {e}");
            }
            Ended::Finished
        }
        Err(e) => ended_by(runner.journal(), lease, &e),
    }
}

/// Records why a task stopped in this worker without ending.
fn ended_by(journal: &Journal, lease: &Lease, error: &RunError) -> Ended {
    let (kind, level, ended) = match error {
        RunError::Journal(JournalError::LeaseLost { .. }) => {
            (EventKind::Fenced, LogLevel::Warn, Ended::Lost)
        }
        _ => (EventKind::Error, LogLevel::Error, Ended::Error),
    };
    let message = match error {
        RunError::Journal(JournalError::LeaseLost { current, .. }) => format!(
            "{} lost its lease {} (the task is now under lease {current}); its late write was refused",
            lease.owner, lease.token
        ),
        other => format!(
            "{} stopped the task on an error of the host: {other}",
            lease.owner
        ),
    };
    tracing::warn!(task = %lease.task_id, "{message}");
    let data = serde_json::json!({ "owner": lease.owner, "token": lease.token }).to_string();
    let recorded = journal.append_event(&NewEvent {
        task_id: &lease.task_id,
        step_id: None,
        attempt: None,
        kind,
        level: Some(level),
        message: &message,
        data: Some(&data),
    });
    if let Err(e) = recorded {
        tracing::error!(task = %lease.task_id, "cannot record why the task stopped: {e}");
    }
    ended
}

/// Extends the lease every third of its length; on losing it, stops the running step.
async fn heartbeat(journal: Arc<Journal>, lease: Lease, control: Control, ttl: Duration) {
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    loop {
        tokio::time::sleep(ttl / 3).await;
        match journal.heartbeat(&lease, ttl_ms) {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(task = %lease.task_id, token = lease.token, "lease lost");
                control.lost.cancel();
                return;
            }
            Err(e) => tracing::warn!(task = %lease.task_id, "heartbeat: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker over a fresh state directory in `dir`, polling often.
    fn worker(dir: &std::path::Path) -> Worker {
        let state = StateDir::open(dir).expect("state directory");
        let journal = Arc::new(crate::journal::open(state.store()).expect("journal"));
        let sandbox = Arc::new(
            crate::sandbox::Sandbox::with_pooling(&state.compile_cache_dir(), false)
                .expect("sandbox"),
        );
        let runner = Runner::new(state.clone(), journal, sandbox).expect("runner");
        let options = WorkerOptions {
            poll: Duration::from_millis(50),
            ..WorkerOptions::default()
        };
        Worker::new(Arc::new(runner), state, options)
    }

    #[test]
    fn a_closed_shutdown_channel_stops_the_worker() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let worker = worker(dir.path());
        let (tx, rx) = watch::channel(Shutdown::No);
        drop(tx);
        // On a thread of its own: a worker spinning on the closed channel never returns.
        let (done, ended) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime");
            let _ = done.send(runtime.block_on(worker.run(rx)).map_err(|e| e.to_string()));
        });
        let summary = ended
            .recv_timeout(Duration::from_secs(10))
            .expect("the worker stops within 10 s of its shutdown channel closing")
            .expect("the worker stops without error");
        assert_eq!(summary, WorkerSummary::default());
    }
}
