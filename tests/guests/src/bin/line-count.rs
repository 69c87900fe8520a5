//! A plain `wasi:cli` command, no Nightshift in it: prints the line count of each file named
//! in its arguments, like `wc -l`, and exits 3 when a file cannot be read (WASI 0.2 carries only
//! success or failure, so the host sees exit code 1).

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut status = ExitCode::SUCCESS;
    for path in std::env::args().skip(1) {
        match std::fs::read_to_string(&path) {
            Ok(text) => println!("{} {path}", text.lines().count()),
            Err(e) => {
                eprintln!("line-count: {path}: {e}");
                status = ExitCode::from(3);
            }
        }
    }
    status
}
