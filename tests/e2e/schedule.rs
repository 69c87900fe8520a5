//! Cron schedules through the built binary: firing exactly once with several workers,
//! catching up after downtime, and refusing bad expressions and zones.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::guests::NOOP;
use crate::queue::{guest_pipeline, scalar, signal, spawn_worker};
use crate::util::Env;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

fn a_seconds_schedule_fires_once_per_due_instant_with_two_workers_up() {
    let env = Env::new();
    let pipeline = guest_pipeline(&env, "tick.toml", NOOP, "{}", "");
    let added_at = now_ms();
    let add = env.run(&[
        "schedule",
        "add",
        "tick",
        pipeline.to_str().expect("utf-8"),
        "--cron",
        "*/2 * * * * *",
        "--overlap",
        "allow-all",
    ]);
    assert_eq!(add.code(), 0, "{add}");
    let workers = [
        spawn_worker(&env, &["--concurrency", "2"]),
        spawn_worker(&env, &["--concurrency", "2"]),
    ];
    std::thread::sleep(Duration::from_millis(7000));
    let stopped_at = now_ms();
    for worker in &workers {
        signal(worker, "TERM");
    }
    for worker in workers {
        let output = worker.wait_with_output().expect("worker");
        assert!(output.status.success(), "{output:?}");
    }
    // Due instants: every even second after the schedule was added, until the workers stopped.
    let due = (stopped_at / 2000) - (added_at / 2000);
    let runs = scalar(
        &env,
        "SELECT count(*) FROM schedule_runs WHERE schedule = 'tick'",
    );
    let distinct = scalar(
        &env,
        "SELECT count(DISTINCT due_at) FROM schedule_runs WHERE schedule = 'tick'",
    );
    let tasks = scalar(&env, "SELECT count(*) FROM tasks WHERE schedule = 'tick'");
    assert_eq!(runs, distinct, "a due instant fired twice");
    assert_eq!(tasks, runs, "one task per due instant");
    assert!(
        runs == due || runs == due - 1,
        "{runs} runs for {due} due instants"
    );
    assert_eq!(
        scalar(
            &env,
            "SELECT count(*) FROM schedule_runs WHERE due_at % 2000 != 0"
        ),
        0
    );
}

fn runs_missed_while_no_worker_was_up_are_caveats_and_only_the_latest_starts() {
    let env = Env::new();
    let pipeline = guest_pipeline(&env, "every.toml", NOOP, "{}", "");
    let add = env.run(&[
        "schedule",
        "add",
        "every-second",
        pipeline.to_str().expect("utf-8"),
        "--cron",
        "* * * * * *",
    ]);
    assert_eq!(add.code(), 0, "{add}");
    std::thread::sleep(Duration::from_millis(3500));
    let pause = env.run(&["schedule", "pause", "every-second"]);
    assert_eq!(pause.code(), 0, "{pause}");
    let resume = env.run(&["schedule", "resume", "every-second"]);
    assert_eq!(resume.code(), 0, "{resume}");
    // Resuming skips what was due while paused; add another downtime after it.
    std::thread::sleep(Duration::from_millis(3500));
    let worker_started = now_ms();
    let worker = spawn_worker(&env, &["--until-idle"]);
    let output = worker.wait_with_output().expect("worker");
    assert!(output.status.success(), "{output:?}");
    // Of the runs due before the worker came up, at most the latest started (it may also
    // have fallen due while the worker started); runs due since then are not missed ones.
    let missed_started = scalar(
        &env,
        &format!(
            "SELECT count(*) FROM schedule_runs WHERE schedule = 'every-second' AND due_at <= {worker_started}"
        ),
    );
    let runs = scalar(
        &env,
        "SELECT count(*) FROM schedule_runs WHERE schedule = 'every-second'",
    );
    assert!(
        missed_started <= 1,
        "only the latest missed run starts by default"
    );
    assert!(runs >= 1, "the latest missed run starts");
    let list = env.run(&["schedule", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&list.stdout()).expect("json");
    let caveats = list[0]["caveats"].as_array().expect("caveats");
    assert!(
        caveats.iter().any(|c| c["message"]
            .as_str()
            .is_some_and(|m| m.contains("missed while no worker was up"))),
        "{list:#}"
    );
    assert!(list[0]["next_run"].is_string(), "{list:#}");
}

fn bad_expressions_zones_and_policies_exit_2_with_the_reason() {
    let env = Env::new();
    let pipeline = guest_pipeline(&env, "p.toml", NOOP, "{}", "");
    let path = pipeline.to_str().expect("utf-8");
    for (args, reason) in [
        (vec!["--cron", "61 * * * *"], "minute"),
        (vec!["--cron", "* * *"], "cron"),
        (
            vec!["--cron", "0 9 * * MON", "--tz", "Mars/Olympus"],
            "Mars/Olympus",
        ),
        (
            vec!["--cron", "0 9 * * MON", "--overlap", "sometimes"],
            "overlap",
        ),
        (
            vec!["--cron", "0 9 * * MON", "--catch-up-window", "soon"],
            "catch-up",
        ),
    ] {
        let mut all = vec!["schedule", "add", "bad", path];
        all.extend(args);
        let run = env.run(&all);
        assert_eq!(run.code(), 2, "{run}");
        assert!(run.stderr().contains(reason), "{reason}: {run}");
    }
    let ok = env.run(&[
        "schedule",
        "add",
        "weekdays",
        path,
        "--cron",
        "0 9 * * MON-FRI",
        "--tz",
        "Europe/Berlin",
    ]);
    assert_eq!(ok.code(), 0, "{ok}");
    let list = env.run(&["schedule", "list"]);
    assert!(list.stdout().contains("weekdays"), "{list}");
    assert!(list.stdout().contains("09:00:00 CE"), "{list}");
    let rm = env.run(&["schedule", "rm", "weekdays"]);
    assert_eq!(rm.code(), 0, "{rm}");
    let again = env.run(&["schedule", "rm", "weekdays"]);
    assert_eq!(again.code(), 2, "{again}");
}

crate::util::on_each_backend!(
    a_seconds_schedule_fires_once_per_due_instant_with_two_workers_up,
    runs_missed_while_no_worker_was_up_are_caveats_and_only_the_latest_starts,
    bad_expressions_zones_and_policies_exit_2_with_the_reason,
);
