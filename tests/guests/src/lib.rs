//! A plugin that misbehaves on request, for the end-to-end tests.
//!
//! `params.action` picks the behaviour: `ok` (echoes earlier steps' data), `noop`, `fail`, `trap`, `loop`, `alloc`, `sleep`,
//! `read` (`params.path`), `write` (`params.path`, `params.text`), `append` (a line
//! `params.text` to `params.path`), `flaky` (fails, retryably, until attempt
//! `params.iterations`), `nap` (writes `params.path` if given, then sleeps
//! `params.iterations` milliseconds, reporting progress), `env` (`params.name`), `await`
//! (logs `awaiting NAME`, waits up to `params.iterations` ms for the file `params.name`, then
//! reads `params.path` into its data and writes `params.text` to each of `params.files`), and
//! `work`: a deterministic computation of `params.iterations` rounds that checkpoints as it
//! goes and resumes from its checkpoint, then writes `params.files`, appends to
//! `params.append` and deletes `params.delete`; its result is the same however often it is
//! interrupted. Then `entropy` (time and randomness), and misbehaviours: `recurse`,
//! `flood-stdout`, `flood-logs`, `huge-data`, `write-big`, and filesystem escapes: `symlink`,
//! `hard-link`, `rename`, `truncate`; and the network: `http` and `tcp` (`params.path`).

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
        "append" => {
            let mut text = std::fs::read_to_string(&p.path).unwrap_or_default();
            text.push_str(&p.text);
            text.push('\n');
            std::fs::write(&p.path, text)
                .map_err(|e| Error::fatal(format!("append {}: {e}", p.path)))?;
            Ok(Output::new(format!("appended to {}", p.path)))
        }
        "flaky" if u64::from(input.attempt) < p.iterations => Err(Error::retryable(format!(
            "attempt {} of a flaky step fails",
            input.attempt
        ))),
        "flaky" => Ok(Output::new(format!(
            "succeeded on attempt {}",
            input.attempt
        ))),
        "nap" => {
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
        "await" => {
            // Holds its grants open until the test has changed the workspace under it.
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
                std::fs::write(file, &p.text)
                    .map_err(|e| Error::fatal(format!("write {file}: {e}")))?;
            }
            Ok(Output::new(format!("awaited {}", p.name)).data(&read))
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
        "work" => work(&p, input.checkpoint.as_deref(), &input.step_id),
        "entropy" => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let mut random = [0u8; 16];
            getrandom::fill(&mut random).map_err(|e| Error::fatal(format!("random: {e}")))?;
            let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
            Ok(Output::new("entropy")
                .data(&serde_json::json!({ "now_ns": now.as_nanos() as u64, "random": hex })))
        }
        "recurse" => Ok(Output::new(format!("depth {}", recurse(0)))),
        "http" => {
            let (status, body) =
                http_get(&p.path).map_err(|e| Error::fatal(format!("http {}: {e}", p.path)))?;
            Ok(Output::new(format!("HTTP {status}")).data(&body))
        }
        "open-many" => {
            let mut open = Vec::new();
            loop {
                let file = std::fs::File::open(&p.path)
                    .map_err(|e| Error::fatal(format!("open #{}: {e}", open.len() + 1)))?;
                open.push(file);
            }
        }
        "tcp" => {
            std::net::TcpStream::connect(&p.path)
                .map_err(|e| Error::fatal(format!("tcp {}: {e}", p.path)))?;
            Ok(Output::new(format!("connected to {}", p.path)))
        }
        "flood-stdout" => loop {
            println!("{}", "x".repeat(1000));
        },
        "flood-logs" => loop {
            nightshift_plugin_sdk::log::info(&"y".repeat(1000));
        },
        "huge-data" => Ok(Output::new("huge").data(&"z".repeat(p.iterations as usize))),
        "write-big" => {
            let chunk = vec![7u8; 1 << 20];
            let mut file = std::fs::File::create(&p.path)
                .map_err(|e| Error::fatal(format!("create {}: {e}", p.path)))?;
            for _ in 0..p.iterations {
                std::io::Write::write_all(&mut file, &chunk)
                    .map_err(|e| Error::fatal(format!("write: {e}")))?;
            }
            Ok(Output::new("wrote"))
        }
        "symlink" => {
            #[allow(deprecated)]
            std::fs::soft_link(&p.text, &p.path)
                .map_err(|e| Error::fatal(format!("symlink {}: {e}", p.path)))?;
            let read = std::fs::read_to_string(format!("{}/{}", p.path, p.name))
                .map_err(|e| Error::fatal(format!("read through {}: {e}", p.path)))?;
            Ok(Output::new("read through a symlink").data(&read))
        }
        "hard-link" => {
            std::fs::hard_link(&p.path, &p.text)
                .map_err(|e| Error::fatal(format!("hard link {}: {e}", p.path)))?;
            Ok(Output::new("linked"))
        }
        "rename" => {
            std::fs::rename(&p.path, &p.text)
                .map_err(|e| Error::fatal(format!("rename {}: {e}", p.path)))?;
            Ok(Output::new("renamed"))
        }
        "truncate" => {
            std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&p.path)
                .map_err(|e| Error::fatal(format!("truncate {}: {e}", p.path)))?;
            Ok(Output::new("truncated"))
        }
        other => Err(Error::fatal(format!("unknown action `{other}`"))),
    }
}

/// GET `http://{authority}/` through `wasi:http`, returning the status and the body.
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

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let padding = std::hint::black_box([depth; 64]);
    recurse(depth + 1) + padding[0]
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
