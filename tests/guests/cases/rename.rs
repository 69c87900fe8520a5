//! Renames the file `params.path` to `params.text`.

use nightshift_plugin_sdk::{Error, Input, Output};
use nightshift_test_guests::Params;

fn run(input: Input<Params>) -> Result<Output, Error> {
    let p = input.params;
    std::fs::rename(&p.path, &p.text)
        .map_err(|e| Error::fatal(format!("rename {}: {e}", p.path)))?;
    Ok(Output::new("renamed"))
}

nightshift_test_guests::export_guest!(run);
