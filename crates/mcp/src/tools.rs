//! The fixed tools: `list_pipelines`, `submit_task`, `task_status`, `task_logs`,
//! `task_report` and `cancel_task`, each with a JSON Schema for its arguments and its result.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock};
use rmcp::{ErrorData, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Inner, Server};
use nightshift::fault::{Classify, Fault};
use nightshift::journal::{JournalError, QueueOptions, TaskRow, TaskStatus};
use nightshift::manifest::{LoadOptions, ManifestError, Plan};
use nightshift::report::{BuildError, Report};
use nightshift::runner::RunError;
use nightshift::tasks::{Cancelled, TaskError};

/// How long `cancel_task` waits for a running task to stop.
const CANCEL_WAIT: Duration = Duration::from_secs(10);

/// Why a tool call did not do its work.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The arguments are wrong (unknown task, bad pipeline name): a JSON-RPC error.
    BadInput(String),
    /// The request is understood but refused (policy, a broken pipeline): a tool error the
    /// assistant reads.
    Refused(String),
    /// Nightshift itself failed.
    Internal(String),
}

impl From<Failure> for ErrorData {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::BadInput(message) => ErrorData::invalid_params(message, None),
            Failure::Refused(message) => ErrorData::invalid_request(message, None),
            Failure::Internal(message) => ErrorData::internal_error(message, None),
        }
    }
}

impl IntoCallToolResult for Failure {
    fn into_call_tool_result(self) -> Result<CallToolResponse, ErrorData> {
        match self {
            Failure::Refused(message) => {
                Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into())
            }
            other => Err(other.into()),
        }
    }
}

impl Failure {
    /// A failure of the request's input or of Nightshift, as the error itself says.
    fn classified(error: &(impl Classify + std::fmt::Display)) -> Failure {
        match error.fault() {
            Fault::Input => Failure::BadInput(error.to_string()),
            Fault::System => Failure::Internal(error.to_string()),
        }
    }
}

impl From<JournalError> for Failure {
    fn from(error: JournalError) -> Self {
        Failure::classified(&error)
    }
}

impl From<ManifestError> for Failure {
    fn from(error: ManifestError) -> Self {
        Failure::Refused(error.to_string())
    }
}

impl From<RunError> for Failure {
    fn from(error: RunError) -> Self {
        Failure::Internal(error.to_string())
    }
}

impl From<BuildError> for Failure {
    fn from(error: BuildError) -> Self {
        Failure::Internal(error.to_string())
    }
}

impl From<TaskError> for Failure {
    fn from(error: TaskError) -> Self {
        Failure::classified(&error)
    }
}

/// A pipeline parameter's value.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum ParamValue {
    /// Text.
    Text(String),
    /// A whole number.
    Integer(i64),
    /// A number.
    Number(f64),
    /// A flag.
    Flag(bool),
}

