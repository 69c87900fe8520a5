//! The `nightshift` command: parses arguments, calls the library, prints, and exits with
//! 0 (the task succeeded), 1 (it failed, or nightshift did) or 2 (bad input).

mod cli;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_tracing(args.verbose);
    match cli::dispatch(args) {
        Ok(code) => code,
        Err(error) => {
            // A closed stderr cannot be reported anywhere: the exit code still tells.
            writeln!(std::io::stderr(), "error: {error}").ok();
            ExitCode::from(error.exit_code())
        }
    }
}
