//! Recurses without end until the stack overflows.

use nightshift_plugin_sdk::{Error, Input, Output};

fn run(_: Input<serde_json::Value>) -> Result<Output, Error> {
    Ok(Output::new(format!("depth {}", recurse(0))))
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let padding = std::hint::black_box([depth; 64]);
    recurse(depth + 1) + padding[0]
}

nightshift_test_guests::export_guest!(run);
