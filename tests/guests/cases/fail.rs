//! Fails its step with an error of its own.

use nightshift_plugin_sdk::{Error, Input, Output};

fn run(_: Input<serde_json::Value>) -> Result<Output, Error> {
    Err(Error::fatal("asked to fail"))
}

nightshift_test_guests::export_guest!(run);
