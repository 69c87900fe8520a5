//! `nightshift run`: runs a pipeline in the foreground and prints its report.

use std::path::PathBuf;
use std::process::ExitCode;

use nightshift::journal::{Journal, TaskStatus};
use nightshift::manifest::Plan;
use nightshift::state::StateDir;

/// Run a pipeline now, in the foreground, and print what happened
///
/// Exits 0 when every step succeeded, 1 when a step failed, 2 when the pipeline or the
/// arguments are invalid (nothing runs then).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The pipeline file (TOML)
    pipeline: PathBuf,

    /// The directory the steps work in; grants are relative to it
    #[arg(long, short = 'w', value_name = "DIR", default_value = ".")]
    workspace: PathBuf,

    /// Set a pipeline parameter declared under [params] (repeatable)
    #[arg(long = "param", short = 'p', value_name = "KEY=VALUE", value_parser = parse_param)]
    params: Vec<(String, String)>,

    /// Print the report as JSON on stdout instead of text, and no progress
    #[arg(long)]
    json: bool,
}

pub(crate) fn parse_param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}

pub(crate) fn run(args: Args, state: super::StateArgs) -> super::Result<ExitCode> {
    let state = super::open_state(state)?;
    let plan = super::load_plan(&state, &args.pipeline, &args.workspace, &args.params)?;
    let (journal, runner) = super::open_runner(&state)?;
    warn_about_interrupted(&journal, &state, &plan)?;

    let observer = super::observer(args.json, plan.steps.len());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(runner.run(&plan, observer))?;
    super::finish(&runner, &outcome, args.json)
}

/// Says how to resume tasks of the same pipeline and workspace that were interrupted.
fn warn_about_interrupted(journal: &Journal, state: &StateDir, plan: &Plan) -> super::Result<()> {
    let source = plan.source.display().to_string();
    let workspace = plan.workspace.display().to_string();
    for task in journal.recent_tasks(100)? {
        let same = task.pipeline_path == source && task.workspace == workspace;
        if same
            && task.status == TaskStatus::Running
            && !task.background
            && !state.task_is_live(&task)
        {
            let at = task.current_step.as_deref().unwrap_or("its first step");
            eprintln!(
                "note: task {} of this pipeline was interrupted at `{at}`; resume it with `nightshift resume {}`",
                task.id, task.id
            );
        }
    }
    Ok(())
}
