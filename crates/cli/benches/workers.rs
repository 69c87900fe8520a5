//! Worker processes draining one queue: trivial one-step tasks drained by 1, 2 and 4
//! `nightshift worker` processes (concurrency 4 each) on SQLite and, when
//! `NIGHTSHIFT_TEST_POSTGRES` names a server, on PostgreSQL; every figure is also given as a
//! ratio to one worker process on SQLite, measured in the same run.
//!
//! `cargo bench --bench workers` (release). Prints a table and writes
//! `target/bench/workers.json`.

use std::process::{Command, Stdio};
use std::time::Instant;

use nightshift::journal::{StoreLocation, Sync};

mod common;

use common::{NOOP, Trivial, median, save};

/// Worker processes per configuration.
const PROCESSES: [usize; 3] = [1, 2, 4];

/// Tasks per round and rounds (fewer in a quick pass).
fn sizes() -> (usize, usize) {
    if common::quick() { (40, 1) } else { (1000, 3) }
}

/// A fresh schema on the test server for one round, if there is a server.
fn postgres_url(round: usize, processes: usize) -> Option<String> {
    let server = std::env::var("NIGHTSHIFT_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty())?;
    let schema = format!("bench_{}_{processes}_{round}", std::process::id());
    let sep = if server.contains('?') { '&' } else { '?' };
    Some(format!("{server}{sep}options=-csearch_path%3D{schema}"))
}

/// Tasks per second `processes` worker processes drain on the journal `postgres` names (else
/// SQLite).
fn drain(runtime: &tokio::runtime::Runtime, processes: usize, postgres: bool) -> f64 {
    let (tasks, rounds) = sizes();
    let rates = (0..rounds)
        .map(|round| {
            let url = postgres.then(|| postgres_url(round, processes)).flatten();
            let step = format!("plugin = {NOOP:?}\nparams = {{}}\n");
            let b = Trivial::on(&step, 1, Sync::Full, url.as_deref());
            b.warm_and_queue(runtime, tasks);
            let state = match b.state.store() {
                StoreLocation::Postgres(url) => url.clone(),
                StoreLocation::Sqlite(_) => b.state.root().display().to_string(),
            };
            let started = Instant::now();
            let workers: Vec<_> = (0..processes)
                .map(|_| {
                    Command::new(env!("CARGO_BIN_EXE_nightshift"))
                        .args(["worker", "--until-idle", "--concurrency", "4", "--json"])
                        .env("NIGHTSHIFT_STATE", &state)
                        .env("NIGHTSHIFT_FILES", b.state.root())
                        .stdout(Stdio::null())
                        .spawn()
                        .expect("spawn worker")
                })
                .collect();
            for mut worker in workers {
                assert!(worker.wait().expect("worker").success(), "worker failed");
            }
            let elapsed = started.elapsed();
            let succeeded = b
                .runner
                .journal()
                .recent_tasks(tasks + 1)
                .expect("tasks")
                .iter()
                .filter(|t| t.status.as_str() == "succeeded")
                .count();
            assert_eq!(
                succeeded,
                tasks + 1,
                "every task finished (and the warm-up)"
            );
            tasks as f64 / elapsed.as_secs_f64()
        })
        .collect();
    median(rates)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let postgres = postgres_url(0, 0).is_some();
    if !postgres {
        eprintln!(
            "PostgreSQL figures skipped: set NIGHTSHIFT_TEST_POSTGRES=postgres://... for them"
        );
    }
    let mut rows = Vec::new();
    for (backend, on_postgres) in [("sqlite", false), ("postgres", true)] {
        if on_postgres && !postgres {
            continue;
        }
        for processes in PROCESSES {
            rows.push((backend, processes, drain(&runtime, processes, on_postgres)));
        }
    }
    let baseline = rows[0].2;
    println!("| journal | worker processes | tasks/s | vs one process on SQLite |");
    println!("| --- | ---: | ---: | ---: |");
    for (backend, processes, rate) in &rows {
        println!(
            "| {backend} | {processes} | {rate:.0} | {:.2}x |",
            rate / baseline
        );
    }
    save(
        "workers",
        &serde_json::json!({
            "tasks": sizes().0,
            "concurrency_per_process": 4,
            "drain": rows.iter().map(|(backend, processes, rate)| serde_json::json!({
                "journal": backend,
                "processes": processes,
                "tasks_per_second": rate,
                "vs_sqlite_one_process": rate / baseline,
            })).collect::<Vec<_>>(),
        }),
    );
}
