//! Reads the environment variable `params.name` into its data.

use nightshift_plugin_sdk::{Error, Input, Output};
use nightshift_test_guests::Params;

fn run(input: Input<Params>) -> Result<Output, Error> {
    let p = input.params;
    let value = std::env::var(&p.name).map_err(|e| Error::fatal(format!("env {}: {e}", p.name)))?;
    Ok(Output::new(format!("{}={value}", p.name)).data(&value))
}

nightshift_test_guests::export_guest!(run);
