//! The report of a task, built from the journal alone: what ran, how it ended, what it
//! checked, what it changed, what caveats remain. Same journal, same report.

use std::fmt::Write as _;

use serde::Serialize;

use crate::journal::{ArtifactRow, Journal, JournalError, StepRow, StepStatus, TaskStatus};

/// Version of the report's JSON shape.
pub const SCHEMA: &str = "nightshift.report/v0";

/// A task's report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// The task.
    pub task_id: String,
    /// The pipeline it ran.
    pub pipeline: PipelineRef,
    /// The workspace it ran in.
    pub workspace: String,
    /// How it ended.
    pub status: TaskStatus,
    /// When it started.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
    /// Its steps, in order.
    pub steps: Vec<StepReport>,
    /// Files its steps created, modified or deleted.
    pub changed: Vec<Changed>,
    /// Every check its steps made.
    pub checks: Vec<CheckReport>,
    /// What a reader should know about the result's limits.
    pub caveats: Vec<String>,
}

/// The pipeline of a task.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineRef {
    /// Its name.
    pub name: String,
    /// Its file.
    pub path: String,
    /// blake3 of its file.
    pub digest: String,
}

/// One step in a report.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// The step id.
    pub id: String,
    /// `plugin` or `command`.
    pub kind: String,
    /// The plugin or command reference.
    pub plugin: String,
    /// blake3 of the component.
    pub plugin_digest: String,
    /// How it ended.
    pub status: StepStatus,
    /// Attempts made.
    pub attempts: u32,
    /// Duration of the last attempt.
    pub duration_ms: Option<u64>,
    /// Its summary line.
    pub summary: Option<String>,
    /// Its error, if it failed.
    pub error: Option<String>,
    /// Its output data.
    pub data: Option<serde_json::Value>,
}

/// A changed file.
#[derive(Debug, Clone, Serialize)]
pub struct Changed {
    /// Workspace-relative path.
    pub path: String,
    /// `created`, `modified` or `deleted`.
    pub change: String,
    /// blake3 of the new content (none when deleted); the content is in `cas/`.
    pub blake3: Option<String>,
    /// Size in bytes.
    pub bytes: u64,
    /// The step that changed it.
    pub step: String,
}

/// A check a step made.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct CheckReport {
    /// The step.
    #[serde(default)]
    pub step: String,
    /// What was checked.
    pub name: String,
    /// The verdict.
    pub passed: bool,
    /// Evidence for it.
    pub detail: String,
}

/// Builds the report of `task_id` (an id or unique prefix) from the journal.
pub fn build(journal: &Journal, task_id: &str) -> Result<Report, JournalError> {
    let task = journal.find_task(task_id)?;
    let steps = journal.steps(&task.id)?;
    let artifacts = journal.artifacts(&task.id)?;

    let mut checks = Vec::new();
    let mut caveats = Vec::new();
    for step in &steps {
        let parsed: Vec<CheckReport> = step
            .checks
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default();
        for mut check in parsed {
            check.step = step.step_id.clone();
            if !check.passed {
                caveats.push(format!(
                    "step `{}`: check `{}` failed: {}",
                    step.step_id, check.name, check.detail
                ));
            }
            checks.push(check);
        }
        let declared: Vec<String> = step
            .caveats
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default();
        caveats.extend(
            declared
                .into_iter()
                .map(|c| format!("step `{}`: {c}", step.step_id)),
        );
        if step.status == StepStatus::Skipped {
            caveats.push(format!(
                "step `{}` was skipped because an earlier step failed",
                step.step_id
            ));
        }
    }

    Ok(Report {
        schema: SCHEMA,
        pipeline: PipelineRef {
            name: task.pipeline,
            path: task.pipeline_path,
            digest: task.pipeline_digest,
        },
        workspace: task.workspace,
        status: task.status,
        started_at: task.started_at,
        finished_at: task.finished_at,
        steps: steps.iter().map(step_report).collect(),
        changed: changed_files(&steps, artifacts),
        checks,
        caveats,
        task_id: task.id,
    })
}

fn step_report(step: &StepRow) -> StepReport {
    StepReport {
        id: step.step_id.clone(),
        kind: step.kind.clone(),
        plugin: step.plugin.clone(),
        plugin_digest: step.plugin_digest.clone(),
        status: step.status,
        attempts: step.attempts,
        duration_ms: step.duration_ms,
        summary: step.summary.clone(),
        error: step.error.clone(),
        data: step
            .data
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok()),
    }
}

/// The file changes of the attempts that counted: the last attempt of each step.
fn changed_files(steps: &[StepRow], artifacts: Vec<ArtifactRow>) -> Vec<Changed> {
    artifacts
        .into_iter()
        .filter(|a| a.kind == "file")
        .filter(|a| {
            steps
                .iter()
                .any(|s| s.step_id == a.step_id && s.attempts == a.attempt)
        })
        .map(|a| Changed {
            path: a.name,
            change: a.change.unwrap_or_default(),
            blake3: a.blake3,
            bytes: a.bytes,
            step: a.step_id,
        })
        .collect()
}

impl Report {
    /// The report as Markdown, for people.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# {} — {}\n", self.pipeline.name, self.status);
        let _ = writeln!(md, "Task `{}` in `{}`.\n", self.task_id, self.workspace);
        let _ = writeln!(
            md,
            "| step | plugin | status | time | result |\n| --- | --- | --- | ---: | --- |"
        );
        for step in &self.steps {
            let time = step
                .duration_ms
                .map(|ms| format!("{ms} ms"))
                .unwrap_or_default();
            let result = step
                .error
                .as_deref()
                .or(step.summary.as_deref())
                .unwrap_or("");
            let _ = writeln!(
                md,
                "| {} | {} | {} | {time} | {} |",
                step.id,
                step.plugin,
                step.status,
                result.replace('|', "\\|")
            );
        }
        if !self.checks.is_empty() {
            let _ = writeln!(md, "\n## Checks\n");
            for check in &self.checks {
                let mark = if check.passed { "pass" } else { "FAIL" };
                let _ = writeln!(
                    md,
                    "- {mark} `{}` {}: {}",
                    check.step, check.name, check.detail
                );
            }
        }
        if !self.changed.is_empty() {
            let _ = writeln!(md, "\n## Changed\n");
            for file in &self.changed {
                let digest = file
                    .blake3
                    .as_deref()
                    .map(|d| &d[..d.len().min(16)])
                    .unwrap_or("-");
                let _ = writeln!(
                    md,
                    "- {} `{}` ({} bytes, blake3 {digest}…) by `{}`",
                    file.change, file.path, file.bytes, file.step
                );
            }
        }
        if !self.caveats.is_empty() {
            let _ = writeln!(md, "\n## Caveats\n");
            for caveat in &self.caveats {
                let _ = writeln!(md, "- {caveat}");
            }
        }
        md
    }
}
