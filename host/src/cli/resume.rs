//! `nightshift resume`: continues an interrupted task from what its journal says happened.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use nightshift::manifest::{LoadOptions, Plan};
use nightshift::plugins::Catalog;

/// Continue an interrupted task from its first step without a committed success
///
/// Changes a step committed but did not finish applying are applied first; attempts the
/// stopped process left open are recorded as interrupted. A finished task is left alone.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A task id, or a unique prefix of one
    task: String,

    /// Print the report as JSON on stdout instead of text, and no progress
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args, state: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let state = super::open_state(state)?;
    let (journal, runner) = super::open_runner(&state)?;
    let task = journal.find_task(&args.task)?;
    let text = task
        .pipeline_text
        .clone()
        .with_context(|| format!("task {} has no stored pipeline to resume from", task.id))?;
    let params: std::collections::BTreeMap<String, String> = serde_json::from_str(&task.params)
        .with_context(|| format!("task {}: stored params", task.id))?;
    let params: Vec<_> = params.into_iter().collect();
    let catalog = Catalog::new(state.plugins_dir());
    let options = LoadOptions {
        workspace: Path::new(&task.workspace),
        state_dir: state.root(),
        params: &params,
        catalog: &catalog,
    };
    let plan = Plan::parse(Path::new(&task.pipeline_path), text.into_bytes(), &options)?;

    let observer = super::observer(args.json, plan.steps.len());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(runner.resume(&task.id, &plan, observer))?;
    if outcome.already_finished {
        eprintln!(
            "task {} already {}; nothing to resume",
            outcome.task_id, outcome.status
        );
    }
    super::finish(&state, &journal, &outcome, args.json)
}
