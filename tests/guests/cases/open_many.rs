//! Opens the file `params.path` again and again, keeping every handle, until an open fails.

use nightshift_plugin_sdk::{Error, Input, Output};
use nightshift_test_guests::Params;

fn run(input: Input<Params>) -> Result<Output, Error> {
    let p = input.params;
    let mut open = Vec::new();
    loop {
        let file = std::fs::File::open(&p.path)
            .map_err(|e| Error::fatal(format!("open #{}: {e}", open.len() + 1)))?;
        open.push(file);
    }
}

nightshift_test_guests::export_guest!(run);
