//! The background lane through the built binary: submit, workers sharing one state
//! directory, leases and fencing, retries, cancellation, graceful shutdown.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::guests::{APPEND, FAIL, FLAKY, NAP, NOOP, WRITE};
use crate::util::{Env, quoted};

/// A one-step pipeline running the test guest with `params`, writing to `out/`.
/// A pipeline of one step, the test guest `plugin` with `params`, then `extra` lines.
pub(crate) fn guest_pipeline(
    env: &Env,
    file: &str,
    plugin: &str,
    params: &str,
    extra: &str,
) -> PathBuf {
    env.file(
        file,
        &format!(
            r#"
name = "{file}"
[params]
line = "x"
[[step]]
id = "work"
plugin = {}
params = {params}
grants = {{ write = ["out"], clocks = "real" }}
{extra}
"#,
            quoted(plugin)
        ),
    )
}

pub(crate) fn submit(env: &Env, pipeline: &Path, extra: &[&str]) -> String {
    let mut args = vec!["submit", pipeline.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    let run = env.run(&args);
    assert_eq!(run.code(), 0, "{run}");
    run.stdout().trim().to_owned()
}

pub(crate) fn spawn_worker(env: &Env, extra: &[&str]) -> Child {
    let mut args = vec!["worker"];
    args.extend_from_slice(extra);
    env.command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn worker")
}

pub(crate) fn signal(child: &Child, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name}");
}

pub(crate) fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The one number `sql` selects from the journal.
pub(crate) fn scalar(env: &Env, sql: &str) -> i64 {
    env.db().scalar(sql, &[])
}

fn task_status(env: &Env, task: &str) -> String {
    env.db()
        .rows("SELECT status FROM tasks WHERE id = ?1", &[task])[0][0]
        .clone()
        .expect("status")
}

fn event_kinds(env: &Env, task: &str) -> Vec<(String, String, Option<String>)> {
    env.db()
        .rows(
            "SELECT kind, message, data FROM events WHERE task_id = ?1 ORDER BY seq",
            &[task],
        )
        .into_iter()
        .map(|row| {
            let [kind, message, data] = <[Option<String>; 3]>::try_from(row).expect("3 columns");
            (kind.expect("kind"), message.expect("message"), data)
        })
        .collect()
}

/// Waits until the task's first attempt has started.
fn wait_for_first_attempt(env: &Env, task: &str) {
    wait_until(
        "the first attempt to start",
        Duration::from_secs(30),
        || {
            event_kinds(env, task)
                .iter()
                .any(|(kind, message, _)| kind == "attempt" && message.contains("started"))
        },
    );
}

pub(crate) fn finish(child: Child) -> std::process::Output {
    child.wait_with_output().expect("worker output")
}

/// A pipeline whose task appends its `line` parameter to `out/lines.txt`.
pub(crate) fn append_pipeline(env: &Env) -> PathBuf {
    guest_pipeline(
        env,
        "append.toml",
        APPEND,
        r#"{ path = "out/lines.txt", text = "${line}" }"#,
        "",
    )
}

/// Queues `count` tasks of `pipeline`, task `i` with `line=task-i`, from a few threads
/// (each submit is its own process).
pub(crate) fn submit_lines(env: &Env, pipeline: &Path, count: usize) {
    std::thread::scope(|scope| {
        for chunk in 0..4 {
            scope.spawn(move || {
                for i in (chunk..count).step_by(4) {
                    let param = format!("line=task-{i}");
                    submit(env, pipeline, &["--param", &param]);
                }
            });
        }
    });
    assert_eq!(
        scalar(env, "SELECT count(*) FROM tasks WHERE status = 'queued'"),
        count as i64
    );
}

