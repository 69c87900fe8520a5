//! `nightshift cancel`: stops a running task at its next epoch check, or marks an interrupted
//! one cancelled.

use std::process::ExitCode;
use std::time::Duration;

use nightshift::tasks::Cancelled;

/// Cancel a task: a queued one never starts; a running step stops at its next check (within
/// a tenth of a second), its staged changes are dropped, and the steps after it never run
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A task id, or a unique prefix of one
    task: String,

    /// How long to wait for the running process to stop the task
    #[arg(long, default_value = "10", value_name = "SECONDS")]
    wait: u64,
}

pub(crate) fn run(args: Args, state: super::StateArgs) -> super::Result<ExitCode> {
    let tasks = super::open_tasks(state)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let wait = Duration::from_secs(args.wait);
    let (task, cancelled) = runtime.block_on(tasks.cancel(&args.task, wait))?;
    match cancelled {
        Cancelled::BeforeStart => println!("task {} cancelled; it will not start", task.id),
        Cancelled::Stopped(status) => println!("task {} {status}", task.id),
        Cancelled::AlreadyEnded(status) => {
            eprintln!("task {} already {status}; nothing to cancel", task.id);
        }
        Cancelled::Requested { background } => {
            let who = if background {
                "no worker has stopped it yet; the next worker to hold it ends it"
            } else {
                "its process has not stopped it yet"
            };
            eprintln!("task {}: cancellation requested; {who}", task.id);
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}
