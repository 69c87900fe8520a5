//! Opens a TCP connection to the address `params.path`.

use nightshift_plugin_sdk::{Error, Input, Output};
use nightshift_test_guests::Params;

fn run(input: Input<Params>) -> Result<Output, Error> {
    let p = input.params;
    std::net::TcpStream::connect(&p.path)
        .map_err(|e| Error::fatal(format!("tcp {}: {e}", p.path)))?;
    Ok(Output::new(format!("connected to {}", p.path)))
}

nightshift_test_guests::export_guest!(run);
