//! `nightshift logs`: a task's events in order: logs, progress, notes, and what commands
//! wrote to stdout and stderr.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use nightshift::journal::{EventKind, EventRow};

/// How often `--follow` looks for new events.
const FOLLOW_EVERY: Duration = Duration::from_millis(100);

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

    /// Keep printing events as they come until the task ends
    #[arg(long, short = 'f')]
    follow: bool,
}

pub(crate) fn run(args: Args, state: super::StateArgs) -> super::Result<ExitCode> {
    let tasks = super::open_tasks(state)?;
    let task = tasks.find(&args.task)?;
    let mut after = args.after;
    loop {
        // The task is read before its events: events written before it ended are then all
        // printed.
        let (view, events) = tasks.events(&task.id, after)?;
        let ended = view.status.is_finished();
        for event in &events {
            print_event(event, args.json)?;
            after = after.max(event.seq);
        }
        if !args.follow || ended {
            return Ok(ExitCode::SUCCESS);
        }
        std::io::stdout().flush()?;
        std::thread::sleep(FOLLOW_EVERY);
    }
}

fn print_event(event: &EventRow, json: bool) -> super::Result<()> {
    if json {
        println!("{}", serde_json::to_string(event)?);
        return Ok(());
    }
    let time = event.at.get(11..23).unwrap_or(&event.at);
    let step = event.step_id.as_deref().unwrap_or("-");
    let level = event.level.map(|l| format!(" {l}")).unwrap_or_default();
    let kind = event.kind;
    match kind {
        EventKind::Stdout | EventKind::Stderr => {
            println!("{time} {step} {kind}:");
            for line in event.message.lines() {
                println!("    {line}");
            }
        }
        _ => println!("{time} {step} {kind}{level}: {}", event.message),
    }
    Ok(())
}
