//! Does nothing and succeeds.

use nightshift_plugin_sdk::{Error, Input, Output};

fn run(_: Input<serde_json::Value>) -> Result<Output, Error> {
    Ok(Output::new("did nothing"))
}

nightshift_test_guests::export_guest!(run);