/// Every one of `count` appending tasks landed its line exactly once: one succeeded task,
/// attempt and record each. Returns the tasks some worker reclaimed from another, after
/// checking that the first of them verify.
pub(crate) fn assert_every_line_landed_once(env: &Env, count: usize) -> Vec<String> {
    let text = std::fs::read_to_string(env.workspace().join("out/lines.txt")).expect("lines");
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for line in text.lines() {
        *seen.entry(line).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "lines landed twice: {twice:?}");
    if seen.len() != count {
        let mut db = env.db();
        for i in 0..count {
            let line = format!("task-{i}");
            if seen.contains_key(line.as_str()) {
                continue;
            }
            let rows = db.rows(
                "SELECT e.kind, e.message FROM events e JOIN tasks t ON t.id = e.task_id
                 WHERE t.params LIKE ?1 ORDER BY e.seq",
                &[&format!("%\"{line}\"%")],
            );
            eprintln!("missing {line}: {rows:#?}");
        }
    }
    assert_eq!(seen.len(), count, "every line lands exactly once");
    assert_eq!(
        scalar(env, "SELECT count(*) FROM tasks WHERE status = 'succeeded'"),
        count as i64
    );
    // No step committed twice: one succeeded attempt and one succeeded record per task.
    assert_eq!(
        scalar(
            env,
            "SELECT count(*) FROM (SELECT task_id FROM attempts WHERE status = 'succeeded'
                                   GROUP BY task_id HAVING count(*) > 1) AS twice"
        ),
        0
    );
    assert_eq!(
        scalar(
            env,
            "SELECT count(*) FROM records WHERE json_extract(body, '$.outcome.status') = 'succeeded'"
        ),
        count as i64
    );
    let reclaimed: Vec<String> = env
        .db()
        .rows(
            "SELECT DISTINCT task_id FROM events WHERE kind = 'lease' AND message LIKE '%reclaimed%'",
            &[],
        )
        .into_iter()
        .filter_map(|row| row.into_iter().next().flatten())
        .collect();
    for task in reclaimed.iter().take(3) {
        let verify = env.run(&["verify", task]);
        assert_eq!(verify.code(), 0, "{verify}");
    }
    reclaimed
}

fn two_workers_drain_a_thousand_tasks_one_killed_midway_every_line_lands_once() {
    const TASKS: usize = 1000;
    let env = Env::new();
    let pipeline = append_pipeline(&env);
    submit_lines(&env, &pipeline, TASKS);

    let lease = ["--lease", "1s", "--concurrency", "4"];
    let doomed = spawn_worker(&env, &lease);
    let survivor = spawn_worker(&env, &[&lease[..], &["--until-idle"]].concat());
    wait_until("a third of the tasks", Duration::from_secs(120), || {
        scalar(
            &env,
            "SELECT count(*) FROM tasks WHERE status = 'succeeded'",
        ) >= TASKS as i64 / 3
    });
    signal(&doomed, "KILL");
    let _ = finish(doomed);
    let output = finish(survivor);
    assert!(output.status.success(), "{output:?}");

    // Tasks the killed worker held were reclaimed, and their evidence still verifies.
    let reclaimed = assert_every_line_landed_once(&env, TASKS);
    eprintln!(
        "drained {TASKS} tasks; {} reclaimed from the killed worker",
        reclaimed.len()
    );
}

fn a_flaky_plugin_succeeds_on_its_third_attempt_with_backoff_in_the_events() {
    let env = Env::new();
    let pipeline = guest_pipeline(
        &env,
        "flaky.toml",
        FLAKY,
        r#"{ iterations = 3 }"#,
        "retries = 2\nretry_backoff = \"100ms\"",
    );
    let task = submit(&env, &pipeline, &[]);
    let output = finish(spawn_worker(&env, &["--until-idle"]));
    assert!(output.status.success(), "{output:?}");
    assert_eq!(task_status(&env, &task), "succeeded");
    let events = event_kinds(&env, &task);
    let retries: Vec<u64> = events
        .iter()
        .filter(|(kind, _, _)| kind == "retry")
        .map(|(_, _, data)| {
            let data: serde_json::Value =
                serde_json::from_str(data.as_deref().expect("retry data")).expect("json");
            data["delay_ms"].as_u64().expect("delay")
        })
        .collect();
    assert_eq!(retries.len(), 2, "{events:#?}");
    assert!(
        (50..=100).contains(&retries[0]),
        "first backoff {retries:?}"
    );
    assert!(
        (100..=200).contains(&retries[1]),
        "second backoff {retries:?}"
    );
    assert_eq!(
        scalar(
            &env,
            &format!("SELECT attempts FROM steps WHERE task_id = '{task}'")
        ),
        3
    );
    let report = env.run(&["report", &task, "--format", "json"]);
    assert_eq!(report.code(), 0, "{report}");
}

