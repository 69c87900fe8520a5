//! Journal calls made from async code must not stall the runtime's threads: a commit waits
//! for the disk, a PostgreSQL call for the network, and up to a minute while it reconnects.
//! [`OffRuntime`] wraps every store (see [`Journal::new`](crate::Journal::new)) so that a
//! call made on a worker thread of a multi-thread tokio runtime runs through
//! `block_in_place`: the runtime hands that thread's other tasks to another thread for the
//! duration, and timers, heartbeats and other tasks' steps keep going. Calls from plain
//! threads, and from a current-thread runtime (which has no other thread to hand its tasks
//! to), run as they are.

use tokio::runtime::{Handle, RuntimeFlavor};

use crate::{
    ArtifactRow, ChainHead, Commit, DanglingAttempt, EventRow, Firing, LatestProduct, Lease,
    NewEvent, NewTask, PendingApply, Progress, QueueOptions, QueueWakeups, RecordRow, Result,
    ScheduleCaveat, ScheduleRow, ScheduleRun, SealedReport, StepRow, Store, Submitted, TaskRow,
    TaskStatus,
};

/// Runs `call` where it cannot stall a runtime thread (see the module doc). A caller that
/// makes several blocking calls in a row wraps them all in one `off_runtime`: the journal
/// calls inside then hand nothing off again.
pub fn off_runtime<T>(call: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(call)
        }
        _ => call(),
    }
}

/// A store whose every call runs off the runtime's threads.
#[derive(Debug)]
pub(crate) struct OffRuntime<S>(pub(crate) S);

impl<S: Store> Store for OffRuntime<S> {
    fn location(&self) -> String {
        self.0.location()
    }

    fn create_task(&self, task: &NewTask<'_>) -> Result<()> {
        off_runtime(|| self.0.create_task(task))
    }

    fn start_attempt(
        &self,
        task_id: &str,
        step_id: &str,
        attempt: u32,
        fence: Option<&Lease>,
    ) -> Result<()> {
        off_runtime(|| self.0.start_attempt(task_id, step_id, attempt, fence))
    }

    fn commit_attempt(
        &self,
        commit: &Commit<'_>,
        sign: &mut dyn FnMut(&ChainHead) -> Option<RecordRow>,
    ) -> Result<Option<RecordRow>> {
        off_runtime(|| self.0.commit_attempt(commit, sign))
    }

    fn pending_applies(&self) -> Result<Vec<PendingApply>> {
        off_runtime(|| self.0.pending_applies())
    }

    fn mark_applied(&self, task_id: &str, step_id: &str) -> Result<()> {
        off_runtime(|| self.0.mark_applied(task_id, step_id))
    }

    fn records(&self, task_id: &str) -> Result<Vec<RecordRow>> {
        off_runtime(|| self.0.records(task_id))
    }

    fn any_signing_key(&self) -> Result<Option<String>> {
        off_runtime(|| self.0.any_signing_key())
    }

    fn attempt_artifacts(
        &self,
        task_id: &str,
        step_id: &str,
        attempt: u32,
    ) -> Result<Vec<ArtifactRow>> {
        off_runtime(|| self.0.attempt_artifacts(task_id, step_id, attempt))
    }

    fn notes(&self, task_id: &str, step_id: &str, attempt: u32) -> Result<Vec<String>> {
        off_runtime(|| self.0.notes(task_id, step_id, attempt))
    }

    fn dangling_attempts(&self, task_id: &str) -> Result<Vec<DanglingAttempt>> {
        off_runtime(|| self.0.dangling_attempts(task_id))
    }

    fn request_cancel(&self, task_id: &str) -> Result<()> {
        off_runtime(|| self.0.request_cancel(task_id))
    }

    fn cancel_requested(&self, task_id: &str) -> Result<bool> {
        off_runtime(|| self.0.cancel_requested(task_id))
    }

    fn save_report(
        &self,
        task_id: &str,
        blake3: &str,
        signature: &str,
        key_id: &str,
    ) -> Result<()> {
        off_runtime(|| self.0.save_report(task_id, blake3, signature, key_id))
    }

    fn report(&self, task_id: &str) -> Result<Option<SealedReport>> {
        off_runtime(|| self.0.report(task_id))
    }

    fn reopen_task(&self, task_id: &str) -> Result<()> {
        off_runtime(|| self.0.reopen_task(task_id))
    }

    fn finish_task(&self, task_id: &str, status: TaskStatus, fence: Option<&Lease>) -> Result<()> {
        off_runtime(|| self.0.finish_task(task_id, status, fence))
    }

    fn append_event(&self, event: &NewEvent<'_>) -> Result<()> {
        off_runtime(|| self.0.append_event(event))
    }

    fn find_task(&self, id_or_prefix: &str) -> Result<TaskRow> {
        off_runtime(|| self.0.find_task(id_or_prefix))
    }

    fn recent_tasks(&self, limit: usize) -> Result<Vec<TaskRow>> {
        off_runtime(|| self.0.recent_tasks(limit))
    }

