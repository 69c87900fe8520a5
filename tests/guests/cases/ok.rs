//! Behaves: logs a line and returns the earlier steps' data as its own.

use nightshift_plugin_sdk::{Error, Input, Output};

fn run(input: Input<serde_json::Value>) -> Result<Output, Error> {
    nightshift_plugin_sdk::log::info("hostile guest behaving");
    Ok(Output::new("ok").data(&input.prior))
}

nightshift_test_guests::export_guest!(run);
