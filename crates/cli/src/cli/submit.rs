//! `nightshift submit`: validates a pipeline and queues it for the background lane.

use std::path::PathBuf;
use std::process::ExitCode;

use nightshift::journal::QueueOptions;

use super::UsageError;

/// Queue a pipeline for a worker and print its task id at once
///
/// The pipeline is checked now (a broken one exits 2 and queues nothing); `nightshift worker`
/// runs it. Follow it with `nightshift status TASK` and `nightshift logs TASK --follow`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The pipeline file (TOML)
    pipeline: PathBuf,

    /// The directory the steps work in; grants are relative to it
    #[arg(long, short = 'w', value_name = "DIR", default_value = ".")]
    workspace: PathBuf,

    /// Set a pipeline parameter declared under [params] (repeatable)
    #[arg(long = "param", short = 'p', value_name = "KEY=VALUE", value_parser = super::run::parse_param)]
    params: Vec<(String, String)>,

    /// A second submit with the same key returns the first task instead of queuing another
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,

    /// Higher runs first among queued tasks
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    priority: i64,

    /// Do not start before this time: RFC 3339 (2026-11-26T08:00:00Z) or a delay (10m)
    #[arg(long, value_name = "TIME")]
    not_before: Option<String>,

    /// Print {"task_id", "status", "existing"} as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args, state: super::StateArgs) -> super::Result<ExitCode> {
    let not_before = args.not_before.as_deref().map(parse_time).transpose()?;
    let tasks = super::open_tasks(state)?;
    let plan = super::load_plan(tasks.state(), &args.pipeline, &args.workspace, &args.params)?;
    let queue = QueueOptions {
        priority: args.priority,
        not_before,
        idempotency_key: args.idempotency_key.as_deref(),
        ..QueueOptions::default()
    };
    let submitted = tasks.submit(&plan, &queue)?;
    let task = tasks.find(&submitted.task_id)?;
    if args.json {
        super::print_json(&serde_json::json!({
            "task_id": submitted.task_id,
            "status": task.status.as_str(),
            "existing": submitted.existing,
        }))?;
    } else {
        if submitted.existing {
            eprintln!(
                "the idempotency key matches task {} ({}); nothing new was queued",
                task.id, task.status
            );
        }
        println!("{}", submitted.task_id);
    }
    Ok(ExitCode::SUCCESS)
}

/// An absolute RFC 3339 time, or a delay from now, as unix milliseconds.
pub(crate) fn parse_time(text: &str) -> Result<i64, UsageError> {
    if let Ok(delay) = nightshift::manifest::parse_duration(text) {
        return Ok(nightshift::time_format::now_ms() + delay.as_millis() as i64);
    }
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|at| (at.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|e| {
            UsageError(format!(
                "`{text}` is neither an RFC 3339 time (2026-11-26T08:00:00Z) nor a delay (10m): {e}"
            ))
        })
}
