//! Per-step overhead against its floors and against the way a user without Nightshift would
//! run the same program, plus cold and warm start, all in one run:
//!
//! - a trivial plugin step through the runner (instantiate, call, record, sign, commit) with
//!   a warm compiled cache, against the native Rust call of the same logic plus one fsync;
//! - a `wasi:cli` command run as a step, against `wasmtime run` of the same component per
//!   step (wasmtime-cli from crates.io, installed on first use);
//! - the first run of a new plugin (it compiles) against later runs (precompiled cache), and
//!   the time from process start to the first step starting.
//!
//! `cargo bench --bench overhead` (release). Writes `target/bench/overhead.json`.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use nightshift::journal::Sync;

mod common;

use common::{
    LINE_COUNT_COMMAND, NOOP, Trivial, median, quick, runner_steps_per_second, save, tool,
};

const WASMTIME_VERSION: &str = "48.0.8";
const NIGHTSHIFT: &str = env!("CARGO_BIN_EXE_nightshift");

/// What the test guest `noop` does, natively: read the params, answer a summary.
fn native_noop(params: &str) -> String {
    let params: serde_json::Value = serde_json::from_str(params).unwrap_or_default();
    std::hint::black_box(&params);
    serde_json::json!({ "summary": "did nothing", "data": "null" }).to_string()
}

/// Microseconds per native call of the step's logic.
fn native_us() -> f64 {
    let calls = 100_000;
    median(
        (0..5)
            .map(|_| {
                let started = Instant::now();
                for _ in 0..calls {
                    std::hint::black_box(native_noop(std::hint::black_box("{}")));
                }
                started.elapsed().as_secs_f64() * 1e6 / calls as f64
            })
            .collect(),
    )
}

