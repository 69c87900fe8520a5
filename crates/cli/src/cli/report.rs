//! `nightshift report`: a task's completion report, from the journal alone.

use std::process::ExitCode;

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

pub(crate) fn run(args: Args, state: super::StateArgs) -> super::Result<ExitCode> {
    let tasks = super::open_tasks(state)?;
    let (_, report) = tasks.report(&args.task)?;
    match args.format {
        Format::Markdown => print!("{}", report.to_markdown()),
        Format::Json => print!("{}", report.to_json()),
        Format::Html => print!("{}", report.to_html()),
    }
    Ok(ExitCode::SUCCESS)
}
