//! Crashes: a task aborted at every boundary of the commit protocol, and killed at random
//! instants, resumes to exactly the workspace an uninterrupted run leaves, with one
//! succeeded record per step and evidence that verifies; a step's retries count across them.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::guests::{FLAKY, WORK};
use crate::util::{Env, quoted};

/// Three steps that checkpoint while they compute, then create, modify and delete files.
fn workload(env: &Env) -> std::path::PathBuf {
    env.file("out/seed.txt", "seed\n");
    let step = |id: &str, extra: &str| {
        format!(
            "[[step]]\nid = \"{id}\"\nplugin = {plugin}\nparams = {{ iterations = 600000, {extra} }}\ngrants = {{ write = [\"out\"] }}\n",
            plugin = quoted(WORK)
        )
    };
    env.pipeline(&format!(
        "name = \"workload\"\n{}{}{}",
        step("first", r#"files = ["out/a.txt", "out/b.txt"]"#),
        step(
            "second",
            r#"files = ["out/c.txt"], append = "out/a.txt", delete = "out/b.txt""#
        ),
        step(
            "third",
            r#"files = ["out/d.txt", "out/e.txt"], append = "out/seed.txt""#
        ),
    ))
}

/// Every file of the workspace, by relative path.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .expect("inside")
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&path).expect("read file"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The workspace an uninterrupted run of the workload leaves.
fn reference() -> BTreeMap<String, Vec<u8>> {
    let env = Env::new();
    let pipeline = workload(&env);
    let run = env.run(&["run", &pipeline.display().to_string(), "--json"]);
    assert_eq!(run.code(), 0, "{run}");
    tree(&env.workspace())
}

fn only_task(env: &Env) -> Option<String> {
    let status = env.run(&["status", "--json"]);
    let tasks: Vec<serde_json::Value> =
        serde_json::from_str(&status.stdout()).expect("status JSON");
    assert!(tasks.len() <= 1, "one task expected: {tasks:?}");
    tasks
        .first()
        .map(|t| t["task_id"].as_str().expect("id").to_owned())
}

/// The task finished, its workspace equals `expected`, each step has exactly one succeeded
/// record, and `verify` passes.
fn assert_recovered(env: &Env, task: &str, expected: &BTreeMap<String, Vec<u8>>) {
    assert_eq!(
        &tree(&env.workspace()),
        expected,
        "workspace differs from an uninterrupted run"
    );
    let verify = env.run(&["verify", task, "--json"]);
    assert_eq!(verify.code(), 0, "{verify}");
    let mut journal = env.db();
    for step in ["first", "second", "third"] {
        let succeeded = journal.scalar(
            "SELECT count(*) FROM records WHERE task_id = ?1 AND step_id = ?2 AND body LIKE '%\"status\":\"succeeded\"%'",
            &[task, step],
        );
        assert_eq!(
            succeeded, 1,
            "step `{step}` must have exactly one succeeded record"
        );
    }
}

fn abort_at(failpoint: &str) {
    let expected = reference();
    let env = Env::new();
    let pipeline = workload(&env);
    let crashed = env
        .command(&["run", &pipeline.display().to_string(), "--json"])
        .env("NIGHTSHIFT_FAILPOINT", format!("{failpoint}:2"))
        .output()
        .expect("run");
    assert!(
        !crashed.status.success(),
        "failpoint {failpoint} did not abort the run"
    );
    assert!(
        String::from_utf8_lossy(&crashed.stderr)
            .contains(&format!("failpoint {failpoint}: aborting"))
    );
    let task = only_task(&env).expect("the task was recorded before the crash");

    let status = env.run(&["status", &task]);
    assert!(
        status.stdout().contains("status    interrupted"),
        "{status}"
    );
    let resumed = env.run(&["resume", &task, "--json"]);
    assert_eq!(resumed.code(), 0, "{resumed}");
    assert_recovered(&env, &task, &expected);
    if failpoint == "after-run" {
        // The aborted attempt had checkpointed all its rounds: the next one starts from there.
        let report: serde_json::Value = serde_json::from_str(&resumed.stdout()).expect("report");
        assert_eq!(
            crate::util::step(&report, "second")["summary"],
            "600000 rounds, resumed at 600000"
        );
        assert_eq!(crate::util::step(&report, "second")["attempts"], 2);
    }

    let again = env.run(&["resume", &task]);
    assert_eq!(again.code(), 0, "{again}");
    assert!(
        again
            .stderr()
            .contains("already succeeded; nothing to resume"),
        "{again}"
    );
}

macro_rules! failpoint_tests {
    ($($name:ident => $point:literal),+ $(,)?) => {
        $(
            fn $name() {
                abort_at($point);
            }
        )+

        #[test]
        fn every_failpoint_of_the_commit_protocol_has_a_test() {
            let tested = [$($point),+];
            assert_eq!(&tested[..], nightshift::failpoint::ALL);
        }
    };
}

failpoint_tests! {
    crash_before_step => "before-step",
    crash_after_run_before_commit => "after-run",
    crash_after_commit_before_apply => "after-commit",
    crash_in_the_middle_of_apply => "mid-apply",
    crash_after_apply_before_it_is_marked => "after-apply",
}

/// A small seeded generator, so a failing sequence of kills can be replayed.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound.max(1)
    }
}

