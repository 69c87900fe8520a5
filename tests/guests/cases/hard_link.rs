//! Hard-links the file `params.path` as `params.text`.

use nightshift_plugin_sdk::{Error, Input, Output};
use nightshift_test_guests::Params;

fn run(input: Input<Params>) -> Result<Output, Error> {
    let p = input.params;
    std::fs::hard_link(&p.path, &p.text)
        .map_err(|e| Error::fatal(format!("hard link {}: {e}", p.path)))?;
    Ok(Output::new("linked"))
}

nightshift_test_guests::export_guest!(run);
