//! `nightshift logs`: a task's events in order: logs, progress, notes, and what commands
//! wrote to stdout and stderr.

use std::path::PathBuf;
use std::process::ExitCode;

/// Show a task's events in order, with what its commands printed
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A task id, or a unique prefix of one
    task: String,

    /// Only events after this sequence number (for polling)
    #[arg(long, default_value_t = 0, value_name = "SEQ")]
    after: i64,

    /// Print one JSON object per event and line (JSON Lines) on stdout
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args, state: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let state = super::open_state(state)?;
    let journal = super::open_journal(&state)?;
    let task = journal.find_task(&args.task)?;
    let events = journal.events(&task.id, args.after)?;
    if args.json {
        for event in &events {
            println!("{}", serde_json::to_string(event)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    for event in &events {
        let time = event.at.get(11..23).unwrap_or(&event.at);
        let step = event.step_id.as_deref().unwrap_or("-");
        let level = event
            .level
            .as_deref()
            .map(|l| format!(" {l}"))
            .unwrap_or_default();
        match event.kind.as_str() {
            "stdout" | "stderr" => {
                println!("{time} {step} {}:", event.kind);
                for line in event.message.lines() {
                    println!("    {line}");
                }
            }
            kind => println!("{time} {step} {kind}{level}: {}", event.message),
        }
    }
    Ok(ExitCode::SUCCESS)
}