fn a_fatal_error_is_not_retried() {
    let env = Env::new();
    let pipeline = guest_pipeline(
        &env,
        "fatal.toml",
        FAIL,
        "{}",
        "retries = 3\nretry_backoff = \"10ms\"",
    );
    let task = submit(&env, &pipeline, &[]);
    let output = finish(spawn_worker(&env, &["--until-idle"]));
    assert!(output.status.success(), "{output:?}");
    assert_eq!(task_status(&env, &task), "failed");
    assert_eq!(
        scalar(
            &env,
            &format!("SELECT attempts FROM steps WHERE task_id = '{task}'")
        ),
        1
    );
}

fn a_cancelled_running_task_stops_at_its_next_check_and_changes_nothing() {
    let env = Env::new();
    let pipeline = guest_pipeline(
        &env,
        "long.toml",
        NAP,
        r#"{ iterations = 60000, path = "out/partial.txt", text = "half done" }"#,
        "",
    );
    let task = submit(&env, &pipeline, &[]);
    let worker = spawn_worker(&env, &[]);
    wait_for_first_attempt(&env, &task);
    std::thread::sleep(Duration::from_millis(300));
    let asked = Instant::now();
    let cancel = env.run(&["cancel", &task]);
    let took = asked.elapsed();
    assert_eq!(cancel.code(), 0, "{cancel}");
    assert_eq!(task_status(&env, &task), "cancelled");
    // The step would nap for a minute; it stops at its next check (every 50 ms). The bound
    // also covers starting the `cancel` process on a machine busy with other tests.
    assert!(took < Duration::from_secs(3), "cancel took {took:?}");
    assert!(!env.workspace().join("out/partial.txt").exists());
    signal(&worker, "TERM");
    let output = finish(worker);
    assert!(output.status.success(), "{output:?}");
}

