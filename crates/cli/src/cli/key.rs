//! `nightshift key`: the signing key of the state directory.

use std::process::ExitCode;

use nightshift::evidence::Signer;

/// The signing key that signs step records (created on first use)
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Print the public key; with --json, as the key object in-toto and securesystemslib read
    Show {
        /// Print `{"keytype","scheme","keyid","keyval":{"public"}}` on stdout
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(command: Command, state: super::StateArgs) -> super::Result<ExitCode> {
    let state = super::open_state(state)?;
    let journal = super::open_journal(&state)?;
    let Command::Show { json } = command;
    let signer = Signer::load_or_create(&state.keys_dir(), journal.any_signing_key()?.as_deref())?;
    let key = signer.public_key();
    if json {
        super::print_json(&key.to_json())?;
    } else {
        println!("ed25519 {}\nkeyid   {}", key.hex(), key.key_id());
    }
    Ok(ExitCode::SUCCESS)
}
