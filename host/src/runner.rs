//! Drives one task: its steps in order, each in a fresh sandbox, every attempt and what it
//! produced written to the journal as it happens.

mod host_calls;

use std::sync::Arc;
use std::time::Instant;

use crate::evidence::{Cas, CasError, Snapshot};
use crate::journal::{
    Journal, JournalError, NewArtifact, NewEvent, NewStep, NewTask, StepResult, StepStatus,
    TaskStatus,
};
use crate::manifest::{Plan, StepKind, StepPlan};
use crate::sandbox::{Captured, PriorOutput, Sandbox, SandboxError, StepError, StepInput};
use host_calls::JournalHost;

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
}

/// Runs tasks against one journal, artifact store and sandbox.
pub struct Runner {
    journal: Arc<Journal>,
    sandbox: Arc<Sandbox>,
    cas: Cas,
}

/// What one attempt produced, before it is recorded.
struct AttemptRecord {
    result: StepResult,
    artifacts: Vec<NewArtifact>,
    prior: Option<PriorOutput>,
}

impl Runner {
    /// A runner over these stores.
    pub fn new(journal: Arc<Journal>, sandbox: Arc<Sandbox>, cas: Cas) -> Self {
        Runner {
            journal,
            sandbox,
            cas,
        }
    }

    /// Records a new task for `plan` and runs it to the end.
    pub async fn run(
        &self,
        plan: &Plan,
        observer: Arc<dyn Observer>,
    ) -> Result<TaskOutcome, RunError> {
        let task_id = uuid::Uuid::now_v7().simple().to_string();
        let params = serde_json::to_string(&plan.params).unwrap_or_else(|_| "{}".into());
        let source = plan.source.display().to_string();
        let workspace = plan.workspace.display().to_string();
        self.journal.create_task(&NewTask {
            id: &task_id,
            pipeline: &plan.name,
            pipeline_path: &source,
            pipeline_digest: &plan.digest,
            workspace: &workspace,
            params: &params,
            steps: plan
                .steps
                .iter()
                .map(|s| NewStep {
                    step_id: &s.id,
                    kind: s.kind.name(),
                    plugin: &s.kind.component().reference,
                    plugin_digest: &s.kind.component().digest,
                })
                .collect(),
        })?;
        tracing::info!(task = %task_id, pipeline = %plan.name, "task started");

        let mut prior = Vec::new();
        let mut status = TaskStatus::Succeeded;
        for (index, step) in plan.steps.iter().enumerate() {
            observer.step_started(index, plan.steps.len(), &step.id);
            let attempt = 1;
            self.journal.start_attempt(&task_id, &step.id, attempt)?;
            let started = Instant::now();
            let mut record = self
                .attempt(&task_id, step, attempt, &prior, &observer)
                .await?;
            record.result.duration_ms = started.elapsed().as_millis() as u64;
            self.journal.finish_attempt(
                &task_id,
                &step.id,
                attempt,
                &record.result,
                &record.artifacts,
            )?;
            let detail = record
                .result
                .error
                .as_deref()
                .or(record.result.summary.as_deref())
                .unwrap_or("");
            observer.step_finished(
                &step.id,
                record.result.status,
                record.result.duration_ms,
                detail,
            );
            if record.result.status != StepStatus::Succeeded {
                status = TaskStatus::Failed;
                self.journal.skip_pending_steps(&task_id)?;
                break;
            }
            prior.extend(record.prior);
        }
        self.journal.finish_task(&task_id, status)?;
        tracing::info!(task = %task_id, %status, "task ended");
        Ok(TaskOutcome { task_id, status })
    }

