//! Prints lines of a thousand bytes to stdout without end.

use nightshift_plugin_sdk::{Error, Input, Output};

fn run(_: Input<serde_json::Value>) -> Result<Output, Error> {
    loop {
        println!("{}", "x".repeat(1000));
    }
}

nightshift_test_guests::export_guest!(run);
