//! The records the journal stores and returns.

use serde::{Deserialize, Serialize};

use nightshift_plugin_abi::LogLevel;

/// An enum stored in the journal as a word.
macro_rules! word_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word stored in the journal and shown to users.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(text: &str) -> Result<Self, String> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!("unknown {} `{other}`", stringify!($name))),
                }
            }
        }
    };
}

word_enum! {
    /// Where a task stands.
    TaskStatus {
        /// Waiting in the background lane for a worker.
        Queued => "queued",
        /// Running now, or interrupted while running.
        Running => "running",
        /// Every step succeeded.
        Succeeded => "succeeded",
        /// A step failed; the steps after it were skipped.
        Failed => "failed",
        /// Stopped on request; the steps after it were skipped.
        Cancelled => "cancelled",
    }
}

word_enum! {
    /// Where a step stands.
    StepStatus {
        /// Not started yet.
        Pending => "pending",
        /// Running now.
        Running => "running",
        /// Finished successfully.
        Succeeded => "succeeded",
        /// Finished with an error.
        Failed => "failed",
        /// Never run, because an earlier step failed.
        Skipped => "skipped",
        /// Its process stopped while it ran; it runs again on resume.
        Interrupted => "interrupted",
    }
}

word_enum! {
    /// What kind of component a step runs.
    ComponentKind {
        /// A Nightshift plugin (the plugin world).
        Plugin => "plugin",
        /// A `wasi:cli` command.
        Command => "command",
    }
}

word_enum! {
    /// What an event records.
    EventKind {
        /// A log line of the plugin.
        Log => "log",
        /// Progress the plugin reported.
        Progress => "progress",
        /// An audit-trail entry of the plugin.
        Note => "note",
        /// What a command wrote to stdout.
        Stdout => "stdout",
        /// What a command wrote to stderr.
        Stderr => "stderr",
        /// Whether the compiled component came from the cache.
        Cache => "cache",
        /// An attempt started or ended.
        Attempt => "attempt",
        /// A grant the step was not given.
        Grant => "grant",
        /// A host call the sandbox refused.
        Denied => "denied",
        /// A retryable failure, and when the step runs again.
        Retry => "retry",
        /// The step's attempts are used up.
        Exhausted => "exhausted",
        /// The workspace changed under the step; its changes were refused.
        Conflict => "conflict",
        /// Committed changes applied on resume.
        Recovery => "recovery",
        /// A worker claimed or released the task's lease.
        Lease => "lease",
        /// A worker's lease was taken over; its late write was refused.
        Fenced => "fenced",
        /// The task was cancelled while queued.
        Cancel => "cancel",
        /// The host stopped the task on an error.
        Error => "error",
    }
}

word_enum! {
    /// What an artifact is.
    ArtifactKind {
        /// A file of the workspace that the step created, modified or deleted.
        File => "file",
        /// What a command wrote to stdout.
        Stdout => "stdout",
        /// What a command wrote to stderr.
        Stderr => "stderr",
    }
}

word_enum! {
    /// How a step changed a file of the workspace.
    FileChange {
        /// The file did not exist before.
        Created => "created",
        /// The file existed with other content.
        Modified => "modified",
        /// The file is gone.
        Deleted => "deleted",
    }
}

/// A task about to be recorded.
#[derive(Debug, Clone)]
pub struct NewTask<'a> {
    /// The task id.
    pub id: &'a str,
    /// The pipeline's name.
    pub pipeline: &'a str,
    /// The pipeline file.
    pub pipeline_path: &'a str,
    /// blake3 of the pipeline file.
    pub pipeline_digest: &'a str,
    /// The workspace the task runs in.
    pub workspace: &'a str,
    /// The effective pipeline parameters, JSON.
    pub params: &'a str,
    /// The pipeline file's text, so the task can be resumed as it started.
    pub pipeline_text: &'a str,
    /// Its steps, in order.
    pub steps: Vec<NewStep<'a>>,
}

/// A step of a new task.
#[derive(Debug, Clone)]
pub struct NewStep<'a> {
    /// The step id.
    pub step_id: &'a str,
    /// What it runs.
    pub kind: ComponentKind,
    /// The plugin or command reference as the pipeline wrote it.
    pub plugin: &'a str,
    /// blake3 of the component.
    pub plugin_digest: &'a str,
    /// Whether the step is a check: it may not write, and exists to verify.
    pub is_check: bool,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub struct StepResult {
    /// `succeeded` or `failed`.
    pub status: StepStatus,
    /// The summary line.
    pub summary: Option<String>,
    /// The output data, JSON.
    pub data: Option<String>,
    /// The checks, JSON array.
    pub checks: Option<String>,
    /// The caveats, JSON array.
    pub caveats: Option<String>,
    /// The error, when failed.
    pub error: Option<String>,
    /// Wall-clock duration of the attempt.
    pub duration_ms: u64,
}

