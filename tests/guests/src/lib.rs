//! A plugin that misbehaves on request, for the end-to-end tests.
//!
//! `params.action` picks the behaviour: `ok` (echoes earlier steps' data), `noop`, `fail`, `trap`, `loop`, `alloc`, `sleep`,
//! `read` (`params.path`), `write` (`params.path`, `params.text`), `env` (`params.name`), and
//! `work`: a deterministic computation of `params.iterations` rounds that checkpoints as it
//! goes and resumes from its checkpoint, then writes `params.files`, appends to
//! `params.append` and deletes `params.delete`; its result is the same however often it is
//! interrupted.

use std::time::Duration;

use nightshift_plugin_sdk::{Error, Input, Output};
use serde::Deserialize;

#[derive(Deserialize)]
struct Params {
    action: String,
    #[serde(default)]
    iterations: u64,
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    append: Option<String>,
    #[serde(default)]
    delete: Option<String>,
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
        "noop" => Ok(Output::new("did nothing")),
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
        "work" => work(&p, input.checkpoint.as_deref(), &input.step_id),
        other => Err(Error::fatal(format!("unknown action `{other}`"))),
    }
}

/// Rounds between two checkpoints.
const CHECKPOINT_EVERY: u64 = 100_000;

fn work(p: &Params, checkpoint: Option<&[u8]>, step: &str) -> Result<Output, Error> {
    let (mut round, mut acc) = match checkpoint {
        Some(bytes) if bytes.len() == 16 => {
            let (a, b) = bytes.split_at(8);
            let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
            (word(a), word(b))
        }
        _ => (0, 0xcbf2_9ce4_8422_2325),
    };
    let resumed_at = round;
    while round < p.iterations {
        acc = (acc ^ round).wrapping_mul(0x0100_0000_01b3);
        round += 1;
        if round % CHECKPOINT_EVERY == 0 {
            let mut state = round.to_le_bytes().to_vec();
            state.extend_from_slice(&acc.to_le_bytes());
            nightshift_plugin_sdk::checkpoint(&state);
        }
    }
    for path in &p.files {
        std::fs::write(path, format!("{step} wrote {path}: {acc:016x}\n"))
            .map_err(|e| Error::fatal(format!("write {path}: {e}")))?;
    }
    if let Some(path) = &p.append {
        let mut text = std::fs::read_to_string(path).unwrap_or_default();
        text.push_str(&format!("{step} appended {acc:016x}\n"));
        std::fs::write(path, text).map_err(|e| Error::fatal(format!("append {path}: {e}")))?;
    }
    if let Some(path) = &p.delete {
        std::fs::remove_file(path).map_err(|e| Error::fatal(format!("delete {path}: {e}")))?;
    }
    Ok(
        Output::new(format!("{} rounds, resumed at {resumed_at}", p.iterations))
            .data(&format!("{acc:016x}")),
    )
}

/// Exported without the SDK's metadata on purpose: like a component from another toolchain,
/// this guest declares nothing and so gets exactly what a step grants.
struct Hostile;

impl nightshift_plugin_sdk::bindings::Guest for Hostile {
    fn run(
        input: nightshift_plugin_sdk::bindings::nightshift::plugin::types::StepInput,
    ) -> Result<
        nightshift_plugin_sdk::bindings::nightshift::plugin::types::StepOutput,
        nightshift_plugin_sdk::bindings::nightshift::plugin::types::StepError,
    > {
        nightshift_plugin_sdk::__private::dispatch(input, run)
    }
}

nightshift_plugin_sdk::bindings::export_world!(Hostile);
