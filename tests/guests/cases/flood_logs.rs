//! Logs lines of a thousand bytes through the host without end.

use nightshift_plugin_sdk::{Error, Input, Output};

fn run(_: Input<serde_json::Value>) -> Result<Output, Error> {
    loop {
        nightshift_plugin_sdk::log::info(&"y".repeat(1000));
    }
}

nightshift_test_guests::export_guest!(run);
