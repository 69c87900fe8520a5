//! The cost of durability: steps per second of a trivial plugin step run through the runner
//! with signed records committed under `synchronous=FULL` and `NORMAL`, against the same step
//! run by the sandbox alone with no journal, all in one run (ratios, since machines are noisy).
//!
//! `cargo bench --bench durability` (release). Prints a table and writes
//! `target/bench/durability.json`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nightshift::journal::{Journal, Sync};
use nightshift::manifest::{LoadOptions, Plan};
use nightshift::plugins::Catalog;
use nightshift::runner::{Runner, Silent};
use nightshift::sandbox::{Grants, Sandbox, StepContext, StepInput};
use nightshift::state::StateDir;

mod common;

use common::{HOSTILE_PLUGIN, NoHost, median};

const STEPS: usize = 100;
const ROUNDS: usize = 5;

fn pipeline(dir: &std::path::Path) -> std::path::PathBuf {
    let mut toml = String::from("name = \"bench\"\n");
    for i in 0..STEPS {
        toml.push_str(&format!(
            "[[step]]\nid = \"s{i}\"\nplugin = {HOSTILE_PLUGIN:?}\nparams = {{ action = \"noop\" }}\n"
        ));
    }
    let path = dir.join("bench.toml");
    std::fs::write(&path, toml).expect("write pipeline");
    path
}

/// Steps per second through the runner, journal and signing on.
fn with_journal(runtime: &tokio::runtime::Runtime, sync: Sync) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = StateDir::open(&dir.path().join("state")).expect("state");
    let workspace = dir.path().join("ws");
    std::fs::create_dir_all(&workspace).expect("workspace");
    let catalog = Catalog::new(state.plugins_dir());
    let path = pipeline(dir.path());
    let plan = Plan::load(
        &path,
        &LoadOptions {
            workspace: &workspace,
            state_dir: state.root(),
            params: &[],
            catalog: &catalog,
        },
    )
    .expect("plan");
    let journal = Arc::new(Journal::open_with(&state.journal_path(), sync).expect("journal"));
    let sandbox = Arc::new(Sandbox::new(&state.compile_cache_dir()).expect("sandbox"));
    let runner = Runner::new(state, journal, sandbox).expect("runner");
    runtime
        .block_on(runner.run(&plan, Arc::new(Silent)))
        .expect("warm-up run");
    let rates = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            let outcome = runtime
                .block_on(runner.run(&plan, Arc::new(Silent)))
                .expect("run");
            assert_eq!(outcome.status.as_str(), "succeeded");
            STEPS as f64 / started.elapsed().as_secs_f64()
        })
        .collect();
    median(rates)
}

/// Steps per second of the sandbox alone: the same instantiate-and-call, nothing recorded.
fn without_journal(runtime: &tokio::runtime::Runtime) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let sandbox = Sandbox::new(dir.path()).expect("sandbox");
    let source = Catalog::new(dir.path())
        .resolve(HOSTILE_PLUGIN, std::path::Path::new("/"))
        .expect("guest");
    let (prepared, _) = sandbox.prepare(&source).expect("prepare");
    let grants = Grants::default();
    let input = StepInput {
        task_id: "bench".into(),
        step_id: "s".into(),
        attempt: 1,
        params: r#"{"action":"noop"}"#.into(),
        prior: Vec::new(),
        checkpoint: None,
    };
    let ctx = StepContext::default();
    let step = || {
        let host = Box::new(NoHost);
        let captured = runtime.block_on(sandbox.run_plugin(&prepared, &grants, &input, host, &ctx));
        assert!(matches!(captured.outcome, Ok(Ok(_))));
    };
    step();
    let rates = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..STEPS {
                step();
            }
            STEPS as f64 / started.elapsed().as_secs_f64()
        })
        .collect();
    median(rates)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let off = without_journal(&runtime);
    let normal = with_journal(&runtime, Sync::Normal);
    let full = with_journal(&runtime, Sync::Full);
    let per_step = |rate: f64| Duration::from_secs_f64(1.0 / rate);

    println!("durability cost, trivial plugin step, median of {ROUNDS} rounds of {STEPS} steps");
    println!(
        "{:<36} {:>10} {:>12} {:>14}",
        "mode", "steps/s", "per step", "vs no journal"
    );
    for (mode, rate) in [
        ("sandbox only, no journal", off),
        ("journal, signed, synchronous=NORMAL", normal),
        ("journal, signed, synchronous=FULL", full),
    ] {
        println!(
            "{mode:<36} {rate:>10.0} {:>12.2?} {:>13.2}x",
            per_step(rate),
            off / rate
        );
    }
    let json = serde_json::json!({
        "bench": "durability",
        "steps": STEPS,
        "rounds": ROUNDS,
        "steps_per_second": { "no_journal": off, "normal": normal, "full": full },
        "slowdown_vs_no_journal": { "normal": off / normal, "full": off / full },
    });
    common::save("durability", &json);
}
