//! The sandbox alone: a trivial step (instantiate + call, no journal) with the pooling
//! instance allocator against the on-demand one, and how far past its deadline a runaway
//! guest runs before it is stopped, in one run.
//!
//! `cargo bench --bench sandbox` (release). Prints a table and writes
//! `target/bench/sandbox.json`.

use std::time::{Duration, Instant};

use nightshift::catalog::Catalog;
use nightshift::sandbox::{Grants, OpenedDirs, Sandbox, StepContext, StepInput};

mod common;

use common::{BUSY_LOOP, NOOP, NoHost, median};

const STEPS: usize = 500;
const ROUNDS: usize = 7;

/// The input of one step, with empty params.
fn input() -> StepInput {
    StepInput {
        task_id: "bench".into(),
        step_id: "s".into(),
        attempt: 1,
        params: "{}".into(),
        prior: Vec::new(),
        checkpoint: None,
    }
}

/// Median time of one trivial step, in microseconds.
fn step_time(runtime: &tokio::runtime::Runtime, pooling: bool) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let sandbox = Sandbox::with_pooling(dir.path(), pooling).expect("sandbox");
    let source = Catalog::new(dir.path())
        .resolve(NOOP, std::path::Path::new("/"))
        .expect("guest");
    let (prepared, _) = sandbox.prepare(&source).expect("prepare");
    let grants = Grants::default();
    let noop = input();
    let ctx = StepContext::default();
    let step = || {
        let captured = runtime.block_on(sandbox.run_plugin(
            &prepared,
            &grants,
            &OpenedDirs::default(),
            &noop,
            Box::new(NoHost),
            &ctx,
        ));
        assert!(matches!(captured.outcome, Ok(Ok(_))));
    };
    step();
    median(
        (0..ROUNDS)
            .map(|_| {
                let started = Instant::now();
                for _ in 0..STEPS {
                    step();
                }
                started.elapsed().as_secs_f64() * 1e6 / STEPS as f64
            })
            .collect(),
    )
}

/// How long past a 200 ms deadline an infinite loop runs, in milliseconds (median).
fn runaway_overshoot(runtime: &tokio::runtime::Runtime) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let sandbox = Sandbox::new(dir.path()).expect("sandbox");
    let source = Catalog::new(dir.path())
        .resolve(BUSY_LOOP, std::path::Path::new("/"))
        .expect("guest");
    let (prepared, _) = sandbox.prepare(&source).expect("prepare");
    let mut grants = Grants::default();
    grants.limits.timeout = Duration::from_millis(200);
    let spin = input();
    let ctx = StepContext::default();
    median(
        (0..ROUNDS)
            .map(|_| {
                let started = Instant::now();
                let captured = runtime.block_on(sandbox.run_plugin(
                    &prepared,
                    &grants,
                    &OpenedDirs::default(),
                    &spin,
                    Box::new(NoHost),
                    &ctx,
                ));
                assert!(captured.outcome.is_err());
                (started.elapsed().as_secs_f64() - 0.2) * 1e3
            })
            .collect(),
    )
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let pooled = step_time(&runtime, true);
    let on_demand = step_time(&runtime, false);
    let overshoot = runaway_overshoot(&runtime);
    println!(
        "sandbox, trivial plugin step (instantiate + call), median of {ROUNDS} rounds of {STEPS} steps"
    );
    println!(
        "{:<34} {:>12} {:>16}",
        "instance allocator", "per step", "vs on-demand"
    );
    println!(
        "{:<34} {:>10.1}µs {:>15.2}x",
        "pooling",
        pooled,
        on_demand / pooled
    );
    println!("{:<34} {:>10.1}µs {:>15.2}x", "on-demand", on_demand, 1.0);
    println!("runaway guest stopped {overshoot:.1} ms past its 200 ms deadline (median)");
    let json = serde_json::json!({
        "bench": "sandbox",
        "step_us": { "pooling": pooled, "on_demand": on_demand },
        "runaway_overshoot_ms": overshoot,
    });
    common::save("sandbox", &json);
}