impl ParamValue {
    fn text(&self) -> String {
        match self {
            ParamValue::Text(text) => text.clone(),
            ParamValue::Integer(n) => n.to_string(),
            ParamValue::Number(n) => n.to_string(),
            ParamValue::Flag(b) => b.to_string(),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubmitArgs {
    /// A pipeline name from list_pipelines (the file NAME.toml of the pipelines directory)
    pipeline: String,
    /// Values for parameters the pipeline declares (see list_pipelines)
    #[serde(default)]
    params: BTreeMap<String, ParamValue>,
    /// A second submit with the same key returns the first task instead of queuing another
    #[serde(default)]
    idempotency_key: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusArgs {
    /// A task id (or a unique prefix); without it, the most recent tasks
    #[serde(default)]
    task_id: Option<String>,
    /// How many recent tasks to list (default 20)
    #[serde(default)]
    limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogsArgs {
    /// A task id (or a unique prefix)
    task_id: String,
    /// Only events after this cursor: pass the `cursor` of the previous call (0 or absent: all)
    #[serde(default)]
    cursor: Option<i64>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Format {
    /// A Markdown page
    #[default]
    Markdown,
    /// The report's JSON document (schema nightshift.report/v1)
    Json,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportArgs {
    /// A task id (or a unique prefix)
    task_id: String,
    /// `markdown` (default) or `json`
    #[serde(default)]
    format: Format,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaskArgs {
    /// A task id (or a unique prefix)
    task_id: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct PipelineOut {
    /// The name to pass to submit_task
    name: String,
    description: Option<String>,
    /// Parameters and their defaults
    params: BTreeMap<String, String>,
    /// The step ids, in order
    steps: Vec<String>,
    /// Whether the policy allows it as written
    allowed: bool,
    /// What it needs beyond the policy, or why it does not load
    missing: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct PipelinesOut {
    pipelines: Vec<PipelineOut>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct SubmitOut {
    task_id: String,
    /// `queued`, or the status of the task an idempotency key matched
    status: String,
    /// True when the idempotency key matched an earlier task and nothing new was queued
    existing: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct StepOut {
    id: String,
    status: String,
    attempts: u32,
    summary: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct TaskOut {
    task_id: String,
    /// queued, running, interrupted (its process is gone), succeeded, failed or cancelled
    status: String,
    pipeline: String,
    current_step: Option<String>,
    created_at: String,
    started_at: Option<String>,
    finished_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    steps: Option<Vec<StepOut>>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct StatusOut {
    /// The task asked about, if one was
    task_id: Option<String>,
    /// Its status, if one task was asked about
    status: Option<String>,
    tasks: Vec<TaskOut>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct EventOut {
    seq: i64,
    step_id: Option<String>,
    at: String,
    kind: String,
    level: Option<String>,
    message: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct LogsOut {
    task_id: String,
    status: String,
    events: Vec<EventOut>,
    /// Pass this as `cursor` next time to get only newer events
    cursor: i64,
    /// True once the task has ended: no event will follow
    finished: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ReportOut {
    task_id: String,
    status: String,
    format: Format,
    /// The Markdown text, or the JSON document
    report: serde_json::Value,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct CancelOut {
    task_id: String,
    /// The status after the cancellation
    status: String,
    message: String,
}

/// The report of a task as `nightshift report` builds it, with its task row.
pub(crate) fn render_report(inner: &Inner, task_id: &str) -> Result<(TaskRow, Report), Failure> {
    Ok(inner.tasks.report(task_id)?)
}

/// The pipeline file a name stands for: `DIR/NAME.toml`; paths and file names are refused.
fn pipeline_path(inner: &Inner, name: &str) -> Result<PathBuf, Failure> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(Failure::BadInput(format!(
            "`{name}` is not a pipeline name: give a name from list_pipelines (letters, digits, `-`, `_`); paths, .toml and .wasm files are refused"
        )));
    }
    let path = inner.options.pipelines.join(format!("{name}.toml"));
    if !path.is_file() {
        return Err(Failure::BadInput(format!(
            "no pipeline named `{name}` in the pipelines directory; list_pipelines shows them"
        )));
    }
    Ok(path)
}

/// Loads a pipeline with `params` and checks it against the policy.
fn load_allowed(inner: &Inner, name: &str, params: &[(String, String)]) -> Result<Plan, Failure> {
    let path = pipeline_path(inner, name)?;
    let options = LoadOptions {
        workspace: &inner.options.workspace,
        state_dir: inner.state.root(),
        params,
        catalog: &inner.catalog,
    };
    let plan = Plan::load(&path, &options)?;
    let missing = inner.options.policy.excess(&plan);
    if !missing.is_empty() {
        return Err(Failure::Refused(format!(
            "pipeline `{name}` needs more than the MCP policy allows: {}",
            missing.join("; ")
        )));
    }
    Ok(plan)
}

#[tool_router(router = fixed_tools, vis = "pub(super)")]
impl Server {
    /// The pipelines a client may submit, with their descriptions, parameters and whether
    /// the policy allows them.
    #[tool(
        description = "List the pipelines that can be submitted: name, description, parameters (with defaults), steps, and whether the server's policy allows them (and if not, what is missing)"
    )]
    async fn list_pipelines(&self) -> Result<Json<PipelinesOut>, Failure> {
        let inner = &self.inner;
        let mut names: Vec<String> = std::fs::read_dir(&inner.options.pipelines)
            .map_err(|e| {
                Failure::Internal(format!(
                    "cannot read the pipelines directory {}: {e}",
                    inner.options.pipelines.display()
                ))
            })?
            .flatten()
            .filter_map(|entry| {
                let name = entry
                    .file_name()
                    .to_str()?
                    .strip_suffix(".toml")?
                    .to_owned();
                Some(name)
            })
            .collect();
        names.sort();
        let mut pipelines = Vec::new();
        for name in names {
            let out = match load_allowed(inner, &name, &[]) {
                Ok(plan) => PipelineOut {
                    name,
                    description: plan.description.clone(),
                    params: plan.params.clone(),
                    steps: plan.steps.iter().map(|s| s.id.clone()).collect(),
                    allowed: true,
                    missing: Vec::new(),
                },
                Err(Failure::Refused(why)) | Err(Failure::BadInput(why)) => PipelineOut {
                    name,
                    description: None,
                    params: BTreeMap::new(),
                    steps: Vec::new(),
                    allowed: false,
                    missing: vec![why],
                },
                Err(internal) => return Err(internal),
            };
            pipelines.push(out);
        }
        Ok(Json(PipelinesOut { pipelines }))
    }

    #[tool(
        description = "Queue a pipeline (by name, from list_pipelines) for the background lane and return its task id at once; never waits for the task. Grants come from the pipeline file within the server's policy, never from the client"
    )]
    async fn submit_task(
        &self,
        Parameters(args): Parameters<SubmitArgs>,
    ) -> Result<Json<SubmitOut>, Failure> {
        let inner = &self.inner;
        let params: Vec<(String, String)> = args
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.text()))
            .collect();
        let plan = load_allowed(inner, &args.pipeline, &params)?;
        let queue = QueueOptions {
            idempotency_key: args.idempotency_key.as_deref(),
            ..QueueOptions::default()
        };
        let submitted = inner.tasks.submit(&plan, &queue)?;
        let task = inner.tasks.find(&submitted.task_id)?;
        tracing::info!(task = %task.id, pipeline = %plan.name, "submitted through MCP");
        Ok(Json(SubmitOut {
            task_id: task.id,
            status: task.status.as_str().to_owned(),
            existing: submitted.existing,
        }))
    }

    #[tool(description = "Where one task stands (with its steps), or the most recent tasks")]
    async fn task_status(
        &self,
        Parameters(args): Parameters<StatusArgs>,
    ) -> Result<Json<StatusOut>, Failure> {
        let service = &self.inner.tasks;
        let (views, one) = match &args.task_id {
            Some(id) => (vec![service.view(id)?], true),
            None => (service.recent(args.limit.unwrap_or(20))?, false),
        };
        let mut out = Vec::with_capacity(views.len());
        for view in &views {
            let task = &view.task;
            let steps = if one {
                Some(
                    service
                        .steps(&task.id)?
                        .into_iter()
                        .map(|s| StepOut {
                            id: s.step_id,
                            status: s.status.as_str().to_owned(),
                            attempts: s.attempts,
                            summary: s.summary,
                            error: s.error,
                        })
                        .collect(),
                )
            } else {
                None
            };
            out.push(TaskOut {
                task_id: task.id.clone(),
                status: view.status.as_str().to_owned(),
                pipeline: task.pipeline.clone(),
                current_step: task.current_step.clone(),
                created_at: task.created_at.clone(),
                started_at: task.started_at.clone(),
                finished_at: task.finished_at.clone(),
                steps,
            });
        }
        let (task_id, status) = match (one, out.first()) {
            (true, Some(t)) => (Some(t.task_id.clone()), Some(t.status.clone())),
            _ => (None, None),
        };
        Ok(Json(StatusOut {
            task_id,
            status,
            tasks: out,
        }))
    }

    #[tool(
        description = "A task's events (logs, progress, notes, what commands printed) after a cursor; pass the returned cursor next time to poll without rereading"
    )]
    async fn task_logs(
        &self,
        Parameters(args): Parameters<LogsArgs>,
    ) -> Result<Json<LogsOut>, Failure> {
        let after = args.cursor.unwrap_or(0);
        // The task is read before its events: events written before it ended are all
        // included.
        let (view, events) = self.inner.tasks.events(&args.task_id, after)?;
        let cursor = events.iter().map(|e| e.seq).fold(after, i64::max);
        Ok(Json(LogsOut {
            status: view.status.as_str().to_owned(),
            task_id: view.task.id,
            events: events
                .into_iter()
                .map(|e| EventOut {
                    seq: e.seq,
                    step_id: e.step_id,
                    at: e.at,
                    kind: e.kind.as_str().to_owned(),
                    level: e.level.map(|l| l.as_str().to_owned()),
                    message: e.message,
                })
                .collect(),
            cursor,
            finished: view.status.is_finished(),
        }))
    }

    #[tool(
        description = "A task's completion report (markdown or json): what changed, what was checked, what failed, caveats, and how its signed evidence stands"
    )]
    async fn task_report(
        &self,
        Parameters(args): Parameters<ReportArgs>,
    ) -> Result<Json<ReportOut>, Failure> {
        let (task, report) = render_report(&self.inner, &args.task_id)?;
        let body = match args.format {
            Format::Markdown => serde_json::Value::String(report.to_markdown()),
            Format::Json => serde_json::to_value(&report)
                .map_err(|e| Failure::Internal(format!("cannot encode the report: {e}")))?,
        };
        Ok(Json(ReportOut {
            task_id: task.id,
            status: report.status.clone(),
            format: args.format,
            report: body,
        }))
    }

    #[tool(
        description = "Cancel a task: a queued one never starts; a running step stops at its next check, its staged changes are dropped, and later steps never run"
    )]
    async fn cancel_task(
        &self,
        Parameters(args): Parameters<TaskArgs>,
    ) -> Result<Json<CancelOut>, Failure> {
        let (task, cancelled) = self.inner.tasks.cancel(&args.task_id, CANCEL_WAIT).await?;
        let (status, message) = match cancelled {
            Cancelled::BeforeStart => (TaskStatus::Cancelled, "cancelled; it never started".into()),
            Cancelled::Stopped(status) => (status, status.to_string()),
            Cancelled::AlreadyEnded(status) => {
                (status, format!("already {status}; nothing to cancel"))
            }
            Cancelled::Requested { .. } => (
                task.status,
                "cancellation requested; the process running it has not stopped it yet".into(),
            ),
        };
        Ok(Json(CancelOut {
            task_id: task.id,
            status: status.as_str().to_owned(),
            message,
        }))
    }
}
