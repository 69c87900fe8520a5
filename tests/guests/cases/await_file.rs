//! Holds its grants open until the test has changed the workspace under it: logs
//! `awaiting NAME`, waits up to `params.iterations` ms for the file `params.name`, then reads
//! `params.path` (if given) into its data and writes `params.text` to each of `params.files`.

use std::time::Duration;

use nightshift_plugin_sdk::{Error, Input, Output};
use nightshift_test_guests::Params;

fn run(input: Input<Params>) -> Result<Output, Error> {
    let p = input.params;
    nightshift_plugin_sdk::log::info(&format!("awaiting {}", p.name));
    let mut waited = 0;
    while std::fs::metadata(&p.name).is_err() {
        if waited >= p.iterations {
            return Err(Error::fatal(format!("{} never appeared", p.name)));
        }
        std::thread::sleep(Duration::from_millis(10));
        waited += 10;
    }
    let read = if p.path.is_empty() {
        String::new()
    } else {
        std::fs::read_to_string(&p.path)
            .map_err(|e| Error::fatal(format!("read {}: {e}", p.path)))?
    };
    for file in &p.files {
        std::fs::write(file, &p.text).map_err(|e| Error::fatal(format!("write {file}: {e}")))?;
    }
    Ok(Output::new(format!("awaited {}", p.name)).data(&read))
}

nightshift_test_guests::export_guest!(run);
