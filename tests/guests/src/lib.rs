//! A plugin that misbehaves on request, for the end-to-end tests.
//!
//! `params.action` picks the behaviour: `ok`, `fail`, `trap`, `loop`, `alloc`, `sleep`,
//! `read` (`params.path`), `write` (`params.path`, `params.text`), `env` (`params.name`).

use std::time::Duration;

use nightshift_plugin_sdk::{Error, Input, Output, export_plugin};
use serde::Deserialize;

#[derive(Deserialize)]
struct Params {
    action: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    name: String,
}

fn run(input: Input<Params>) -> Result<Output, Error> {
    let p = input.params;
    match p.action.as_str() {
        "ok" => {
            nightshift_plugin_sdk::log::info("hostile guest behaving");
            Ok(Output::new("ok").data(&input.prior))
        }
        "fail" => Err(Error::fatal("asked to fail")),
        "trap" => panic!("asked to trap"),
        "loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "alloc" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        "sleep" => {
            std::thread::sleep(Duration::from_secs(3600));
            Ok(Output::new("woke up"))
        }
        "read" => {
            let text = std::fs::read_to_string(&p.path)
                .map_err(|e| Error::fatal(format!("read {}: {e}", p.path)))?;
            Ok(Output::new(format!("read {}", p.path)).data(&text))
        }
        "write" => {
            std::fs::write(&p.path, &p.text)
                .map_err(|e| Error::fatal(format!("write {}: {e}", p.path)))?;
            Ok(Output::new(format!("wrote {}", p.path)))
        }
        "env" => {
            let value =
                std::env::var(&p.name).map_err(|e| Error::fatal(format!("env {}: {e}", p.name)))?;
            Ok(Output::new(format!("{}={value}", p.name)).data(&value))
        }
        other => Err(Error::fatal(format!("unknown action `{other}`"))),
    }
}

export_plugin!(run);
