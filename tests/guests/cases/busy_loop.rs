//! Loops forever without calling the host.

use nightshift_plugin_sdk::{Error, Input, Output};

fn run(_: Input<serde_json::Value>) -> Result<Output, Error> {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

nightshift_test_guests::export_guest!(run);
