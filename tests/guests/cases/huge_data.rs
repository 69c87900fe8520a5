//! Returns data of `params.iterations` bytes.

use nightshift_plugin_sdk::{Error, Input, Output};
use nightshift_test_guests::Params;

fn run(input: Input<Params>) -> Result<Output, Error> {
    let len =
        usize::try_from(input.params.iterations).map_err(|e| Error::fatal(format!("size: {e}")))?;
    Ok(Output::new("huge").data(&"z".repeat(len)))
}

nightshift_test_guests::export_guest!(run);
