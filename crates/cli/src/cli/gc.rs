//! `nightshift gc`: prunes finished tasks from the journal, exporting their evidence first.

use std::process::ExitCode;

use nightshift::evidence::{Cas, Signer, intoto};

use super::UsageError;

/// Prune finished tasks older than a duration, keeping their evidence exportable
///
/// Before a task is deleted from the journal, its signed records are exported as in-toto
/// attestations (DSSE envelopes) and its report as JSON into <state>/archive/<task>/. Their
/// artifacts stay in cas/. Queued and running tasks are never pruned.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Prune tasks that finished longer ago than this (e.g. 30d)
    #[arg(long, value_name = "DURATION")]
    older_than: String,

    /// Only say what would be pruned
    #[arg(long)]
    dry_run: bool,

    /// Print JSON on stdout
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args, state: super::StateArgs) -> super::Result<ExitCode> {
    let age = nightshift::manifest::parse_duration(&args.older_than)
        .map_err(|e| UsageError(format!("--older-than: {e}")))?;
    let state = super::open_state(state)?;
    let journal = super::open_journal(&state)?;
    let cutoff = nightshift::time_format::from_ms(
        nightshift::time_format::now_ms() - age.as_millis() as i64,
    );
    let tasks = journal.finished_before(&cutoff)?;
    let archive = state.root().join("archive");
    if args.dry_run {
        if args.json {
            let ids: Vec<_> = tasks.iter().map(|t| t.id.as_str()).collect();
            super::print_json(&serde_json::json!({ "would_prune": ids, "archive": archive }))?;
        } else {
            for task in &tasks {
                println!(
                    "would prune {} {} (finished {})",
                    task.id,
                    task.status,
                    task.finished_at.as_deref().unwrap_or("-")
                );
            }
            println!(
                "{} tasks finished before {cutoff} would be pruned; their evidence would be exported to {} first",
                tasks.len(),
                archive.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let cas = Cas::new(state.cas_dir());
    let signer = Signer::load(&state.keys_dir())?;
    let mut pruned = Vec::new();
    for task in &tasks {
        let dir = archive.join(&task.id);
        intoto::export(&journal, &cas, &signer, &task.id, &dir)?;
        let report =
            nightshift::report::build(&journal, &cas, Some(&signer.public_key()), &task.id, false)?;
        let path = dir.join("report.json");
        std::fs::write(&path, report.to_json()).map_err(|e| {
            super::Failure::from(e).context(format!("cannot write {}", path.display()))
        })?;
        journal.delete_task(&task.id)?;
        pruned.push(task.id.as_str());
    }
    if args.json {
        super::print_json(&serde_json::json!({ "pruned": pruned, "archive": archive }))?;
    } else {
        println!(
            "pruned {} tasks finished before {cutoff}; their evidence is in {}",
            pruned.len(),
            archive.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