fn a_queued_task_cancelled_never_starts_and_an_idempotency_key_queues_once() {
    let env = Env::new();
    let pipeline = guest_pipeline(&env, "noop.toml", NOOP, "{}", "");
    let first = submit(&env, &pipeline, &["--idempotency-key", "nightly-1"]);
    let again = env.run(&[
        "submit",
        pipeline.to_str().expect("utf-8"),
        "--idempotency-key",
        "nightly-1",
        "--json",
    ]);
    let again: serde_json::Value = serde_json::from_str(&again.stdout()).expect("json");
    assert_eq!(again["task_id"], first.as_str());
    assert_eq!(again["existing"], true);

    let status = env.run(&["status", &first, "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status.stdout()).expect("json");
    assert_eq!(status[0]["status"], "queued");

    let cancel = env.run(&["cancel", &first]);
    assert_eq!(cancel.code(), 0, "{cancel}");
    assert!(cancel.stdout().contains("cancelled"), "{cancel}");
    let output = finish(spawn_worker(&env, &["--until-idle"]));
    assert!(output.status.success(), "{output:?}");
    assert_eq!(task_status(&env, &first), "cancelled");
    assert_eq!(
        scalar(
            &env,
            &format!("SELECT count(*) FROM attempts WHERE task_id = '{first}'")
        ),
        0,
        "a cancelled queued task never starts"
    );
}

fn sigterm_lets_the_running_step_finish_and_the_next_worker_resumes_the_rest() {
    let env = Env::new();
    let pipeline = env.file(
        "two.toml",
        &format!(
            r#"
name = "two"
[[step]]
id = "first"
plugin = {nap}
params = {{ iterations = 1500, path = "out/first.txt", text = "first" }}
grants = {{ write = ["out"], clocks = "real" }}
[[step]]
id = "second"
plugin = {write}
params = {{ path = "out/second.txt", text = "second" }}
grants = {{ write = ["out"] }}
"#,
            nap = quoted(NAP),
            write = quoted(WRITE)
        ),
    );
    let task = submit(&env, &pipeline, &[]);
    let worker = spawn_worker(&env, &[]);
    wait_for_first_attempt(&env, &task);
    signal(&worker, "TERM");
    let output = finish(worker);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        std::fs::read_to_string(env.workspace().join("out/first.txt")).expect("first"),
        "first",
        "the running step finished and was applied"
    );
    assert!(!env.workspace().join("out/second.txt").exists());
    assert_eq!(task_status(&env, &task), "queued", "put back in the queue");

    let output = finish(spawn_worker(&env, &["--until-idle"]));
    assert!(output.status.success(), "{output:?}");
    assert_eq!(task_status(&env, &task), "succeeded");
    assert!(env.workspace().join("out/second.txt").exists());
    assert_eq!(
        scalar(
            &env,
            &format!("SELECT attempts FROM steps WHERE task_id = '{task}' AND step_id = 'first'")
        ),
        1,
        "the first step did not run again"
    );
}

fn a_worker_paused_past_its_lease_has_its_late_commit_refused() {
    let env = Env::new();
    let pipeline = guest_pipeline(
        &env,
        "slow.toml",
        NAP,
        r#"{ iterations = 1500, path = "out/result.txt", text = "done" }"#,
        "",
    );
    let task = submit(&env, &pipeline, &[]);
    let paused = spawn_worker(&env, &["--lease", "1s"]);
    wait_for_first_attempt(&env, &task);
    signal(&paused, "STOP");
    std::thread::sleep(Duration::from_millis(1500));
    let other = finish(spawn_worker(&env, &["--lease", "1s", "--until-idle"]));
    assert!(other.status.success(), "{other:?}");
    assert_eq!(task_status(&env, &task), "succeeded");

    signal(&paused, "CONT");
    wait_until(
        "the late commit to be refused",
        Duration::from_secs(30),
        || {
            event_kinds(&env, &task)
                .iter()
                .any(|(kind, _, _)| kind == "fenced")
        },
    );
    signal(&paused, "TERM");
    let output = finish(paused);
    assert!(output.status.success(), "{output:?}");

    assert_eq!(task_status(&env, &task), "succeeded");
    assert_eq!(
        scalar(
            &env,
            &format!(
                "SELECT count(*) FROM attempts WHERE task_id = '{task}' AND status = 'succeeded'"
            )
        ),
        1,
        "the step was committed once"
    );
    let verify = env.run(&["verify", &task]);
    assert_eq!(verify.code(), 0, "{verify}");
}

fn gc_exports_the_evidence_of_finished_tasks_then_prunes_them_and_leaves_queued_ones() {
    let env = Env::new();
    let pipeline = guest_pipeline(
        &env,
        "w.toml",
        WRITE,
        r#"{ path = "out/a.txt", text = "a" }"#,
        "",
    );
    let finished = submit(&env, &pipeline, &[]);
    let output = finish(spawn_worker(&env, &["--until-idle"]));
    assert!(output.status.success(), "{output:?}");
    let queued = submit(&env, &pipeline, &["--not-before", "1h"]);
    std::thread::sleep(Duration::from_millis(20));

    let dry = env.run(&["gc", "--older-than", "10ms", "--dry-run", "--json"]);
    assert_eq!(dry.code(), 0, "{dry}");
    let dry: serde_json::Value = serde_json::from_str(&dry.stdout()).expect("json");
    assert_eq!(dry["would_prune"], serde_json::json!([finished]));
    assert_eq!(
        scalar(&env, "SELECT count(*) FROM tasks"),
        2,
        "dry run deletes nothing"
    );

    let gc = env.run(&["gc", "--older-than", "10ms"]);
    assert_eq!(gc.code(), 0, "{gc}");
    let archive = env.state().join("archive").join(&finished);
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(archive.join("report.json")).expect("archived report"),
    )
    .expect("json");
    assert_eq!(report["status"], "succeeded");
    let envelopes = std::fs::read_dir(&archive)
        .expect("archive")
        .filter(|e| {
            e.as_ref().is_ok_and(|e| {
                e.file_name().to_string_lossy().ends_with(".json") && e.file_name() != "report.json"
            })
        })
        .count();
    assert!(envelopes >= 1, "records exported as attestations");
    assert_eq!(
        scalar(
            &env,
            &format!("SELECT count(*) FROM tasks WHERE id = '{finished}'")
        ),
        0
    );
    assert_eq!(
        scalar(
            &env,
            &format!("SELECT count(*) FROM events WHERE task_id = '{finished}'")
        ),
        0
    );
    assert_eq!(task_status(&env, &queued), "queued");
    let bad = env.run(&["gc", "--older-than", "soon"]);
    assert_eq!(bad.code(), 2, "{bad}");
}

