//! Reads the file `params.path` into its data.

use nightshift_plugin_sdk::{Error, Input, Output};
use nightshift_test_guests::Params;

fn run(input: Input<Params>) -> Result<Output, Error> {
    let p = input.params;
    let text = std::fs::read_to_string(&p.path)
        .map_err(|e| Error::fatal(format!("read {}: {e}", p.path)))?;
    Ok(Output::new(format!("read {}", p.path)).data(&text))
}

nightshift_test_guests::export_guest!(run);
