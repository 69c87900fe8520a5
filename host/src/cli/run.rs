//! `nightshift run`: runs a pipeline in the foreground and prints its report.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use nightshift::evidence::Cas;
use nightshift::journal::TaskStatus;
use nightshift::manifest::{LoadOptions, Plan};
use nightshift::plugins::Catalog;
use nightshift::runner::{Observer, Runner, Silent};
use nightshift::sandbox::Sandbox;

use super::UsageError;
use super::progress::TerminalProgress;

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

fn parse_param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}

pub(crate) fn run(args: Args, state: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let state = super::open_state(state)?;
    let catalog = Catalog::new(state.plugins_dir());
    let plan = Plan::load(
        &args.pipeline,
        &LoadOptions {
            workspace: &args.workspace,
            state_dir: state.root(),
            params: &args.params,
            catalog: &catalog,
        },
    )?;
    if plan.steps.is_empty() {
        return Err(UsageError("the pipeline has no steps".into()).into());
    }
    let journal = Arc::new(super::open_journal(&state)?);
    let sandbox = Arc::new(Sandbox::new(&state.compile_cache_dir())?);
    let runner = Runner::new(Arc::clone(&journal), sandbox, Cas::new(state.cas_dir()));
    let observer: Arc<dyn Observer> = if args.json {
        Arc::new(Silent)
    } else {
        Arc::new(TerminalProgress::new(plan.steps.len()))
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(runner.run(&plan, observer))?;

    let report = nightshift::report::build(&journal, &outcome.task_id)?;
    if args.json {
        super::print_json(&report)?;
    } else {
        print!("{}", report.to_markdown());
        println!("\nEvents: nightshift logs {}", outcome.task_id);
    }
    Ok(match outcome.status {
        TaskStatus::Succeeded => ExitCode::SUCCESS,
        TaskStatus::Failed | TaskStatus::Running => ExitCode::from(1),
    })
}
