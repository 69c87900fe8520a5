//! Sleeps for an hour in a host call.

use std::time::Duration;

use nightshift_plugin_sdk::{Error, Input, Output};

fn run(_: Input<serde_json::Value>) -> Result<Output, Error> {
    std::thread::sleep(Duration::from_secs(3600));
    Ok(Output::new("woke up"))
}

nightshift_test_guests::export_guest!(run);
