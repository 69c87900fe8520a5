//! GETs `http://{params.path}/` through `wasi:http`: the status in its summary, the body in
//! its data.

use nightshift_plugin_sdk::{Error, Input, Output};
use nightshift_test_guests::Params;

fn run(input: Input<Params>) -> Result<Output, Error> {
    let p = input.params;
    let (status, body) =
        http_get(&p.path).map_err(|e| Error::fatal(format!("http {}: {e}", p.path)))?;
    Ok(Output::new(format!("HTTP {status}")).data(&body))
}

/// GET `http://{authority}/`, returning the status and the body.
fn http_get(authority: &str) -> Result<(u16, String), String> {
    use wasi::http::outgoing_handler;
    use wasi::http::types::{Fields, OutgoingRequest, Scheme};
    let request = OutgoingRequest::new(Fields::new());
    request
        .set_scheme(Some(&Scheme::Http))
        .map_err(|()| "bad scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| "bad authority")?;
    request
        .set_path_with_query(Some("/"))
        .map_err(|()| "bad path")?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    let response = loop {
        if let Some(response) = pending.get() {
            break response;
        }
        pending.subscribe().block();
    };
    let response = response
        .map_err(|()| "response taken twice")?
        .map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let body = response.consume().map_err(|()| "no body")?;
    let mut bytes = Vec::new();
    {
        let stream = body.stream().map_err(|()| "no body stream")?;
        while let Ok(chunk) = stream.blocking_read(4096) {
            bytes.extend(chunk);
        }
    }
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

nightshift_test_guests::export_guest!(run);
