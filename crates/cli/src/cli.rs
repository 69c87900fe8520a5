//! The command line: one file per subcommand, each thin: parse, call the library, print.

mod cancel;
mod gc;
mod key;
mod logs;
mod mcp;
mod migrate;
mod plugin;
mod progress;
mod report;
mod resume;
mod run;
mod schedule;
mod status;
mod submit;
mod verify;
mod worker;

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use std::sync::Arc;

use nightshift::fault::{Classify, Fault};
use nightshift::journal::{Journal, StoreLocation, TaskStatus};
use nightshift::manifest::{ManifestError, Plan};
use nightshift::runner::{Observer, Runner, Silent, TaskOutcome};
use nightshift::sandbox::Sandbox;
use nightshift::state::StateDir;
use nightshift::tasks::Tasks;

/// Run long, multi-step work in WebAssembly sandboxes, and read back what really happened.
///
/// Each step of a pipeline runs in its own component instance that sees only the
/// directories, environment variables, memory and time the pipeline grants it. Every
/// task, step, event and artifact is recorded in the journal of the state directory.
#[derive(Debug, Parser)]
#[command(
    name = "nightshift",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    /// The state: a directory (journal, artifacts, plugins, keys), or a PostgreSQL URL
    /// (postgres://user@host/db) for the journal, with the files in --files
    /// [default: $XDG_STATE_HOME/nightshift or ~/.local/state/nightshift]
    #[arg(long, global = true, env = "NIGHTSHIFT_STATE", value_name = "DIR|URL")]
    state: Option<OsString>,

    /// With a PostgreSQL state: the directory for artifacts, plugins and keys, shared by
    /// hosts that share the database [default: as for --state]
    #[arg(long, global = true, env = "NIGHTSHIFT_FILES", value_name = "DIR")]
    files: Option<PathBuf>,

    /// Log more to stderr (-v: debug, -vv: trace); RUST_LOG overrides it
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Run(run::Args),
    Submit(submit::Args),
    Worker(worker::Args),
    #[command(subcommand)]
    Schedule(schedule::Command),
    Resume(resume::Args),
    Status(status::Args),
    Logs(logs::Args),
    Report(report::Args),
    Cancel(cancel::Args),
    Mcp(mcp::Args),
    Verify(verify::Args),
    Migrate(migrate::Args),
    Gc(gc::Args),
    #[command(subcommand)]
    Key(key::Command),
    #[command(subcommand)]
    Plugin(plugin::Command),
}

/// Input the user must fix: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub(crate) String);

impl Classify for UsageError {
    fn fault(&self) -> Fault {
        Fault::Input
    }
}

/// Why a command stopped: the error with its causes, and whose fault it is, as the error
/// itself said when it was converted (see [`Classify`]).
#[derive(Debug)]
pub(crate) struct Failure {
    fault: Fault,
    error: anyhow::Error,
}

impl<E> From<E> for Failure
where
    E: Classify + std::error::Error + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        Failure {
            fault: error.fault(),
            error: error.into(),
        }
    }
}

impl Failure {
    /// A failure of nightshift or its environment, not of the input.
    pub(crate) fn system(error: anyhow::Error) -> Self {
        Failure {
            fault: Fault::System,
            error,
        }
    }

    /// The same failure, said to have happened while doing `what`.
    pub(crate) fn context(self, what: String) -> Self {
        Failure {
            fault: self.fault,
            error: self.error.context(what),
        }
    }

