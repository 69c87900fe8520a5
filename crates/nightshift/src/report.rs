//! The completion report of a task, built from the journal alone (plus the evidence checks
//! of [`crate::evidence::verify`]): what ran, what failed and what it left unverified, what
//! changed, what was checked, where the artifacts are, what caveats remain, and how the
//! evidence stands. Same journal, same bytes: nothing in it depends on when it is made.
//!
//! The JSON shape is versioned ([`SCHEMA`]) and described by `docs/report.schema.json`.

mod build;
mod html;
mod markdown;

use serde::Serialize;

use crate::journal::{ArtifactKind, ComponentKind, FileChange, StepStatus};

pub use build::{BuildError, build, seal};

/// Version of the report's JSON shape.
pub const SCHEMA: &str = "nightshift.report/v1";

/// A task's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// The task.
    pub task_id: String,
    /// The pipeline it ran.
    pub pipeline: PipelineRef,
    /// The workspace it ran in.
    pub workspace: String,
    /// `succeeded`, `failed`, `cancelled`, `interrupted` or `running`.
    pub status: String,
    /// When it started.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
    /// Its steps, in order.
    pub steps: Vec<StepReport>,
    /// Files its steps created, modified or deleted (applied changes only).
    pub changed: Vec<Changed>,
    /// Every check its steps made.
    pub checks: Vec<CheckReport>,
    /// Everything it stored: files, and what commands printed.
    pub artifacts: Vec<Artifact>,
    /// Steps that failed, with what they left unverified.
    pub failures: Vec<Failure>,
    /// What a reader should know about the result's limits.
    pub caveats: Vec<String>,
    /// How the signed records stand.
    pub evidence: Evidence,
    /// The audit-trail notes its steps left, in order.
    pub notes: Vec<Note>,
}

/// The pipeline of a task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelineRef {
    /// Its name.
    pub name: String,
    /// Its file.
    pub path: String,
    /// blake3 of its file.
    pub digest: String,
}

/// One step in a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepReport {
    /// The step id.
    pub id: String,
    /// What it runs.
    pub kind: ComponentKind,
    /// Whether it is a check step.
    pub check: bool,
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Changed {
    /// Workspace-relative path.
    pub path: String,
    /// How the step changed it.
    pub change: FileChange,
    /// blake3 of the new content (none when deleted).
    pub blake3: Option<String>,
    /// Size in bytes.
    pub bytes: u64,
    /// The step that changed it.
    pub step: String,
}

/// A check a step made.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
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

/// A stored artifact.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Artifact {
    /// The step that produced it.
    pub step: String,
    /// Workspace-relative path, or `stdout` / `stderr`.
    pub name: String,
    /// What it is.
    pub kind: ArtifactKind,
    /// Where its content is, relative to the state directory (`cas/ab/abcd…`).
    pub cas: Option<String>,
    /// Where it is in the workspace, for files.
    pub workspace: Option<String>,
    /// blake3 of the content.
    pub blake3: Option<String>,
    /// Size in bytes.
    pub bytes: u64,
}

/// A failed step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// The step.
    pub step: String,
    /// Attempts made.
    pub attempts: u32,
    /// Its last error.
    pub error: String,
    /// What was not verified because of it: the steps that never ran.
    pub unverified: Vec<String>,
}

/// How the task's evidence stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// How many signed records its chain holds.
    pub records: usize,
    /// The hash of the last record.
    pub chain_head: Option<String>,
    /// The public key (hex) that signed them, if the key is present.
    pub public_key: Option<String>,
    /// Its key id.
    pub key_id: Option<String>,
    /// Whether `verify` passed when the report was made.
    pub verified: bool,
    /// What `verify` found wrong.
    pub findings: Vec<String>,
}

/// An audit-trail note.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Note {
    /// The step that left it.
    pub step: Option<String>,
    /// Its text.
    pub text: String,
}

impl Report {
    /// The report as JSON, pretty-printed, ending with a newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The report as Markdown, for a terminal or a document.
    pub fn to_markdown(&self) -> String {
        markdown::render(self)
    }

    /// The report as one self-contained HTML page.
    pub fn to_html(&self) -> String {
        html::render(self)
    }

    /// `✓` for a succeeded task, `✗` otherwise.
    fn mark(&self) -> &'static str {
        if self.status == "succeeded" {
            "✓"
        } else {
            "✗"
        }
    }

    /// Total wall-clock time of the steps' last attempts.
    fn total_ms(&self) -> u64 {
        self.steps.iter().filter_map(|s| s.duration_ms).sum()
    }
}