    fn steps(&self, task_id: &str) -> Result<Vec<StepRow>> {
        off_runtime(|| self.0.steps(task_id))
    }

    fn events(&self, task_id: &str, after: i64) -> Result<Vec<EventRow>> {
        off_runtime(|| self.0.events(task_id, after))
    }

    fn artifacts(&self, task_id: &str) -> Result<Vec<ArtifactRow>> {
        off_runtime(|| self.0.artifacts(task_id))
    }

    fn latest_product(&self, workspace: &str, path: &str) -> Result<Option<LatestProduct>> {
        off_runtime(|| self.0.latest_product(workspace, path))
    }

    fn kv_get(&self, task_id: &str, key: &str) -> Result<Option<Vec<u8>>> {
        off_runtime(|| self.0.kv_get(task_id, key))
    }

    fn kv_set(&self, task_id: &str, key: &str, value: &[u8]) -> Result<()> {
        off_runtime(|| self.0.kv_set(task_id, key, value))
    }

    fn save_checkpoint(&self, task_id: &str, step_id: &str, state: &[u8]) -> Result<()> {
        off_runtime(|| self.0.save_checkpoint(task_id, step_id, state))
    }

    fn checkpoint(&self, task_id: &str, step_id: &str) -> Result<Option<Vec<u8>>> {
        off_runtime(|| self.0.checkpoint(task_id, step_id))
    }

    fn submit_task(&self, task: &NewTask<'_>, queue: &QueueOptions<'_>) -> Result<Submitted> {
        off_runtime(|| self.0.submit_task(task, queue))
    }

    fn claim(&self, owner: &str, ttl_ms: i64) -> Result<Option<Lease>> {
        off_runtime(|| self.0.claim(owner, ttl_ms))
    }

    fn heartbeat(&self, lease: &Lease, ttl_ms: i64) -> Result<bool> {
        off_runtime(|| self.0.heartbeat(lease, ttl_ms))
    }

    fn release(&self, lease: &Lease, why: &str) -> Result<bool> {
        off_runtime(|| self.0.release(lease, why))
    }

    fn cancel_queued(&self, task_id: &str) -> Result<bool> {
        off_runtime(|| self.0.cancel_queued(task_id))
    }

    fn lane_busy(&self) -> Result<bool> {
        off_runtime(|| self.0.lane_busy())
    }

    fn latest_progress(&self, task_id: &str) -> Result<Option<Progress>> {
        off_runtime(|| self.0.latest_progress(task_id))
    }

    fn queue_wakeups(&self) -> Result<Option<QueueWakeups>> {
        off_runtime(|| self.0.queue_wakeups())
    }

    fn add_schedule(&self, schedule: &ScheduleRow) -> Result<bool> {
        off_runtime(|| self.0.add_schedule(schedule))
    }

    fn schedules(&self) -> Result<Vec<ScheduleRow>> {
        off_runtime(|| self.0.schedules())
    }

    fn set_schedule_paused(&self, name: &str, paused: bool, now_ms: i64) -> Result<bool> {
        off_runtime(|| self.0.set_schedule_paused(name, paused, now_ms))
    }

    fn remove_schedule(&self, name: &str) -> Result<bool> {
        off_runtime(|| self.0.remove_schedule(name))
    }

    fn schedule_caveats(&self, name: &str, limit: usize) -> Result<Vec<ScheduleCaveat>> {
        off_runtime(|| self.0.schedule_caveats(name, limit))
    }

    fn schedule_runs(&self, name: &str) -> Result<Vec<ScheduleRun>> {
        off_runtime(|| self.0.schedule_runs(name))
    }

    fn fire_schedule(&self, firing: &Firing<'_>) -> Result<Option<Vec<String>>> {
        off_runtime(|| self.0.fire_schedule(firing))
    }

    fn finished_before(&self, cutoff: &str) -> Result<Vec<TaskRow>> {
        off_runtime(|| self.0.finished_before(cutoff))
    }

    fn delete_task(&self, task_id: &str) -> Result<()> {
        off_runtime(|| self.0.delete_task(task_id))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use super::off_runtime;

    /// With one runtime thread, a slow journal call still lets a timer task run meanwhile.
    #[test]
    fn a_slow_call_does_not_stall_the_other_tasks_of_its_runtime() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let ticks = Arc::new(AtomicU64::new(0));
        runtime.block_on(async {
            let counted = Arc::clone(&ticks);
            let ticker = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    counted.fetch_add(1, Ordering::Relaxed);
                }
            });
            tokio::time::sleep(Duration::from_millis(20)).await;
            let before = ticks.load(Ordering::Relaxed);
            let slow = tokio::spawn(async {
                off_runtime(|| std::thread::sleep(Duration::from_millis(300)));
            });
            slow.await.expect("slow call");
            let during = ticks.load(Ordering::Relaxed) - before;
            ticker.abort();
            assert!(
                during >= 10,
                "the timer ticked {during} times during a 300 ms call"
            );
        });
    }
}