    async fn attempt(
        &self,
        task_id: &str,
        step: &StepPlan,
        attempt: u32,
        prior: &[PriorOutput],
        observer: &Arc<dyn Observer>,
    ) -> Result<AttemptRecord, RunError> {
        let scope = EventScope {
            journal: &self.journal,
            task_id,
            step_id: &step.id,
            attempt,
        };
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
                scope.append("cache", Some("debug"), &message, Some(&data))?;
                prepared
            }
            Err(e) => return Ok(failed(e.to_string())),
        };

        let write_dirs: Vec<_> = step
            .grants
            .write
            .iter()
            .map(|d| (d.host.as_path(), d.guest.as_str()))
            .collect();
        let before = Snapshot::take(write_dirs.iter().copied());
        let host = Box::new(JournalHost::new(
            Arc::clone(&self.journal),
            task_id,
            &step.id,
            attempt,
            Arc::clone(observer),
        ));

        let mut record = match &step.kind {
            StepKind::Plugin { params, .. } => {
                let input = StepInput {
                    task_id: task_id.to_owned(),
                    step_id: step.id.clone(),
                    attempt,
                    params: params.to_string(),
                    prior: prior.to_vec(),
                    checkpoint: self.journal.checkpoint(task_id, &step.id)?,
                };
                let captured = self
                    .sandbox
                    .run_plugin(&prepared, &step.grants, &input, host)
                    .await;
                let (outcome, artifacts) = self.keep_stdio(captured, &scope)?;
                let mut record = plugin_record(outcome);
                record.artifacts = artifacts;
                if let Some(prior) = &mut record.prior {
                    prior.step_id = step.id.clone();
                }
                record
            }
            StepKind::Command { args, stdin, .. } => {
                let captured = self
                    .sandbox
                    .run_command(&prepared, &step.grants, args, stdin.as_deref(), host)
                    .await;
                let (outcome, artifacts) = self.keep_stdio(captured, &scope)?;
                let mut record = command_record(outcome);
                record.artifacts = artifacts;
                record
            }
        };

        let after = Snapshot::take(write_dirs.iter().copied());
        for change in before.changes(&after) {
            let (blake3, bytes) = match change.kind {
                crate::evidence::ChangeKind::Deleted => (None, 0),
                _ => match std::fs::read(&change.host_path) {
                    Ok(content) => (Some(self.cas.put(&content)?), content.len() as u64),
                    Err(e) => {
                        let message = format!("cannot read changed file {}: {e}", change.path);
                        scope.append("evidence", Some("warn"), &message, None)?;
                        continue;
                    }
                },
            };
            record.artifacts.push(NewArtifact {
                name: change.path,
                kind: "file",
                change: Some(change.kind.as_str()),
                blake3,
                bytes,
            });
        }
        Ok(record)
    }

    /// Stores non-empty stdout and stderr in the artifact store and logs them as events.
    fn keep_stdio<T>(
        &self,
        captured: Captured<T>,
        scope: &EventScope<'_>,
    ) -> Result<(Result<T, SandboxError>, Vec<NewArtifact>), RunError> {
        let mut artifacts = Vec::new();
        for (stream, bytes) in [("stdout", &captured.stdout), ("stderr", &captured.stderr)] {
            if bytes.is_empty() {
                continue;
            }
            let digest = self.cas.put(bytes)?;
            let text = String::from_utf8_lossy(bytes);
            let data = serde_json::json!({ "blake3": digest, "bytes": bytes.len() }).to_string();
            scope.append(stream, None, &text, Some(&data))?;
            artifacts.push(NewArtifact {
                name: stream.to_owned(),
                kind: stream,
                change: None,
                blake3: Some(digest),
                bytes: bytes.len() as u64,
            });
        }
        Ok((captured.outcome, artifacts))
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
        kind: &str,
        level: Option<&str>,
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

fn failed(error: String) -> AttemptRecord {
    AttemptRecord {
        result: StepResult {
            status: StepStatus::Failed,
            summary: None,
            data: None,
            checks: None,
            caveats: None,
            error: Some(error),
            duration_ms: 0,
        },
        artifacts: Vec::new(),
        prior: None,
    }
}

fn plugin_record(
    outcome: Result<Result<crate::sandbox::StepOutput, StepError>, SandboxError>,
) -> AttemptRecord {
    let output = match outcome {
        Err(e) => return failed(e.to_string()),
        Ok(Err(StepError::Fatal(message))) => return failed(format!("plugin failed: {message}")),
        Ok(Err(StepError::Retryable(message))) => {
            return failed(format!("plugin failed (retryable): {message}"));
        }
        Ok(Ok(output)) => output,
    };
    let data = match serde_json::from_str::<serde_json::Value>(&output.data) {
        Ok(_) => output.data.clone(),
        Err(e) => return failed(format!("plugin returned data that is not JSON: {e}")),
    };
    let checks: Vec<_> = output
        .checks
        .iter()
        .map(|c| serde_json::json!({ "name": c.name, "passed": c.passed, "detail": c.detail }))
        .collect();
    AttemptRecord {
        result: StepResult {
            status: StepStatus::Succeeded,
            summary: Some(output.summary.clone()),
            data: Some(data.clone()),
            checks: Some(serde_json::Value::from(checks).to_string()),
            caveats: Some(serde_json::Value::from(output.caveats.clone()).to_string()),
            error: None,
            duration_ms: 0,
        },
        artifacts: Vec::new(),
        prior: Some(PriorOutput {
            step_id: String::new(),
            data,
        }),
    }
}

fn command_record(outcome: Result<i32, SandboxError>) -> AttemptRecord {
    match outcome {
        Err(e) => failed(e.to_string()),
        Ok(0) => AttemptRecord {
            result: StepResult {
                status: StepStatus::Succeeded,
                summary: Some("exited with code 0".to_owned()),
                data: Some(serde_json::json!({ "exit_code": 0 }).to_string()),
                checks: None,
                caveats: None,
                error: None,
                duration_ms: 0,
            },
            artifacts: Vec::new(),
            prior: None,
        },
        Ok(code) => failed(format!("command exited with code {code}")),
    }
}