/// Microseconds per small write plus fsync in the target directory.
fn fsync_us() -> f64 {
    let dir = tempfile::tempdir_in(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target"))
        .expect("tempdir");
    let mut file = std::fs::File::create(dir.path().join("sync")).expect("file");
    median(
        (0..200)
            .map(|_| {
                let started = Instant::now();
                file.write_all(b"one record's worth of bytes")
                    .expect("write");
                file.sync_data().expect("fsync");
                started.elapsed().as_secs_f64() * 1e6
            })
            .collect(),
    )
}

/// Milliseconds per `wasmtime run` of the line-count command, one process per step.
fn wasmtime_run_ms(wasmtime: &std::path::Path, steps: usize) -> f64 {
    let run = || {
        let mut child = Command::new(wasmtime)
            .args(["run", LINE_COUNT_COMMAND])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn wasmtime");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"one\ntwo\nthree\n")
            .expect("stdin");
        assert!(child.wait().expect("wait").success(), "wasmtime run failed");
    };
    run();
    median(
        (0..steps)
            .map(|_| {
                let started = Instant::now();
                run();
                started.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// One `nightshift run` in `state`: wall milliseconds, milliseconds from spawn to the first
/// step starting, and whether it compiled the component.
fn nightshift_run(state: &std::path::Path, pipeline: &std::path::Path) -> (f64, f64, bool) {
    let spawned_at = now_ms();
    let started = Instant::now();
    let output = Command::new(NIGHTSHIFT)
        .args(["run", "--json"])
        .arg(pipeline)
        .env("NIGHTSHIFT_STATE", state)
        .current_dir(pipeline.parent().expect("dir"))
        .output()
        .expect("run nightshift");
    let wall = started.elapsed().as_secs_f64() * 1e3;
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("report");
    let task = report["task_id"].as_str().expect("task id");
    let journal = rusqlite::Connection::open_with_flags(
        state.join("journal.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("journal");
    let (first_step, cache): (String, String) = journal
        .query_row(
            "SELECT (SELECT started_at FROM attempts WHERE task_id = ?1 ORDER BY started_at LIMIT 1),
                    (SELECT json_extract(data, '$.cache') FROM events WHERE task_id = ?1 AND kind = 'cache' LIMIT 1)",
            [task],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("query");
    let at =
        time::OffsetDateTime::parse(&first_step, &time::format_description::well_known::Rfc3339)
            .expect("timestamp");
    let first_ms = (at.unix_timestamp_nanos() / 1_000_000) as i64 - spawned_at;
    (wall, first_ms as f64, cache == "compiled")
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let steps = if quick() { 10 } else { 100 };
    let rounds = if quick() { 1 } else { 5 };

    let native = native_us();
    let fsync = fsync_us();
    let plugin_step_us =
        1e6 / runner_steps_per_second(&runtime, &Trivial::new(steps, Sync::Full), 1, rounds);
    let command = format!("command = {LINE_COUNT_COMMAND:?}\nstdin = \"one\\ntwo\\nthree\\n\"\n");
    let command_step_ms = 1e3
        / runner_steps_per_second(
            &runtime,
            &Trivial::of(&command, steps, Sync::Full),
            1,
            rounds,
        );
    let wasmtime = tool("wasmtime", "wasmtime-cli", WASMTIME_VERSION)
        .map(|wasmtime| wasmtime_run_ms(&wasmtime, if quick() { 3 } else { 30 }));

    // Cold and warm start, through the binary.
    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = dir.path().join("one.toml");
    std::fs::write(
        &pipeline,
        format!("name = \"one\"\n[[step]]\nid = \"s\"\nplugin = {NOOP:?}\nparams = {{}}\n"),
    )
    .expect("pipeline");
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut first_step = Vec::new();
    let mut warm_compiled = 0;
    for round in 0..rounds.max(3) {
        let state = dir.path().join(format!("state-{round}"));
        let (wall, _, compiled) = nightshift_run(&state, &pipeline);
        assert!(compiled, "a new state directory compiles the component");
        cold.push(wall);
        for _ in 0..if quick() { 2 } else { 10 } {
            let (wall, to_step, compiled) = nightshift_run(&state, &pipeline);
            warm_compiled += usize::from(compiled);
            warm.push(wall);
            first_step.push(to_step);
        }
    }
    let (cold, warm, first_step) = (median(cold), median(warm), median(first_step));

    let floor_us = native + fsync;
    println!("per-step overhead, median (steps of {steps}, {rounds} rounds)");
    println!("{:<52} {:>12} {:>10}", "", "per step", "ratio");
    println!(
        "{:<52} {:>10.2}µs {:>10}",
        "native call of the same logic", native, ""
    );
    println!("{:<52} {:>10.2}µs {:>10}", "one fsync", fsync, "");
    println!(
        "{:<52} {:>10.2}µs {:>9.2}x",
        "trivial plugin step, journal + signed records (FULL)",
        plugin_step_us,
        plugin_step_us / floor_us
    );
    println!("  (ratio to native call + one fsync)");
    println!(
        "{:<52} {:>10.2}ms {:>10}",
        "command step (line-count) through nightshift", command_step_ms, "1.00x"
    );
    match wasmtime {
        Some(ms) => println!(
            "{:<52} {ms:>10.2}ms {:>9.2}x",
            format!("`wasmtime run` {WASMTIME_VERSION} per step, same component"),
            ms / command_step_ms
        ),
        None => println!(
            "{:<52} {:>12}",
            "`wasmtime run` per step", "(not installed)"
        ),
    }
    println!(
        "cold start (first run, compiles): {cold:.1} ms; warm run: {warm:.1} ms ({:.1}x faster); warm runs that compiled: {warm_compiled}",
        cold / warm
    );
    println!("process start to first step (warm): {first_step:.1} ms");
    save(
        "overhead",
        &serde_json::json!({
            "native_call_us": native,
            "fsync_us": fsync,
            "plugin_step_us": plugin_step_us,
            "plugin_step_vs_native_plus_fsync": plugin_step_us / floor_us,
            "command_step_ms": command_step_ms,
            "wasmtime_run_ms": wasmtime,
            "wasmtime_run_vs_nightshift": wasmtime.map(|ms| ms / command_step_ms),
            "cold_run_ms": cold,
            "warm_run_ms": warm,
            "warm_runs_that_compiled": warm_compiled,
            "process_start_to_first_step_ms": first_step,
        }),
    );
}
