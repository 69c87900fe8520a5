//! Makes `params.path` a symlink to `params.text`, then reads `params.name` through it.

use nightshift_plugin_sdk::{Error, Input, Output};
use nightshift_test_guests::Params;

fn run(input: Input<Params>) -> Result<Output, Error> {
    let p = input.params;
    #[allow(deprecated)]
    std::fs::soft_link(&p.text, &p.path)
        .map_err(|e| Error::fatal(format!("symlink {}: {e}", p.path)))?;
    let read = std::fs::read_to_string(format!("{}/{}", p.path, p.name))
        .map_err(|e| Error::fatal(format!("read through {}: {e}", p.path)))?;
    Ok(Output::new("read through a symlink").data(&read))
}

nightshift_test_guests::export_guest!(run);
