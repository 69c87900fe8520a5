//! The cost of durability: steps per second of a trivial plugin step run through the runner
//! with signed records committed under `synchronous=FULL` and `NORMAL`, against the same step
//! run by the sandbox alone with no journal, all in one run (ratios, since machines are noisy).
//!
//! `cargo bench --bench durability` (release). Prints a table and writes
//! `target/bench/durability.json`.

use std::time::Duration;

use nightshift::journal::Sync;

mod common;

use common::{Trivial, runner_steps_per_second, sandbox_steps_per_second};

const STEPS: usize = 100;
const ROUNDS: usize = 5;
/// Tasks committing steps at the same time, for the group-commit figure.
const CONCURRENT_TASKS: usize = 4;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let off = sandbox_steps_per_second(&runtime, STEPS, ROUNDS);
    let normal = runner_steps_per_second(&runtime, &Trivial::new(STEPS, Sync::Normal), 1, ROUNDS);
    let full = runner_steps_per_second(&runtime, &Trivial::new(STEPS, Sync::Full), 1, ROUNDS);
    let concurrent = runner_steps_per_second(
        &runtime,
        &Trivial::new(STEPS, Sync::Full),
        CONCURRENT_TASKS,
        ROUNDS,
    );
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
        ("FULL, 4 tasks committing at once", concurrent),
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
        "steps_per_second": { "no_journal": off, "normal": normal, "full": full, "full_4_concurrent_tasks": concurrent },
        "slowdown_vs_no_journal": { "normal": off / normal, "full": off / full },
    });
    common::save("durability", &json);
}
