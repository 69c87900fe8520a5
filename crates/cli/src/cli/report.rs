//! `nightshift report`: a task's completion report, from the journal alone.

use std::process::ExitCode;

use nightshift::evidence::{Cas, Signer};

/// Print a task's report: what changed, what was checked, where the artifacts are, what
/// failed, what caveats remain
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A task id, or a unique prefix of one
    task: String,

    /// The format to print
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    format: Format,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Markdown,
    Json,
    Html,
}

pub(crate) fn run(args: Args, state: super::StateArgs) -> anyhow::Result<ExitCode> {
    let state = super::open_state(state)?;
    let journal = super::open_journal(&state)?;
    let task = journal.find_task(&args.task)?;
    let key = Signer::load(&state.keys_dir()).ok().map(|s| s.public_key());
    let cas = Cas::new(state.cas_dir());
    let live = state.task_is_live(&task);
    let report = nightshift::report::build(&journal, &cas, key.as_ref(), &task.id, live)?;
    match args.format {
        Format::Markdown => print!("{}", report.to_markdown()),
        Format::Json => print!("{}", report.to_json()),
        Format::Html => print!("{}", report.to_html()),
    }
    Ok(ExitCode::SUCCESS)
}