fn status_shows_a_running_task_with_its_progress_and_logs_follow_ends_with_the_task() {
    let env = Env::new();
    let pipeline = guest_pipeline(&env, "nap.toml", NAP, r#"{ iterations = 2000 }"#, "");
    let task = submit(&env, &pipeline, &[]);
    let follow = env
        .command(&["logs", &task, "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("logs --follow");
    let worker = spawn_worker(&env, &[]);
    let mut status = serde_json::Value::Null;
    wait_until("progress to show", Duration::from_secs(30), || {
        let run = env.run(&["status", &task, "--json"]);
        status = serde_json::from_str(&run.stdout()).expect("json");
        status[0]["progress"]["done"]
            .as_u64()
            .is_some_and(|d| d > 0)
    });
    let shown = &status[0];
    assert_eq!(shown["status"], "running", "{status:#}");
    assert_eq!(shown["current_step"], "work", "{status:#}");
    assert_eq!(shown["attempt"], 1, "{status:#}");
    assert_eq!(shown["progress"]["total"], 2000, "{status:#}");
    assert!(
        shown["worker"]
            .as_str()
            .is_some_and(|w| w.starts_with("worker-"))
    );
    let table = env.run(&["status"]);
    assert!(table.stdout().contains("% napping"), "{table}");

    let output = follow.wait_with_output().expect("logs --follow ends");
    assert!(output.status.success(), "{output:?}");
    let streamed = String::from_utf8_lossy(&output.stdout);
    assert!(streamed.contains("attempt 1 succeeded"), "{streamed}");
    assert_eq!(task_status(&env, &task), "succeeded");
    signal(&worker, "TERM");
    let _ = finish(worker);
}

/// Starts a long task under a worker, then stops the worker with two SIGTERMs: the running
/// step stops at once and the task goes back to the queue with its attempt left open.
fn put_back_with_an_open_attempt(env: &Env) -> String {
    let pipeline = guest_pipeline(
        env,
        "long.toml",
        NAP,
        r#"{ iterations = 60000, path = "out/partial.txt", text = "half" }"#,
        "",
    );
    let task = submit(env, &pipeline, &[]);
    let worker = spawn_worker(env, &[]);
    wait_for_first_attempt(env, &task);
    signal(&worker, "TERM");
    std::thread::sleep(Duration::from_millis(200));
    let second = Instant::now();
    signal(&worker, "TERM");
    let output = finish(worker);
    assert!(output.status.success(), "{output:?}");
    assert!(
        second.elapsed() < Duration::from_secs(5),
        "stopped in {:?}",
        second.elapsed()
    );
    assert_eq!(task_status(env, &task), "queued", "put back in the queue");
    assert!(!env.workspace().join("out/partial.txt").exists());
    task
}

fn a_second_sigterm_stops_the_running_step_at_once_and_puts_the_task_back() {
    let env = Env::new();
    let task = put_back_with_an_open_attempt(&env);
    let cancel = env.run(&["cancel", &task]);
    assert_eq!(cancel.code(), 0, "{cancel}");
    assert_eq!(task_status(&env, &task), "cancelled");
    // The attempt the stopped step left open is recorded as interrupted.
    let verify = env.run(&["verify", &task]);
    assert_eq!(verify.code(), 0, "{verify}");
    assert_eq!(
        scalar(
            &env,
            &format!(
                "SELECT count(*) FROM records WHERE task_id = '{task}'
                 AND json_extract(body, '$.outcome.status') = 'interrupted'"
            )
        ),
        1
    );
}

/// The two front doors that cancel tasks, which must settle a task alike.
#[derive(Debug, Clone, Copy)]
enum Door {
    Cli,
    Mcp,
}

/// Cancels `task` through `door`, returning the status it reports.
fn cancel_through(env: &Env, door: Door, task: &str) -> String {
    match door {
        Door::Cli => {
            let cancel = env.run(&["cancel", task]);
            assert_eq!(cancel.code(), 0, "{cancel}");
            task_status(env, task)
        }
        Door::Mcp => {
            use std::io::{Read as _, Write as _};
            let pipelines = env.outside().join("mcp-pipelines");
            std::fs::create_dir_all(&pipelines).expect("pipelines dir");
            let mut server = env
                .command(&["mcp", "--pipelines", pipelines.to_str().expect("utf-8")])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn nightshift mcp");
            let mut stdin = server.stdin.take().expect("stdin");
            for message in [
                serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                               "clientInfo": {"name": "raw", "version": "0"}}}),
                serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
                serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                    "params": {"name": "cancel_task", "arguments": {"task_id": task}}}),
            ] {
                writeln!(stdin, "{message}").expect("write");
            }
            let mut stdout = String::new();
            let mut out = server.stdout.take().expect("stdout");
            // Read until the answer to the call, then close stdin to stop the server.
            let answer = loop {
                let mut chunk = [0u8; 4096];
                let n = out.read(&mut chunk).expect("read stdout");
                assert!(n > 0, "the server stopped before answering: {stdout}");
                stdout.push_str(&String::from_utf8_lossy(&chunk[..n]));
                let answer = stdout
                    .lines()
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .find(|m| m["id"] == 2);
                if let Some(answer) = answer {
                    break answer;
                }
            };
            drop(stdin);
            let status = server.wait().expect("wait for the server");
            assert!(status.success(), "exit {status:?}");
            answer["result"]["structuredContent"]["status"]
                .as_str()
                .unwrap_or_else(|| panic!("a cancel_task result: {answer}"))
                .to_owned()
        }
    }
}

