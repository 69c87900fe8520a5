//! The background lane: drain rate of trivial one-step tasks at concurrency 1, 2 and 8
//! against the same tasks run one after another in the foreground; latency from submit to
//! the first step starting with an idle worker; and the cost of a claim with 100,000 tasks
//! queued against 100, all in one run.
//!
//! `cargo bench --bench queue` (release). Prints a table and writes `target/bench/queue.json`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nightshift::journal::{NewStep, NewTask, QueueOptions, Sync};
use nightshift::runner::Silent;
use nightshift::worker::{Shutdown, Worker, WorkerOptions};

mod common;

use common::{NAP, NOOP, Trivial, median, save};

/// Tasks per round and rounds (fewer in a quick pass).
fn sizes() -> (usize, usize) {
    if common::quick() { (30, 1) } else { (300, 3) }
}

fn bench() -> Trivial {
    bench_of(NOOP, "{}", "")
}

/// A state directory and runner with a one-step plan running the test guest `plugin` with
/// `params` and `grants`.
fn bench_of(plugin: &str, params: &str, grants: &str) -> Trivial {
    let step = format!("plugin = {plugin:?}\nparams = {params}\n{grants}\n");
    Trivial::of(&step, 1, Sync::Full)
}

fn options(concurrency: usize) -> WorkerOptions {
    WorkerOptions {
        concurrency,
        until_idle: true,
        ..WorkerOptions::default()
    }
}

/// Tasks per second a worker drains at `concurrency`.
fn drain(runtime: &tokio::runtime::Runtime, concurrency: usize) -> f64 {
    let (tasks, rounds) = sizes();
    let rates = (0..rounds)
        .map(|_| {
            let b = bench();
            b.warm_and_queue(runtime, tasks);
            let worker = Worker::new(Arc::clone(&b.runner), b.state.clone(), options(concurrency));
            let (_tx, rx) = tokio::sync::watch::channel(Shutdown::No);
            let started = Instant::now();
            let summary = runtime.block_on(worker.run(rx)).expect("worker");
            assert_eq!(summary.finished, tasks as u64, "every task finished");
            tasks as f64 / started.elapsed().as_secs_f64()
        })
        .collect();
    median(rates)
}

/// Tasks per second run one after another in the foreground: the same work without a queue.
fn foreground(runtime: &tokio::runtime::Runtime) -> f64 {
    let (tasks, rounds) = sizes();
    let rates = (0..rounds)
        .map(|_| {
            let b = bench();
            runtime
                .block_on(b.runner.run(&b.plan, Arc::new(Silent)))
                .expect("warm-up");
            let started = Instant::now();
            for _ in 0..tasks {
                runtime
                    .block_on(b.runner.run(&b.plan, Arc::new(Silent)))
                    .expect("run");
            }
            tasks as f64 / started.elapsed().as_secs_f64()
        })
        .collect();
    median(rates)
}