/// SIGKILLs `nightshift` at random instants until at least `NIGHTSHIFT_CRASH_KILLS` (default
/// 50) kills landed, resuming each task to the end; `NIGHTSHIFT_CRASH_SEED` replays a run.
fn random_kills_never_lose_or_double_a_change() {
    let target: u64 = std::env::var("NIGHTSHIFT_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let seed: u64 = std::env::var("NIGHTSHIFT_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    let mut rng = XorShift(seed | 1);
    let expected = reference();

    // How long an uninterrupted run takes here, to spread the kills over all of it.
    let timing = Env::new();
    let pipeline = workload(&timing);
    let started = Instant::now();
    assert_eq!(
        timing.run(&["run", &pipeline.display().to_string()]).code(),
        0
    );
    let span_ms = (started.elapsed().as_millis() as u64 * 6 / 5).max(20);

    let (mut kills, mut rounds) = (0u64, 0u64);
    while kills < target {
        rounds += 1;
        let env = Env::new();
        let pipeline = workload(&env);
        loop {
            let task = only_task(&env);
            let mut child = match &task {
                Some(task) => env.command(&["resume", task, "--json"]),
                None => env.command(&["run", &pipeline.display().to_string(), "--json"]),
            }
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn nightshift");
            let deadline = Instant::now() + Duration::from_millis(rng.below(span_ms));
            let status = loop {
                if let Some(status) = child.try_wait().expect("poll child") {
                    break Some(status);
                }
                if Instant::now() >= deadline {
                    break None;
                }
                std::thread::sleep(Duration::from_millis(1));
            };
            match status {
                Some(status) => {
                    assert!(
                        status.success(),
                        "seed {seed} round {rounds}: nightshift failed: {status}"
                    );
                    let task = only_task(&env).expect("task");
                    assert_recovered(&env, &task, &expected);
                    break;
                }
                None => {
                    child.kill().expect("SIGKILL");
                    child.wait().expect("reap");
                    kills += 1;
                }
            }
        }
    }
    eprintln!("random kills: {kills} kills over {rounds} tasks survived (seed {seed})");
}

fn concurrent_processes_share_one_state_directory_safely() {
    let env = Env::new();
    let pipeline = workload(&env);
    let workspaces: Vec<_> = (0..4)
        .map(|i| {
            let dir = env.outside().join(format!("ws{i}"));
            std::fs::create_dir_all(dir.join("out")).expect("workspace");
            std::fs::write(dir.join("out/seed.txt"), "seed\n").expect("seed");
            dir
        })
        .collect();
    let children: Vec<_> = workspaces
        .iter()
        .map(|ws| {
            env.command(&[
                "run",
                &pipeline.display().to_string(),
                "--json",
                "--workspace",
                &ws.display().to_string(),
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn")
        })
        .collect();
    let expected = reference();
    for (child, ws) in children.into_iter().zip(&workspaces) {
        let output = child.wait_with_output().expect("wait");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("report");
        let task = report["task_id"].as_str().expect("id");
        let mut files = tree(ws);
        files.insert(
            "pipeline.toml".into(),
            std::fs::read(&pipeline).expect("pipeline"),
        );
        assert_eq!(files, expected);
        let verify = env.run(&["verify", task]);
        assert_eq!(verify.code(), 0, "{verify}");
    }
}

/// A step that always fails with a retryable error, run with `retries` and aborted at
/// `failpoint`, then resumed: however the crash split its attempts, the step fails after
/// `retries + 1` failed attempts in all; the attempt the crash interrupted is not one.
fn abort_retrying_then_resume(failpoint: &str, retries: u32) {
    let env = Env::new();
    let pipeline = crate::queue::guest_pipeline(
        &env,
        "flaky.toml",
        FLAKY,
        r#"{ iterations = 100 }"#,
        &format!("retries = {retries}\nretry_backoff = \"10ms\""),
    );
    let crashed = env
        .command(&["run", &pipeline.display().to_string(), "--json"])
        .env("NIGHTSHIFT_FAILPOINT", failpoint)
        .output()
        .expect("run");
    assert!(
        String::from_utf8_lossy(&crashed.stderr).contains("aborting"),
        "{failpoint}: the run did not abort: {crashed:?}"
    );
    let task = only_task(&env).expect("the task was recorded before the crash");

    let resumed = env.run(&["resume", &task, "--json"]);
    assert_eq!(resumed.code(), 1, "{failpoint}: the step fails: {resumed}");
    let mut journal = env.db();
    let failed = journal.scalar(
        "SELECT count(*) FROM attempts WHERE task_id = ?1 AND status = 'failed'",
        &[&task],
    );
    assert_eq!(
        failed,
        i64::from(retries) + 1,
        "{failpoint}, retries = {retries}: failed attempts across the crash and the resume"
    );
    let verify = env.run(&["verify", &task]);
    assert_eq!(verify.code(), 0, "{verify}");
}

fn a_resumed_step_keeps_the_retries_it_used_before_the_crash() {
    // Aborted after the first failure was committed, before its retry was recorded.
    abort_retrying_then_resume("after-commit:1", 1);
    // Aborted as the retry started: that attempt is interrupted, and runs again.
    abort_retrying_then_resume("before-step:2", 1);
    abort_retrying_then_resume("before-step:3", 2);
    // No retry left at the crash: the resumed task fails without running the step again.
    abort_retrying_then_resume("after-commit:1", 0);
}

crate::util::on_each_backend!(
    crash_before_step,
    crash_after_run_before_commit,
    crash_after_commit_before_apply,
    crash_in_the_middle_of_apply,
    crash_after_apply_before_it_is_marked,
    random_kills_never_lose_or_double_a_change,
    concurrent_processes_share_one_state_directory_safely,
    a_resumed_step_keeps_the_retries_it_used_before_the_crash,
);