/// An artifact produced by an attempt.
#[derive(Debug, Clone)]
pub struct NewArtifact {
    /// Workspace-relative path, or `stdout` / `stderr`.
    pub name: String,
    /// What it is.
    pub kind: ArtifactKind,
    /// How the step changed it, for files.
    pub change: Option<FileChange>,
    /// blake3 of the content (none for deleted files); the content is in `cas/`.
    pub blake3: Option<String>,
    /// Size in bytes.
    pub bytes: u64,
}

/// An event about to be appended.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    /// The task.
    pub task_id: &'a str,
    /// The step, if the event belongs to one.
    pub step_id: Option<&'a str>,
    /// The attempt, if the event belongs to one.
    pub attempt: Option<u32>,
    /// What it records.
    pub kind: EventKind,
    /// How loud it is.
    pub level: Option<LogLevel>,
    /// The text.
    pub message: &'a str,
    /// Structured detail, JSON.
    pub data: Option<&'a str>,
}

/// A recorded task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRow {
    /// The task id.
    pub id: String,
    /// The pipeline's name.
    pub pipeline: String,
    /// The pipeline file.
    pub pipeline_path: String,
    /// blake3 of the pipeline file.
    pub pipeline_digest: String,
    /// The workspace.
    pub workspace: String,
    /// The effective parameters, JSON.
    pub params: String,
    /// The pipeline file's text when the task started.
    pub pipeline_text: Option<String>,
    /// Where it stands.
    pub status: TaskStatus,
    /// The step running now, if any.
    pub current_step: Option<String>,
    /// When it was recorded.
    pub created_at: String,
    /// When it started.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
    /// Whether it was submitted to the background lane (else run in the foreground).
    pub background: bool,
    /// Higher runs first among queued tasks.
    pub priority: i64,
    /// The worker holding its lease, while one does.
    pub lease_owner: Option<String>,
    /// When that lease expires (unix milliseconds).
    pub lease_expires: Option<i64>,
    /// The schedule that started it, if any.
    pub schedule: Option<String>,
}

/// A recorded step.
#[derive(Debug, Clone)]
pub struct StepRow {
    /// The step id.
    pub step_id: String,
    /// What it runs.
    pub kind: ComponentKind,
    /// The plugin or command reference.
    pub plugin: String,
    /// blake3 of the component.
    pub plugin_digest: String,
    /// Whether the step is a check.
    pub is_check: bool,
    /// Where it stands.
    pub status: StepStatus,
    /// Attempts made.
    pub attempts: u32,
    /// The summary line of the last attempt.
    pub summary: Option<String>,
    /// The output data of the last attempt, JSON.
    pub data: Option<String>,
    /// The checks, JSON array.
    pub checks: Option<String>,
    /// The caveats, JSON array.
    pub caveats: Option<String>,
    /// The error of the last attempt.
    pub error: Option<String>,
    /// When the first attempt started.
    pub started_at: Option<String>,
    /// When the last attempt ended.
    pub finished_at: Option<String>,
    /// Duration of the last attempt.
    pub duration_ms: Option<u64>,
}

/// A recorded event.
#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    /// Position in the journal; events are read after a cursor of this.
    pub seq: i64,
    /// The step, if any.
    pub step_id: Option<String>,
    /// The attempt, if any.
    pub attempt: Option<u32>,
    /// When it happened.
    pub at: String,
    /// What it records.
    pub kind: EventKind,
    /// How loud it is.
    pub level: Option<LogLevel>,
    /// The text.
    pub message: String,
    /// Structured detail, JSON.
    pub data: Option<String>,
}

/// A recorded artifact.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactRow {
    /// The step that produced it.
    pub step_id: String,
    /// The attempt that produced it.
    pub attempt: u32,
    /// Workspace-relative path, or `stdout` / `stderr`.
    pub name: String,
    /// What it is.
    pub kind: ArtifactKind,
    /// How the step changed it, for files.
    pub change: Option<FileChange>,
    /// blake3 of the content, if it exists.
    pub blake3: Option<String>,
    /// Size in bytes.
    pub bytes: u64,
}

/// What the chain of a task looks like before a record is added to it.
#[derive(Debug, Clone)]
pub struct ChainHead {
    /// The sequence number the new record gets (1 for the first).
    pub seq: u64,
    /// The hash of the record before it, if any.
    pub prev_hash: Option<String>,
}

