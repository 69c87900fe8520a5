//! Each plugin the policy exposes, as a tool (`plugin_NAME`) that runs one sandboxed step
//! synchronously: a one-step pipeline whose grants come from the policy (and only what the
//! plugin requests is given), run in the foreground of the server with [`Runner::run`], so
//! it is recorded in the journal like any step. Progress the plugin reports is sent as MCP
//! progress notifications.
//!
//! The tool's `params` are described by the JSON Schema the plugin declares in its metadata
//! (`export_plugin!(..., params_schema: ...)`); a plugin that declares none takes any JSON
//! object. Either way the plugin itself refuses params it cannot decode, naming the field.
//!
//! [`Runner::run`]: nightshift::runner::Runner::run

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRoute;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolResponse, CallToolResult, JsonObject, ProgressNotificationParam, ProgressToken, Tool,
};
use rmcp::service::{Peer, RequestContext};
use rmcp::{ErrorData, RoleServer};
use serde::Serialize;
use tokio::sync::mpsc;

use super::policy::Policy;
use super::tools::Failure;
use super::{Inner, Server};
use nightshift::catalog::{Catalog, LookupError};
use nightshift::journal::StepStatus;
use nightshift::manifest::{LoadOptions, Plan};
use nightshift::runner::Observer;

/// The prefix of plugin tool names.
const PREFIX: &str = "plugin_";

/// The step id of a plugin tool's one-step pipeline.
const STEP: &str = "call";

/// The tools of the plugins `policy` exposes.
pub(super) fn routes(
    catalog: &Catalog,
    policy: &Policy,
) -> Result<Vec<ToolRoute<Server>>, LookupError> {
    let mut routes = Vec::new();
    for name in &policy.plugins {
        let source = catalog.resolve(name, Path::new("."))?;
        let about = source
            .metadata
            .as_ref()
            .map(|m| m.description.clone())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| format!("the plugin `{name}`"));
        let tool = Tool::new(
            format!("{PREFIX}{name}"),
            format!(
                "Run {about} as one sandboxed step, now, and return its summary, data and checks with the task id that records it. Grants come from the server's policy"
            ),
            Arc::new(input_schema(
                source.metadata.as_ref().and_then(|m| m.params_schema.as_ref()),
            )),
        )
        .with_raw_output_schema(Arc::new(output_schema()));
        let plugin = name.clone();
        routes.push(ToolRoute::new_dyn(tool, move |cx| {
            invoke(cx, plugin.clone())
        }));
    }
    Ok(routes)
}

type CallFuture<'a> =
    Pin<Box<dyn Future<Output = Result<CallToolResponse, ErrorData>> + Send + 'a>>;