/// A task whose worker stopped its step at once is put back in the queue with an attempt
/// left open; cancelling it, through either front door, records that attempt as interrupted
/// so its evidence verifies, and ends the task cancelled.
fn a_task_put_back_is_settled_alike_when_cancelled_through_the_cli_and_mcp() {
    for door in [Door::Cli, Door::Mcp] {
        let env = Env::new();
        let task = put_back_with_an_open_attempt(&env);
        assert_eq!(cancel_through(&env, door, &task), "cancelled", "{door:?}");
        assert_eq!(task_status(&env, &task), "cancelled", "{door:?}");
        let verify = env.run(&["verify", &task]);
        assert_eq!(verify.code(), 0, "{door:?}: {verify}");
        let interrupted = scalar(
            &env,
            &format!(
                "SELECT count(*) FROM records WHERE task_id = '{task}'
                 AND json_extract(body, '$.outcome.status') = 'interrupted'"
            ),
        );
        assert_eq!(interrupted, 1, "{door:?}");
        assert!(
            !env.workspace().join("out/partial.txt").exists(),
            "{door:?}"
        );
    }
}

/// CPU time the process has used so far, in clock ticks (utime + stime of
/// `/proc/PID/stat`); `None` once it is reaped, or where there is no `/proc`.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name in parentheses may hold spaces: count fields after its `)`.
    let (_, fields) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = fields.split_whitespace().collect();
    // Fields 14 and 15 of the line (utime, stime) are the 12th and 13th after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn a_worker_whose_stderr_is_closed_stops_on_sigterm_without_spinning() {
    // The worker writes to stderr when signalled; without `--json`, also when it starts and
    // when it stops.
    for extra in [&["--json"][..], &[]] {
        let env = Env::new();
        let pipeline = guest_pipeline(&env, "noop.toml", NOOP, "{}", "");
        let task = submit(&env, &pipeline, &[]);
        // A pipe whose reading end is closed before the worker starts: every write to
        // stderr fails with EPIPE.
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let mut args = vec!["worker"];
        args.extend_from_slice(extra);
        let mut worker = env
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(writer)
            .spawn()
            .expect("spawn worker");
        // The task ran: the worker is in its loop, its signal handlers installed.
        wait_until("the task to run", Duration::from_secs(30), || {
            task_status(&env, &task) == "succeeded"
                || worker.try_wait().expect("poll worker").is_some()
        });
        assert!(
            worker.try_wait().expect("poll worker").is_none(),
            "{extra:?}: the worker died before it was signalled: {:?}",
            finish(worker)
        );
        let pid = worker.id();
        let before = cpu_ticks(pid);
        signal(&worker, "TERM");
        let signalled = Instant::now();
        let mut used = before;
        let status = loop {
            // Read before reaping: an exited worker's times are there until it is reaped.
            if let Some(ticks) = cpu_ticks(pid) {
                used = Some(ticks);
            }
            if let Some(status) = worker.try_wait().expect("poll worker") {
                break status;
            }
            if signalled.elapsed() > Duration::from_secs(10) {
                let _ = worker.kill();
                let _ = worker.wait();
                panic!(
                    "{extra:?}: the worker still ran 10 s after SIGTERM, having used {:?} clock ticks of CPU since",
                    used.zip(before).map(|(used, before)| used - before)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{extra:?}: {status:?}");
        if let (Some(before), Some(used)) = (before, used) {
            // A spinning worker burns a whole core; stopping costs a few ticks at most.
            assert!(
                used - before < 50,
                "{extra:?}: {} clock ticks of CPU between SIGTERM and exit",
                used - before
            );
        }
    }
}

crate::util::on_each_backend!(
    a_task_put_back_is_settled_alike_when_cancelled_through_the_cli_and_mcp,
    two_workers_drain_a_thousand_tasks_one_killed_midway_every_line_lands_once,
    a_flaky_plugin_succeeds_on_its_third_attempt_with_backoff_in_the_events,
    a_fatal_error_is_not_retried,
    a_cancelled_running_task_stops_at_its_next_check_and_changes_nothing,
    a_queued_task_cancelled_never_starts_and_an_idempotency_key_queues_once,
    sigterm_lets_the_running_step_finish_and_the_next_worker_resumes_the_rest,
    a_worker_paused_past_its_lease_has_its_late_commit_refused,
    gc_exports_the_evidence_of_finished_tasks_then_prunes_them_and_leaves_queued_ones,
    status_shows_a_running_task_with_its_progress_and_logs_follow_ends_with_the_task,
    a_second_sigterm_stops_the_running_step_at_once_and_puts_the_task_back,
    a_worker_whose_stderr_is_closed_stops_on_sigterm_without_spinning,
);
