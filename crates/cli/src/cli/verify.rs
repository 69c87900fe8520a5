//! `nightshift verify`: checks a task's evidence, and exports it as in-toto attestations.

use std::path::PathBuf;
use std::process::ExitCode;

use nightshift::evidence::{Cas, intoto};

/// Check a task's records, chain, artifacts and workspace files; exit 0 only if all hold
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A task id, or a unique prefix of one
    task: String,

    /// Print the verification as JSON on stdout
    #[arg(long)]
    json: bool,

    /// Also write each record as a DSSE-signed in-toto Statement (link predicate) into DIR
    #[arg(long, value_name = "DIR")]
    export_intoto: Option<PathBuf>,
}

pub(crate) fn run(args: Args, state: super::StateArgs) -> super::Result<ExitCode> {
    let tasks = super::open_tasks(state)?;
    let (signer, verification) = tasks.verify(&args.task)?;

    let exported = match &args.export_intoto {
        Some(dir) => {
            let cas = Cas::new(tasks.state().cas_dir());
            intoto::export(tasks.journal(), &cas, &signer, &verification.task_id, dir)?
        }
        None => Vec::new(),
    };
    if args.json {
        let mut json = serde_json::to_value(&verification)?;
        json["ok"] = verification.ok().into();
        json["exported"] = exported
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .into();
        super::print_json(&json)?;
    } else {
        for finding in &verification.findings {
            println!("FAIL {finding}");
        }
        let verdict = if verification.ok() {
            "verified"
        } else {
            "NOT verified"
        };
        println!(
            "task {} {verdict}: {} records, chain head {}, key {}, {} findings",
            verification.task_id,
            verification.records,
            verification.head.as_deref().unwrap_or("-"),
            verification.key_id,
            verification.findings.len()
        );
        if let Some(dir) = &args.export_intoto {
            println!(
                "wrote {} in-toto attestations to {}",
                exported.len(),
                dir.display()
            );
        }
    }
    Ok(if verification.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