/// A signed step record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    /// Position in the task's chain, from 1.
    pub seq: u64,
    /// The step it records.
    pub step_id: String,
    /// The attempt it records.
    pub attempt: u32,
    /// The canonical JSON text that was hashed.
    pub body: String,
    /// blake3 of `body`, hex.
    pub hash: String,
    /// ed25519 signature of the hash bytes, hex.
    pub signature: String,
    /// The signing key's id.
    pub key_id: String,
}

/// The end of an attempt, committed in one transaction with its record.
#[derive(Debug, Clone)]
pub struct Commit<'a> {
    /// The task.
    pub task_id: &'a str,
    /// The step.
    pub step_id: &'a str,
    /// The attempt.
    pub attempt: u32,
    /// How it ended.
    pub result: &'a StepResult,
    /// What it produced.
    pub artifacts: &'a [NewArtifact],
    /// Whether its file changes still have to be applied to the workspace.
    pub apply_pending: bool,
    /// The lease the committing worker holds; the commit is refused if it is not current.
    pub fence: Option<&'a super::Lease>,
}

/// A committed attempt whose file changes are not applied to the workspace yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingApply {
    /// The task.
    pub task_id: String,
    /// The step.
    pub step_id: String,
    /// The attempt whose changes to apply.
    pub attempt: u32,
    /// The task's workspace.
    pub workspace: String,
}

impl TaskRow {
    /// The columns both backends select it by, in the order their mappings read them.
    pub const COLUMNS: &'static str = "id, pipeline, pipeline_path, pipeline_digest, workspace, params, \
         status, current_step, created_at, started_at, finished_at, pipeline_text, background, priority, \
         lease_owner, lease_expires, schedule";
}

impl StepRow {
    /// The columns both backends select it by, in the order their mappings read them.
    pub const COLUMNS: &'static str = "step_id, kind, plugin, plugin_digest, status, attempts, summary, \
         data, checks, caveats, error, started_at, finished_at, duration_ms, is_check";
}

impl EventRow {
    /// The columns both backends select it by, in the order their mappings read them.
    pub const COLUMNS: &'static str = "seq, step_id, attempt, at, kind, level, message, data";
}

impl ArtifactRow {
    /// The columns both backends select it by, in the order their mappings read them.
    pub const COLUMNS: &'static str =
        "a.step_id, a.attempt, a.name, a.kind, a.change, a.blake3, a.bytes";
}

impl RecordRow {
    /// The columns both backends select it by, in the order their mappings read them.
    pub const COLUMNS: &'static str = "seq, step_id, attempt, body, hash, signature, key_id";
}

/// An attempt that started but never ended: its process stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DanglingAttempt {
    /// Its step.
    pub step_id: String,
    /// Its number.
    pub attempt: u32,
    /// When it started.
    pub started_at: String,
}

/// A task's sealed report: the digest of its content in `cas/`, signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedReport {
    /// blake3 of the report's content.
    pub blake3: String,
    /// The signature over the digest.
    pub signature: String,
    /// The key that signed it.
    pub key_id: String,
}

/// The last committed change to a path of a workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestProduct {
    /// The task that committed it.
    pub task_id: String,
    /// The digest it left (none for a deletion).
    pub blake3: Option<String>,
}

/// The latest progress a task's plugin reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Its message.
    pub message: String,
    /// Its data (JSON: done and total).
    pub data: Option<String>,
}

/// One due instant of a schedule and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRun {
    /// The due instant, in milliseconds since the epoch.
    pub due_at_ms: i64,
    /// The task it queued, if any (none once pruned, or when skipped).
    pub task_id: Option<String>,
    /// `queued` or `skipped`.
    pub outcome: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each stored word reads back as the value that wrote it, and serde writes the same word.
    fn round_trips<T>(all: &[T])
    where
        T: Copy + PartialEq + std::fmt::Debug + std::fmt::Display + Serialize,
        T: std::str::FromStr<Err = String>,
    {
        for value in all {
            let word = value.to_string();
            assert_eq!(word.parse::<T>(), Ok(*value));
            assert_eq!(serde_json::to_value(value).ok(), Some(word.clone().into()));
        }
        assert!("no-such-word".parse::<T>().is_err());
    }

    #[test]
    fn every_word_round_trips() {
        round_trips(TaskStatus::ALL);
        round_trips(StepStatus::ALL);
        round_trips(ComponentKind::ALL);
        round_trips(EventKind::ALL);
        round_trips(ArtifactKind::ALL);
        round_trips(FileChange::ALL);
    }
}
