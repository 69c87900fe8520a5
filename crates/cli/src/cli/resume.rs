//! `nightshift resume`: continues an interrupted task from what its journal says happened.

use std::process::ExitCode;

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

pub(crate) fn run(args: Args, state: super::StateArgs) -> super::Result<ExitCode> {
    let state = super::open_state(state)?;
    let (journal, runner) = super::open_runner(&state)?;
    let task = journal.find_task(&args.task)?;
    let plan = nightshift::runner::stored_plan(&state, &task)?;

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
    super::finish(&runner, &outcome, args.json)
}