fn invoke(cx: ToolCallContext<'_, Server>, plugin: String) -> CallFuture<'_> {
    Box::pin(
        async move { call(&cx.service.inner, &plugin, cx.arguments, cx.request_context).await },
    )
}

/// The tool's input: `params`, as the plugin's declared schema describes them.
fn input_schema(params: Option<&serde_json::Value>) -> JsonObject {
    let params = params.cloned().unwrap_or_else(|| {
        serde_json::json!({
            "type": "object",
            "description": "The plugin's params, as a pipeline step's `params` table would give them",
            "additionalProperties": true
        })
    });
    let schema = serde_json::json!({
        "type": "object",
        "properties": { "params": params },
        "additionalProperties": false
    });
    match schema {
        serde_json::Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

fn output_schema() -> JsonObject {
    let schema = serde_json::json!({
        "type": "object",
        "properties": {
            "task_id": { "type": "string" },
            "status": { "type": "string" },
            "summary": { "type": ["string", "null"] },
            "data": {},
            "checks": {},
            "caveats": {},
            "error": { "type": ["string", "null"] },
            "duration_ms": { "type": ["integer", "null"] }
        },
        "required": ["task_id", "status"]
    });
    match schema {
        serde_json::Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

/// What a plugin tool returns.
#[derive(Debug, Serialize)]
struct PluginOut {
    task_id: String,
    status: String,
    summary: Option<String>,
    data: serde_json::Value,
    checks: serde_json::Value,
    caveats: serde_json::Value,
    error: Option<String>,
    duration_ms: Option<u64>,
}

/// The one-step pipeline that runs `plugin` with `params`, granted what the policy allows.
fn pipeline(plugin: &str, params: serde_json::Value, policy: &Policy) -> Result<String, Failure> {
    let params = toml::Value::try_from(params)
        .map_err(|e| Failure::BadInput(format!("`params` cannot be given to a plugin: {e}")))?;
    let list = |items: &[String]| {
        toml::Value::Array(items.iter().cloned().map(toml::Value::String).collect())
    };
    let mut grants = toml::Table::new();
    grants.insert("read".into(), list(&policy.read));
    grants.insert("write".into(), list(&policy.write));
    grants.insert("network".into(), list(&policy.network));
    grants.insert("env".into(), list(&policy.env));
    grants.insert(
        "timeout".into(),
        toml::Value::String(format!("{}ms", policy.max_timeout.as_millis())),
    );
    grants.insert(
        "memory".into(),
        toml::Value::String(policy.max_memory.to_string()),
    );
    let mut step = toml::Table::new();
    step.insert("id".into(), toml::Value::String(STEP.into()));
    step.insert("plugin".into(), toml::Value::String(plugin.into()));
    step.insert("params".into(), params);
    step.insert("grants".into(), toml::Value::Table(grants));
    let mut root = toml::Table::new();
    root.insert("name".into(), toml::Value::String(format!("mcp-{plugin}")));
    root.insert(
        "description".into(),
        toml::Value::String(format!("the plugin `{plugin}`, called as an MCP tool")),
    );
    root.insert(
        "step".into(),
        toml::Value::Array(vec![toml::Value::Table(step)]),
    );
    toml::to_string(&root)
        .map_err(|e| Failure::Internal(format!("cannot write the one-step pipeline: {e}")))
}

/// Sends the plugin's progress to the client as progress notifications.
struct Progress {
    sender: mpsc::UnboundedSender<(u64, u64, String)>,
}

impl Observer for Progress {
    fn step_started(&self, _: usize, _: usize, _: &str) {}
    fn progress(&self, _step: &str, done: u64, total: u64, message: &str) {
        // The forwarder ends with the call; a late report has no one to go to.
        let _ = self.sender.send((done, total, message.to_owned()));
    }
    fn step_finished(&self, _: &str, _: StepStatus, _: u64, _: &str) {}
}

async fn forward(
    peer: Peer<RoleServer>,
    token: ProgressToken,
    mut reports: mpsc::UnboundedReceiver<(u64, u64, String)>,
) {
    while let Some((done, total, message)) = reports.recv().await {
        let mut note =
            ProgressNotificationParam::new(token.clone(), done as f64).with_message(message);
        if total > 0 {
            note = note.with_total(total as f64);
        }
        if let Err(e) = peer.notify_progress(note).await {
            tracing::debug!("cannot send progress: {e}");
            return;
        }
    }
}

async fn call(
    inner: &Inner,
    plugin: &str,
    arguments: Option<JsonObject>,
    cx: RequestContext<RoleServer>,
) -> Result<CallToolResponse, ErrorData> {
    let mut arguments = arguments.unwrap_or_default();
    let params = arguments
        .remove("params")
        .unwrap_or_else(|| serde_json::Value::Object(JsonObject::new()));
    if let Some(extra) = arguments.keys().next() {
        return Err(ErrorData::invalid_params(
            format!("unknown argument `{extra}`: a plugin tool takes only `params`"),
            None,
        ));
    }
    if !params.is_object() {
        return Err(ErrorData::invalid_params(
            "`params` must be an object",
            None,
        ));
    }
    match run(inner, plugin, params, cx).await {
        Ok(response) => Ok(response),
        Err(Failure::Refused(message)) => {
            Ok(CallToolResult::error(vec![rmcp::model::ContentBlock::text(message)]).into())
        }
        Err(other) => Err(other.into()),
    }
}

async fn run(
    inner: &Inner,
    plugin: &str,
    params: serde_json::Value,
    cx: RequestContext<RoleServer>,
) -> Result<CallToolResponse, Failure> {
    let policy = &inner.options.policy;
    let text = pipeline(plugin, params, policy)?;
    let source = Path::new("mcp:plugin").join(plugin);
    let options = LoadOptions {
        workspace: &inner.options.workspace,
        state_dir: inner.state.root(),
        params: &[],
        catalog: &inner.catalog,
    };
    let plan = Plan::parse(&source, text.into_bytes(), &options).map_err(|e| {
        Failure::Refused(format!(
            "plugin `{plugin}` cannot run within the MCP policy: {e}"
        ))
    })?;
    let (sender, reports) = mpsc::unbounded_channel();
    let forwarder = cx
        .meta
        .get_progress_token()
        .map(|token| tokio::spawn(forward(cx.peer.clone(), token, reports)));
    let outcome = inner.runner.run(&plan, Arc::new(Progress { sender })).await;
    if let Some(forwarder) = forwarder {
        // Every report was sent once the observer is gone; wait briefly for the last ones.
        let _ = tokio::time::timeout(Duration::from_secs(1), forwarder).await;
    }
    let outcome = outcome?;
    inner.runner.seal_report(&outcome.task_id)?;
    let journal = inner.runner.journal();
    let step = journal
        .steps(&outcome.task_id)?
        .into_iter()
        .find(|s| s.step_id == STEP)
        .ok_or_else(|| Failure::Internal(format!("task {} has no step", outcome.task_id)))?;
    let json = |text: Option<String>| {
        text.and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(serde_json::Value::Null)
    };
    let out = PluginOut {
        task_id: outcome.task_id.clone(),
        status: outcome.status.as_str().to_owned(),
        summary: step.summary,
        data: json(step.data),
        checks: json(step.checks),
        caveats: json(step.caveats),
        error: step.error,
        duration_ms: step.duration_ms,
    };
    let value = serde_json::to_value(&out)
        .map_err(|e| Failure::Internal(format!("cannot encode the result: {e}")))?;
    let succeeded = outcome.status == nightshift::journal::TaskStatus::Succeeded;
    Ok(if succeeded {
        CallToolResult::structured(value)
    } else {
        CallToolResult::structured_error(value)
    }
    .into())
}
