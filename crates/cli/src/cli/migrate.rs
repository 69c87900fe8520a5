//! `nightshift migrate`: brings the journal's schema to this version of nightshift.

use std::process::ExitCode;

/// Bring the journal's schema up to this version of nightshift, and say from which version.
///
/// Every command migrates the journal it opens anyway; this does it on its own, before
/// workers start (a PostgreSQL database shared by many hosts, say). A journal written by a
/// newer nightshift is refused, never changed.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Print the versions as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args, state: super::StateArgs) -> super::Result<ExitCode> {
    let state = super::open_state(state)?;
    let (from, to) = nightshift::journal::migrate(state.store())?;
    if args.json {
        super::print_json(&serde_json::json!({ "from": from, "to": to }))?;
    } else if from == to {
        println!("the journal is at schema version {to}; nothing to do");
    } else {
        println!("migrated the journal from schema version {from} to {to}");
    }
    Ok(ExitCode::SUCCESS)
}
