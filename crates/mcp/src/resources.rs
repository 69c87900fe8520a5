//! Every task's report as an MCP resource (`nightshift://task/{id}/report`, Markdown), and
//! `resources/updated` notifications when a subscribed task finishes.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    ListResourceTemplatesResult, ListResourcesResult, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate, ResourceUpdatedNotificationParam,
};
use rmcp::service::Peer;
use rmcp::{ErrorData, RoleServer};

use super::Inner;
use super::tools::{Failure, render_report};
use nightshift::journal::{Journal, TaskStatus};

/// How many recent tasks `resources/list` shows (older ones are read by URI).
const LISTED: usize = 100;

/// How often subscribed tasks are looked at.
const WATCH_EVERY: Duration = Duration::from_millis(200);

const PREFIX: &str = "nightshift://task/";
const SUFFIX: &str = "/report";

fn uri(task_id: &str) -> String {
    format!("{PREFIX}{task_id}{SUFFIX}")
}

/// The task id a report URI names.
fn task_of(uri: &str) -> Result<&str, ErrorData> {
    uri.strip_prefix(PREFIX)
        .and_then(|rest| rest.strip_suffix(SUFFIX))
        .filter(|id| !id.is_empty() && !id.contains('/'))
        .ok_or_else(|| {
            ErrorData::invalid_params(
                format!("`{uri}` is not a report resource; use {PREFIX}{{task_id}}{SUFFIX}"),
                None,
            )
        })
}

pub(super) fn list(journal: &Journal) -> Result<ListResourcesResult, ErrorData> {
    let tasks = journal.recent_tasks(LISTED).map_err(Failure::from)?;
    Ok(ListResourcesResult::with_all_items(
        tasks
            .iter()
            .map(|task| {
                Resource::new(uri(&task.id), format!("report of task {}", task.id))
                    .with_description(format!("{} ({})", task.pipeline, task.status))
                    .with_mime_type("text/markdown")
            })
            .collect(),
    ))
}

pub(super) fn templates() -> ListResourceTemplatesResult {
    ListResourceTemplatesResult::with_all_items(vec![
        ResourceTemplate::new(format!("{PREFIX}{{task_id}}{SUFFIX}"), "task report")
            .with_description("The completion report of a task, in Markdown")
            .with_mime_type("text/markdown"),
    ])
}

pub(super) fn read(inner: &Inner, uri: &str) -> Result<ReadResourceResult, ErrorData> {
    let task_id = task_of(uri)?;
    let (_, report) = render_report(inner, task_id).map_err(ErrorData::from)?;
    Ok(ReadResourceResult::new(vec![
        ResourceContents::text(report.to_markdown(), uri).with_mime_type("text/markdown"),
    ]))
}

pub(super) fn subscribe(inner: &Inner, uri: &str) -> Result<(), ErrorData> {
    let task = inner
        .runner
        .journal()
        .find_task(task_of(uri)?)
        .map_err(Failure::from)?;
    lock(inner).insert(task.id);
    Ok(())
}

pub(super) fn unsubscribe(inner: &Inner, uri: &str) -> Result<(), ErrorData> {
    let task_id = task_of(uri)?;
    lock(inner).retain(|id| !id.starts_with(task_id));
    Ok(())
}

fn lock(inner: &Inner) -> std::sync::MutexGuard<'_, std::collections::BTreeSet<String>> {
    inner
        .subscriptions
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Tells the client when a subscribed task has finished, until the session ends.
pub(super) async fn watch(inner: Arc<Inner>, peer: Peer<RoleServer>) {
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        let watched: Vec<String> = lock(&inner).iter().cloned().collect();
        for task_id in watched {
            let finished = match inner.runner.journal().find_task(&task_id) {
                Ok(task) => !matches!(task.status, TaskStatus::Queued | TaskStatus::Running),
                Err(e) => {
                    tracing::warn!(task = %task_id, "cannot watch a subscribed task: {e}");
                    continue;
                }
            };
            if finished {
                lock(&inner).remove(&task_id);
                if let Err(e) = peer
                    .notify_resource_updated(ResourceUpdatedNotificationParam::new(uri(&task_id)))
                    .await
                {
                    tracing::warn!(task = %task_id, "cannot notify the client: {e}");
                }
            }
        }
    }
}