/// Milliseconds from submit to the first attempt starting, with an idle worker waiting.
fn submit_to_start() -> f64 {
    let b = bench();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime
        .block_on(b.runner.run(&b.plan, Arc::new(Silent)))
        .expect("warm-up");
    let (tx, rx) = tokio::sync::watch::channel(Shutdown::No);
    let worker = Worker::new(
        Arc::clone(&b.runner),
        b.state.clone(),
        WorkerOptions {
            poll: Duration::from_secs(5),
            ..WorkerOptions::default()
        },
    );
    let handle = runtime.spawn(async move { worker.run(rx).await });
    // The worker starts listening for wakeups as it starts.
    std::thread::sleep(Duration::from_millis(200));
    let watcher = nightshift::journal::open(b.state.store()).expect("journal");
    let mut latencies = Vec::new();
    for _ in 0..if common::quick() { 5 } else { 40 } {
        let started = Instant::now();
        let task = b
            .runner
            .submit(&b.plan, &QueueOptions::default())
            .expect("submit")
            .task_id;
        loop {
            let steps = watcher.steps(&task).expect("steps");
            if steps.iter().any(|s| s.attempts > 0) {
                break;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        while watcher
            .find_task(&task)
            .expect("task")
            .finished_at
            .is_none()
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = tx.send(Shutdown::Now);
    let _ = runtime.block_on(handle);
    median(latencies)
}

/// Resident memory per running step: a worker at concurrency `steps` runs that many steps
/// that sleep, and the process's peak resident memory is compared with before.
fn memory_per_step(steps: usize) -> f64 {
    let b = bench_of(
        NAP,
        "{ iterations = 1500 }",
        "grants = { clocks = \"real\" }",
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime
        .block_on(b.runner.run(&b.plan, Arc::new(Silent)))
        .expect("warm-up");
    for _ in 0..steps {
        b.runner
            .submit(&b.plan, &QueueOptions::default())
            .expect("submit");
    }
    let before = common::rss_bytes();
    let worker = Worker::new(Arc::clone(&b.runner), b.state.clone(), options(steps));
    let (_tx, rx) = tokio::sync::watch::channel(Shutdown::No);
    let handle = runtime.spawn(async move { worker.run(rx).await });
    let mut peak = before;
    while !handle.is_finished() {
        peak = peak.max(common::rss_bytes());
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = runtime.block_on(handle);
    peak.saturating_sub(before) as f64 / steps as f64
}

/// Microseconds per claim with `queued` tasks waiting.
fn claim_cost(queued: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = nightshift::journal::open_sqlite(&dir.path().join("journal.db"), Sync::Normal)
        .expect("journal");
    let steps = vec![NewStep {
        step_id: "s",
        kind: nightshift::journal::ComponentKind::Plugin,
        plugin: "p",
        plugin_digest: "d",
        is_check: false,
    }];
    for i in 0..queued {
        let id = format!("{i:032}");
        let task = NewTask {
            id: &id,
            pipeline: "p",
            pipeline_path: "p.toml",
            pipeline_digest: "d",
            workspace: "/ws",
            params: "{}",
            pipeline_text: "",
            steps: steps.clone(),
        };
        journal
            .submit_task(&task, &QueueOptions::default())
            .expect("submit");
    }
    let claims = 50;
    let started = Instant::now();
    for _ in 0..claims {
        journal
            .claim("bench", 60_000)
            .expect("claim")
            .expect("a task");
    }
    started.elapsed().as_secs_f64() * 1e6 / claims as f64
}

fn main() {
    let (tasks, rounds) = sizes();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let baseline = foreground(&runtime);
    let mut rows = Vec::new();
    println!("trivial one-step tasks, {tasks} per round, median of {rounds} rounds");
    println!("{:<34} {:>10} {:>8}", "", "tasks/s", "ratio");
    println!(
        "{:<34} {:>10.0} {:>8}",
        "foreground, one after another", baseline, "1.00x"
    );
    for concurrency in [1, 2, 8] {
        let rate = drain(&runtime, concurrency);
        println!(
            "{:<34} {:>10.0} {:>7.2}x",
            format!("worker, concurrency {concurrency}"),
            rate,
            rate / baseline
        );
        rows.push(serde_json::json!({ "concurrency": concurrency, "tasks_per_s": rate, "ratio_to_foreground": rate / baseline }));
    }
    drop(runtime);
    let latency = submit_to_start();
    println!("submit to first step, idle worker: {latency:.2} ms (median)");
    let per_step = memory_per_step(8);
    println!(
        "resident memory per running step (8 at once): {:.1} MiB",
        per_step / (1u64 << 20) as f64
    );
    let small = claim_cost(100);
    let many = if common::quick() { 1_000 } else { 100_000 };
    let large = claim_cost(many);
    println!(
        "claim: {small:.0} µs with 100 queued, {large:.0} µs with {many} queued ({:.2}x)",
        large / small
    );
    save(
        "queue",
        &serde_json::json!({
            "tasks": tasks,
            "foreground_tasks_per_s": baseline,
            "drain": rows,
            "submit_to_start_ms": latency,
            "memory_per_running_step_bytes": per_step,
            "claim_us": { "queued_100": small, "queued_many": large, "many": many, "ratio": large / small },
        }),
    );
}
