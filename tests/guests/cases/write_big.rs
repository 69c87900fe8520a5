//! Writes `params.iterations` mebibytes to the file `params.path`.

use nightshift_plugin_sdk::{Error, Input, Output};
use nightshift_test_guests::Params;

fn run(input: Input<Params>) -> Result<Output, Error> {
    let p = input.params;
    let chunk = vec![7u8; 1 << 20];
    let mut file = std::fs::File::create(&p.path)
        .map_err(|e| Error::fatal(format!("create {}: {e}", p.path)))?;
    for _ in 0..p.iterations {
        std::io::Write::write_all(&mut file, &chunk)
            .map_err(|e| Error::fatal(format!("write: {e}")))?;
    }
    Ok(Output::new("wrote"))
}

nightshift_test_guests::export_guest!(run);
