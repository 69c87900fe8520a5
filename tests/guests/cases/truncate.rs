//! Opens the file `params.path` for writing, truncating it.

use nightshift_plugin_sdk::{Error, Input, Output};
use nightshift_test_guests::Params;

fn run(input: Input<Params>) -> Result<Output, Error> {
    let p = input.params;
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&p.path)
        .map_err(|e| Error::fatal(format!("truncate {}: {e}", p.path)))?;
    Ok(Output::new("truncated"))
}

nightshift_test_guests::export_guest!(run);
