//! Panics, so the guest traps.

use nightshift_plugin_sdk::{Error, Input, Output};

fn run(_: Input<serde_json::Value>) -> Result<Output, Error> {
    panic!("asked to trap")
}

nightshift_test_guests::export_guest!(run);
