//! Appends the line `params.text` to the file `params.path`.

use nightshift_plugin_sdk::{Error, Input, Output};
use nightshift_test_guests::Params;

fn run(input: Input<Params>) -> Result<Output, Error> {
    let p = input.params;
    let mut text = std::fs::read_to_string(&p.path).unwrap_or_default();
    text.push_str(&p.text);
    text.push('\n');
    std::fs::write(&p.path, text).map_err(|e| Error::fatal(format!("append {}: {e}", p.path)))?;
    Ok(Output::new(format!("appended to {}", p.path)))
}

nightshift_test_guests::export_guest!(run);
