//! `nightshift worker`: runs queued tasks and due schedules until stopped.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use nightshift::worker::{Shutdown, Worker, WorkerOptions};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use super::UsageError;

/// Run queued tasks and fire due schedules, in the background lane
///
/// Claims tasks under a lease kept alive by heartbeats; a task whose worker died is
/// reclaimed when its lease expires and resumes from its last committed step. Several
/// workers may share one state directory. SIGTERM or Ctrl-C: stop claiming, let running
/// steps finish within the grace period and put their tasks back in the queue; a second
/// signal stops at once, still safely.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Tasks run at once
    #[arg(long, short = 'c', default_value_t = 1)]
    concurrency: usize,

    /// Exit once no task is queued or running in the lane
    #[arg(long)]
    until_idle: bool,

    /// How long a claim lasts without a heartbeat (heartbeats come every third of it)
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    lease: String,

    /// How long running steps get to finish after the first signal
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    grace: String,

    /// How often to look for work when no submit wakes the worker
    #[arg(long, default_value = "500ms", value_name = "DURATION")]
    poll: String,

    /// Print a JSON summary on stdout when the worker stops
    #[arg(long)]
    json: bool,
}

/// Writes a line to stderr, ignoring failure: a worker whose stderr was closed goes on working
/// and still stops when signalled, where `eprintln!` would panic.
fn say(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn duration(flag: &str, text: &str) -> Result<std::time::Duration, UsageError> {
    nightshift::manifest::parse_duration(text).map_err(|e| UsageError(format!("--{flag}: {e}")))
}

pub(crate) fn run(args: Args, state: super::StateArgs) -> super::Result<ExitCode> {
    let options = WorkerOptions {
        concurrency: args.concurrency,
        until_idle: args.until_idle,
        lease: duration("lease", &args.lease)?,
        grace: duration("grace", &args.grace)?,
        poll: duration("poll", &args.poll)?,
    };
    if options.concurrency == 0 {
        return Err(UsageError("--concurrency must be at least 1".into()).into());
    }
    if options.lease < std::time::Duration::from_millis(300) {
        return Err(UsageError("--lease must be at least 300ms".into()).into());
    }
    let state = super::open_state(state)?;
    let (journal, runner) = super::open_runner(&state)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let worker = Worker::new(Arc::new(runner), state.clone(), options.clone());
    let summary = runtime.block_on(async {
        let (tx, rx) = watch::channel(Shutdown::No);
        let cannot_catch = |signal: &'static str| {
            move |e: std::io::Error| {
                super::Failure::from(e).context(format!("cannot catch {signal}"))
            }
        };
        let mut term = signal(SignalKind::terminate()).map_err(cannot_catch("SIGTERM"))?;
        let mut int = signal(SignalKind::interrupt()).map_err(cannot_catch("SIGINT"))?;
        let owner = worker.owner().to_owned();
        // Ends (dropping `tx`, which the worker takes for a shutdown) only if signals can no
        // longer be received.
        tokio::spawn(async move {
            let mut level = Shutdown::No;
            loop {
                tokio::select! {
                    Some(()) = term.recv() => {}
                    Some(()) = int.recv() => {}
                    else => break,
                }
                level = if level == Shutdown::No {
                    say(format_args!(
                        "{owner}: stopping; running steps finish first (signal again to stop now)"
                    ));
                    Shutdown::Graceful
                } else {
                    say(format_args!("{owner}: stopping now"));
                    Shutdown::Now
                };
                let _ = tx.send(level);
            }
        });
        if !args.json {
            say(format_args!(
                "{}: working on {} (concurrency {}); stop with Ctrl-C",
                worker.owner(),
                journal.location(),
                options.concurrency
            ));
        }
        Ok::<_, super::Failure>(worker.run(rx).await?)
    })?;
    if args.json {
        super::print_json(&serde_json::json!({
            "worker": worker.owner(),
            "finished": summary.finished,
            "released": summary.released,
            "lost": summary.lost,
            "errors": summary.errors,
        }))?;
    } else {
        say(format_args!(
            "{}: stopped; {} tasks finished, {} put back in the queue, {} lost to another worker, {} stopped on errors",
            worker.owner(),
            summary.finished,
            summary.released,
            summary.lost,
            summary.errors
        ));
    }
    Ok(ExitCode::SUCCESS)
}
