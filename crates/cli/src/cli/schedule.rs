//! `nightshift schedule`: recurring runs of a pipeline on a cron cadence.

use std::path::PathBuf;
use std::process::ExitCode;

use nightshift::journal::ScheduleRow;
use nightshift::schedule::{Cadence, Overlap};
use nightshift::time_format::{from_ms, now, now_ms};

use super::UsageError;

/// Run pipelines on a cron cadence (a worker must be up to fire them)
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Add a schedule
    ///
    /// Cron: 5 fields (minute hour day-of-month month day-of-week) or 6 with leading seconds;
    /// named days and months (MON-FRI, JAN). Daylight saving time: a local time that does not
    /// exist fires once at the next valid instant; one that repeats fires once.
    Add(AddArgs),
    /// List schedules with each one's next run
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Pause a schedule: nothing fires until it is resumed
    Pause {
        /// The schedule's name
        name: String,
    },
    /// Resume a paused schedule; runs due while paused are skipped
    Resume {
        /// The schedule's name
        name: String,
    },
    /// Remove a schedule (its tasks stay)
    Rm {
        /// The schedule's name
        name: String,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct AddArgs {
    /// A name for the schedule
    name: String,

    /// The pipeline file (TOML)
    pipeline: PathBuf,

    /// When to run, as a cron expression, e.g. "0 9 * * MON-FRI" or "*/10 * * * * *"
    #[arg(long, value_name = "EXPR")]
    cron: String,

    /// The IANA time zone the expression is read in
    #[arg(long, default_value = "UTC", value_name = "ZONE")]
    tz: String,

    /// Runs missed while no worker was up start if this recent [default: only the latest]
    #[arg(long, value_name = "DURATION")]
    catch_up_window: Option<String>,

    /// When a run is due while an earlier one is active: skip, buffer-one, buffer-all,
    /// cancel-other or allow-all
    #[arg(long, default_value = "skip", value_name = "POLICY")]
    overlap: String,

    /// The directory the steps work in; grants are relative to it
    #[arg(long, short = 'w', value_name = "DIR", default_value = ".")]
    workspace: PathBuf,

    /// Set a pipeline parameter declared under [params] (repeatable)
    #[arg(long = "param", short = 'p', value_name = "KEY=VALUE", value_parser = super::run::parse_param)]
    params: Vec<(String, String)>,
}

pub(crate) fn run(command: Command, state: super::StateArgs) -> super::Result<ExitCode> {
    let state = super::open_state(state)?;
    let journal = super::open_journal(&state)?;
    match command {
        Command::Add(args) => {
            let cadence =
                Cadence::parse(&args.cron, &args.tz).map_err(|e| UsageError(e.to_string()))?;
            let overlap: Overlap = args
                .overlap
                .parse()
                .map_err(|e: String| UsageError(format!("--overlap: {e}")))?;
            let catch_up_ms = args
                .catch_up_window
                .as_deref()
                .map(|w| {
                    nightshift::manifest::parse_duration(w)
                        .map(|d| d.as_millis() as i64)
                        .map_err(|e| UsageError(format!("--catch-up-window: {e}")))
                })
                .transpose()?;
            let plan = super::load_plan(&state, &args.pipeline, &args.workspace, &args.params)?;
            let source = std::path::absolute(&args.pipeline)?;
            let row = ScheduleRow {
                name: args.name.clone(),
                cron: cadence.expr().to_owned(),
                zone: cadence.zone().to_owned(),
                pipeline_path: source.display().to_string(),
                workspace: plan.workspace.display().to_string(),
                params: serde_json::to_string(&plan.params)?,
                catch_up_ms,
                overlap,
                paused: false,
                considered_until: now_ms(),
                created_at: now(),
            };
            if !journal.add_schedule(&row)? {
                return Err(UsageError(format!(
                    "a schedule named `{}` exists; remove it first or pick another name",
                    args.name
                ))
                .into());
            }
            let next = nightshift::schedule::next_run(&row, now_ms());
            println!(
                "schedule {} added; next run {}",
                row.name,
                next.map_or("never".into(), |at| nightshift::schedule::local_time(
                    &row.zone, at
                ))
            );
        }
        Command::List { json } => list(&journal, json)?,
        Command::Pause { name } => change(
            journal.set_schedule_paused(&name, true, now_ms())?,
            &name,
            "paused",
        )?,
        Command::Resume { name } => change(
            journal.set_schedule_paused(&name, false, now_ms())?,
            &name,
            "resumed",
        )?,
        Command::Rm { name } => change(journal.remove_schedule(&name)?, &name, "removed")?,
    }
    Ok(ExitCode::SUCCESS)
}

fn change(found: bool, name: &str, done: &str) -> super::Result<()> {
    if !found {
        return Err(UsageError(format!("no schedule named `{name}`")).into());
    }
    println!("schedule {name} {done}");
    Ok(())
}

fn list(journal: &nightshift::journal::Journal, json: bool) -> super::Result<()> {
    let now = now_ms();
    let schedules = journal.schedules()?;
    if json {
        let mut out = Vec::new();
        for row in &schedules {
            let next = (!row.paused)
                .then(|| nightshift::schedule::next_run(row, now))
                .flatten();
            let mut value = serde_json::to_value(row)?;
            value["next_run"] = next.map(from_ms).into();
            value["runs"] = journal.schedule_runs(&row.name)?.len().into();
            value["caveats"] = serde_json::to_value(journal.schedule_caveats(&row.name, 20)?)?;
            out.push(value);
        }
        return super::print_json(&out);
    }
    if schedules.is_empty() {
        println!("no schedules; add one with `nightshift schedule add NAME --cron EXPR PIPELINE`");
        return Ok(());
    }
    println!(
        "{:<16} {:<18} {:<16} {:<12} {:<28} PIPELINE",
        "NAME", "CRON", "ZONE", "OVERLAP", "NEXT RUN"
    );
    for row in &schedules {
        let next = if row.paused {
            "paused".to_owned()
        } else {
            nightshift::schedule::next_run(row, now).map_or("never".into(), |at| {
                nightshift::schedule::local_time(&row.zone, at)
            })
        };
        println!(
            "{:<16} {:<18} {:<16} {:<12} {:<28} {}",
            row.name, row.cron, row.zone, row.overlap, next, row.pipeline_path
        );
        for caveat in journal.schedule_caveats(&row.name, 3)? {
            println!("  caveat {}: {}", caveat.at, caveat.message);
        }
    }
    Ok(())
}