    /// 2 for input the user must fix, 1 for everything else.
    pub(crate) fn exit_code(&self) -> u8 {
        match self.fault {
            Fault::Input => 2,
            Fault::System => 1,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

/// What a command returns.
pub(crate) type Result<T, E = Failure> = std::result::Result<T, E>;

pub(crate) fn dispatch(cli: Cli) -> Result<ExitCode> {
    let state = StateArgs {
        state: cli.state,
        files: cli.files,
    };
    match cli.command {
        Command::Run(args) => run::run(args, state),
        Command::Submit(args) => submit::run(args, state),
        Command::Worker(args) => worker::run(args, state),
        Command::Schedule(command) => schedule::run(command, state),
        Command::Resume(args) => resume::run(args, state),
        Command::Status(args) => status::run(args, state),
        Command::Logs(args) => logs::run(args, state),
        Command::Report(args) => report::run(args, state),
        Command::Cancel(args) => cancel::run(args, state),
        Command::Mcp(args) => mcp::run(args, state),
        Command::Verify(args) => verify::run(args, state),
        Command::Migrate(args) => migrate::run(args, state),
        Command::Gc(args) => gc::run(args, state),
        Command::Key(command) => key::run(command, state),
        Command::Plugin(command) => plugin::run(command, state),
    }
}

/// Where the state is, as `--state` and `--files` (or their variables) say.
#[derive(Debug, Clone, Default)]
pub(crate) struct StateArgs {
    state: Option<OsString>,
    files: Option<PathBuf>,
}

impl StateArgs {
    /// The PostgreSQL URL `--state` gives, if it gives one.
    fn postgres_url(&self) -> Option<&str> {
        self.state
            .as_deref()
            .and_then(OsStr::to_str)
            .filter(|text| StoreLocation::is_postgres_url(text))
    }
}

/// Opens the state directory given by `--state` / `NIGHTSHIFT_STATE`, or the default one;
/// with a PostgreSQL state, the files directory of `--files` / `NIGHTSHIFT_FILES` (else the
/// default state directory) with the journal in the database.
pub(crate) fn open_state(state: StateArgs) -> Result<StateDir> {
    let (given, store) = match state.postgres_url() {
        Some(url) => (
            state.files.clone(),
            Some(StoreLocation::Postgres(url.to_owned())),
        ),
        None => (state.state.map(PathBuf::from), None),
    };
    let root = match given {
        Some(root) => root,
        None => StateDir::default_location()?,
    };
    Ok(match store {
        Some(store) => StateDir::open_with_store(&root, store)?,
        None => StateDir::open(&root)?,
    })
}

/// Reads and checks the pipeline at `pipeline`, run in `workspace` with `params`.
pub(crate) fn load_plan(
    state: &StateDir,
    pipeline: &std::path::Path,
    workspace: &std::path::Path,
    params: &[(String, String)],
) -> Result<Plan, ManifestError> {
    let catalog = nightshift::catalog::Catalog::new(state.plugins_dir());
    let options = nightshift::manifest::LoadOptions {
        workspace,
        state_dir: state.root(),
        params,
        catalog: &catalog,
    };
    Plan::load(pipeline, &options)
}

/// The task service over the state directory the arguments name.
pub(crate) fn open_tasks(state: StateArgs) -> Result<Tasks> {
    let state = open_state(state)?;
    let context = journal_context(&state);
    Tasks::open(state).map_err(|e| Failure::from(e).context(context))
}

/// What names the journal of a state directory, for messages.
fn journal_context(state: &StateDir) -> String {
    match state.store() {
        StoreLocation::Sqlite(_) => format!("state directory {}", state.root().display()),
        StoreLocation::Postgres(_) => "PostgreSQL state".to_owned(),
    }
}

/// Opens the journal of a state directory.
pub(crate) fn open_journal(state: &StateDir) -> Result<Journal> {
    nightshift::journal::open(state.store())
        .map_err(|e| Failure::from(e).context(journal_context(state)))
}

/// The journal and a runner over the state directory (loading or creating its signing key).
pub(crate) fn open_runner(state: &StateDir) -> Result<(Arc<Journal>, Runner)> {
    let journal = Arc::new(open_journal(state)?);
    let sandbox = Arc::new(Sandbox::new(&state.compile_cache_dir())?);
    let runner = Runner::new(state.clone(), Arc::clone(&journal), sandbox)?;
    Ok((journal, runner))
}

/// Progress on a terminal, or nothing when the output is JSON.
pub(crate) fn observer(json: bool, steps: usize) -> Arc<dyn Observer> {
    if json {
        Arc::new(Silent)
    } else {
        Arc::new(progress::TerminalProgress::new(steps))
    }
}

/// Builds, seals (stores in `cas/` and signs) and prints the report of a task that ran, and
/// turns its status into the exit code.
pub(crate) fn finish(runner: &Runner, outcome: &TaskOutcome, json: bool) -> Result<ExitCode> {
    let report = runner.seal_report(&outcome.task_id)?;
    if json {
        print!("{}", report.to_json());
    } else {
        print!("{}", report.to_markdown());
        println!("\nEvents: nightshift logs {}", outcome.task_id);
    }
    Ok(exit_code(outcome.status))
}

/// 0 when the task succeeded, 1 otherwise.
pub(crate) fn exit_code(status: TaskStatus) -> ExitCode {
    match status {
        TaskStatus::Succeeded => ExitCode::SUCCESS,
        TaskStatus::Failed | TaskStatus::Cancelled | TaskStatus::Running | TaskStatus::Queued => {
            ExitCode::from(1)
        }
    }
}

pub(crate) fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "nightshift=debug,info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Prints `value` as pretty JSON on stdout.
pub(crate) fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
