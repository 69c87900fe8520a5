//! Writes `params.text` to the file `params.path`.

use nightshift_plugin_sdk::{Error, Input, Output};
use nightshift_test_guests::Params;

fn run(input: Input<Params>) -> Result<Output, Error> {
    let p = input.params;
    std::fs::write(&p.path, &p.text).map_err(|e| Error::fatal(format!("write {}: {e}", p.path)))?;
    Ok(Output::new(format!("wrote {}", p.path)))
}

nightshift_test_guests::export_guest!(run);
