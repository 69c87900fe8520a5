//! Writes `params.text` to `params.path` if given, then sleeps `params.iterations`
//! milliseconds in ten slices, reporting its progress before each.

use std::time::Duration;

use nightshift_plugin_sdk::{Error, Input, Output};
use nightshift_test_guests::Params;

fn run(input: Input<Params>) -> Result<Output, Error> {
    let p = input.params;
    if !p.path.is_empty() {
        std::fs::write(&p.path, &p.text)
            .map_err(|e| Error::fatal(format!("write {}: {e}", p.path)))?;
    }
    for slice in 0..10 {
        nightshift_plugin_sdk::progress(slice * p.iterations / 10, p.iterations, "napping");
        std::thread::sleep(Duration::from_millis(p.iterations / 10));
    }
    Ok(Output::new(format!("napped {} ms", p.iterations)))
}

nightshift_test_guests::export_guest!(run);
