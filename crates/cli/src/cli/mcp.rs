//! `nightshift mcp`: serves MCP over stdio, optionally with a worker in the same process.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use nightshift::worker::{Shutdown, Worker, WorkerOptions};
use nightshift_mcp::{Options, Policy, Server};
use tokio::sync::watch;

use super::UsageError;

/// Serve the Model Context Protocol on stdin/stdout, for AI assistants
///
/// Tools: list_pipelines, submit_task, task_status, task_logs, task_report, cancel_task, and
/// one `plugin_NAME` tool per plugin the policy exposes. Resources: each task's report at
/// nightshift://task/{id}/report. A client picks a pipeline (a NAME.toml in --pipelines) and
/// its params, never grants: grants come from the pipeline file, and a pipeline needing more
/// than --policy allows is refused. Logs go to stderr; closing stdin stops the server.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The directory of pipelines a client may submit, by file name without `.toml`
    #[arg(long, value_name = "DIR", default_value = ".")]
    pipelines: PathBuf,

    /// The policy file (TOML): what MCP-started work may have at most
    /// [default: read the workspace, write nothing, no network, no environment, no plugin tools]
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,

    /// The directory tasks work in; grants are relative to it
    #[arg(long, short = 'w', value_name = "DIR", default_value = ".")]
    workspace: PathBuf,

    /// Also run a worker in this process, so submitted tasks run without `nightshift worker`
    #[arg(long)]
    worker: bool,

    /// Tasks the worker runs at once
    #[arg(long, default_value_t = 1, requires = "worker")]
    concurrency: usize,

    /// The largest request accepted; longer ones get an error and are dropped
    #[arg(long, default_value = "1MiB", value_name = "SIZE")]
    max_request: String,
}

pub(crate) fn run(args: Args, state: super::StateArgs) -> super::Result<ExitCode> {
    let policy = match &args.policy {
        Some(path) => Policy::load(path)?,
        None => Policy::default(),
    };
    if args.concurrency == 0 {
        return Err(UsageError("--concurrency must be at least 1".into()).into());
    }
    let max_request = nightshift::manifest::parse_size(&args.max_request)
        .map_err(|e| UsageError(format!("--max-request: {e}")))?;
    if !args.pipelines.is_dir() {
        return Err(UsageError(format!(
            "--pipelines {}: not a directory",
            args.pipelines.display()
        ))
        .into());
    }
    let state = super::open_state(state)?;
    let (_journal, runner) = super::open_runner(&state)?;
    let runner = Arc::new(runner);
    let options = Options {
        pipelines: args.pipelines,
        workspace: args.workspace,
        policy,
        max_request_bytes: usize::try_from(max_request).unwrap_or(usize::MAX),
    };
    let server = Server::new(state.clone(), Arc::clone(&runner), options)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (stop, stopped) = watch::channel(Shutdown::No);
        let worker = args.worker.then(|| {
            let options = WorkerOptions {
                concurrency: args.concurrency,
                ..WorkerOptions::default()
            };
            let worker = Worker::new(Arc::clone(&runner), state.clone(), options);
            tokio::spawn(async move { worker.run(stopped).await })
        });
        let served = server.serve_stdio().await;
        // Stdin closed: running tasks are released now, and resume under the next worker.
        let _ = stop.send(Shutdown::Now);
        if let Some(worker) = worker {
            let summary = worker
                .await
                .map_err(|e| super::Failure::system(e.into()))??;
            tracing::info!(
                finished = summary.finished,
                released = summary.released,
                "the MCP server's worker stopped"
            );
        }
        Ok::<_, super::Failure>(served?)
    })?;
    Ok(ExitCode::SUCCESS)
}
