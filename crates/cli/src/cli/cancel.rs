//! `nightshift cancel`: stops a running task at its next epoch check, or marks an interrupted
//! one cancelled.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use nightshift::journal::TaskStatus;

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

pub(crate) fn run(args: Args, state: super::StateArgs) -> anyhow::Result<ExitCode> {
    let state = super::open_state(state)?;
    let journal = super::open_journal(&state)?;
    let task = journal.find_task(&args.task)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if task.status == TaskStatus::Queued && journal.cancel_queued(&task.id)? {
        // A task put back in the queue may have run before: complete its evidence.
        let (_, runner) = super::open_runner(&state)?;
        runtime.block_on(runner.settle_cancelled(&task.id))?;
        println!("task {} cancelled; it will not start", task.id);
        return Ok(ExitCode::SUCCESS);
    }
    let task = journal.find_task(&task.id)?;
    if task.status != TaskStatus::Running {
        eprintln!(
            "task {} already {}; nothing to cancel",
            task.id, task.status
        );
        return Ok(ExitCode::SUCCESS);
    }
    journal.request_cancel(&task.id)?;
    // A live process stops the task itself; only a stopped foreground task needs a runner
    // here, to record what its process left open.
    if !task.background && !state.task_is_live(&task) {
        let (_, runner) = super::open_runner(&state)?;
        if runtime.block_on(runner.cancel_stopped(&task.id))? {
            println!("task {} cancelled", task.id);
            return Ok(ExitCode::SUCCESS);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(args.wait);
    while Instant::now() < deadline {
        let now = journal.find_task(&task.id)?;
        if now.status != TaskStatus::Running {
            println!("task {} {}", task.id, now.status);
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let who = if task.background {
        "no worker has stopped it yet; the next worker to hold it ends it"
    } else {
        "its process has not stopped it yet"
    };
    eprintln!("task {}: cancellation requested; {who}", task.id);
    Ok(ExitCode::from(1))
}
