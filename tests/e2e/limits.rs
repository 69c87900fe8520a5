//! Limits and deterministic mode: each limit hit ends the step with an error naming the
//! limit and its value; virtual clocks and seeded randomness make a step reproducible.

use crate::guests::{
    ALLOC, BUSY_LOOP, ENTROPY, FLOOD_LOGS, FLOOD_STDOUT, HUGE_DATA, NOOP, OPEN_MANY, RECURSE, WORK,
    WRITE_BIG,
};
use crate::util::{Env, quoted, step};

/// Runs the test guest `plugin` once with `params` and `grants` (TOML inline tables).
fn run_one(
    env: &Env,
    plugin: &str,
    params: &str,
    grants: &str,
) -> (crate::util::Run, serde_json::Value) {
    let pipeline = env.pipeline(&format!(
        "name = \"limits\"\n[[step]]\nid = \"guest\"\nplugin = {}\nparams = {params}\ngrants = {grants}\n",
        quoted(plugin)
    ));
    env.run_json(&pipeline)
}

fn error_of(env: &Env, plugin: &str, params: &str, grants: &str) -> String {
    let (run, report) = run_one(env, plugin, params, grants);
    assert_eq!(run.code(), 1, "{run}");
    step(&report, "guest")["error"]
        .as_str()
        .expect("error")
        .to_owned()
}

#[test]
fn a_step_is_reproducible_in_deterministic_mode_and_not_with_real_clocks() {
    let env = Env::new();
    let data = |grants: &str| {
        let (run, report) = run_one(&env, ENTROPY, "{}", grants);
        assert_eq!(run.code(), 0, "{run}");
        step(&report, "guest")["data"].clone()
    };
    let first = data("{}");
    assert_eq!(
        first,
        data("{}"),
        "virtual clocks and seeded randomness give the same output"
    );
    assert_eq!(
        first["now_ns"].as_u64().map(|ns| ns / 1_000_000_000),
        Some(946_684_800),
        "virtual time starts in 2000"
    );
    let real = data(r#"{ clocks = "real" }"#);
    assert_ne!(real["random"], data(r#"{ clocks = "real" }"#)["random"]);
    assert!(real["now_ns"].as_u64() > Some(1_700_000_000_000_000_000));

    let journal = rusqlite::Connection::open(env.state().join("journal.db")).expect("journal");
    let body: String = journal
        .query_row("SELECT body FROM records ORDER BY rowid LIMIT 1", [], |r| {
            r.get(0)
        })
        .expect("record");
    let record: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(record["grants"]["clocks"]["mode"], "virtual");
    assert_eq!(
        record["grants"]["clocks"]["seed"].as_str().map(str::len),
        Some(64),
        "the seed is recorded"
    );
}

#[test]
fn fuel_stops_a_runaway_guest() {
    let env = Env::new();
    assert_eq!(
        error_of(&env, BUSY_LOOP, "{}", "{ fuel = 1000000 }"),
        "step exceeded its fuel limit of 1000000"
    );
}

#[test]
fn the_write_quota_stops_a_guest_filling_its_grant() {
    let env = Env::new();
    let error = error_of(
        &env,
        WRITE_BIG,
        r#"{ path = "out/big.bin", iterations = 64 }"#,
        r#"{ write = ["out"], write_quota = "4MiB" }"#,
    );
    assert!(
        error.starts_with("step exceeded its write quota of 4MiB (it wrote"),
        "{error}"
    );
    assert!(
        !env.workspace().join("out/big.bin").exists(),
        "nothing of the step was applied"
    );
}

#[test]
fn a_flood_of_logs_is_stopped_at_the_log_limit() {
    let env = Env::new();
    assert_eq!(
        error_of(&env, FLOOD_LOGS, "{}", r#"{ logs = "64KiB" }"#),
        "step exceeded its log limit of 64KiB"
    );
}

#[test]
fn a_flood_of_stdout_is_stopped_at_the_output_limit() {
    let env = Env::new();
    let (run, report) = run_one(&env, FLOOD_STDOUT, "{}", r#"{ output = "64KiB" }"#);
    assert_eq!(run.code(), 1, "{run}");
    assert_eq!(
        step(&report, "guest")["error"],
        "step exceeded its output limit of 64KiB on stdout"
    );
    let kept = report["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .find(|a| a["name"] == "stdout")
        .expect("stdout kept");
    assert!(kept["bytes"].as_u64() <= Some(64 * 1024), "{kept}");
}

#[test]
fn huge_output_data_is_refused_at_the_data_limit() {
    let env = Env::new();
    let error = error_of(
        &env,
        HUGE_DATA,
        r#"{ iterations = 2000000 }"#,
        r#"{ data = "1MiB" }"#,
    );
    assert!(
        error.starts_with("step exceeded its output data limit of 1MiB"),
        "{error}"
    );
}

#[test]
fn deep_recursion_traps_without_harming_the_host() {
    let env = Env::new();
    let error = error_of(&env, RECURSE, "{}", "{}");
    // Rust guests keep their stack in linear memory: overflowing it traps one way or another.
    assert!(error.starts_with("guest trapped:"), "{error}");
}

#[test]
fn a_memory_bomb_does_not_disturb_another_task() {
    let env = Env::new();
    let other = Env::new();
    let calm = other.pipeline(&format!(
        "name = \"calm\"\n[[step]]\nid = \"a\"\nplugin = {}\nparams = {{ iterations = 2000000 }}\n[[step]]\nid = \"b\"\nplugin = {}\n",
        quoted(WORK),
        quoted(NOOP)
    ));
    let calm_run = other
        .command(&[
            "run",
            &calm.display().to_string(),
            "--json",
            "--state",
            &env.state().display().to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let error = error_of(&env, ALLOC, "{}", r#"{ memory = "64MiB" }"#);
    assert!(
        error.starts_with("step exceeded its memory limit of 64MiB"),
        "{error}"
    );
    let calm_out = calm_run.wait_with_output().expect("wait");
    assert!(calm_out.status.success(), "the other task was disturbed");
}

#[test]
fn limits_in_a_pipeline_are_checked() {
    let env = Env::new();
    let pipeline = env.pipeline(&format!(
        "name = \"x\"\n[[step]]\nid = \"a\"\nplugin = {}\ngrants = {{ memory = \"8GiB\" }}\n",
        quoted(NOOP)
    ));
    let run = env.run(&["run", &pipeline.display().to_string()]);
    assert_eq!(run.code(), 2, "{run}");
    assert!(
        run.stderr()
            .contains("field `grants.memory`: must be at most 4GiB"),
        "{run}"
    );
    let pipeline = env.pipeline(&format!(
        "name = \"x\"\n[[step]]\nid = \"a\"\nplugin = {}\ngrants = {{ clocks = \"fast\" }}\n",
        quoted(NOOP)
    ));
    let run = env.run(&["run", &pipeline.display().to_string()]);
    assert!(
        run.stderr()
            .contains("field `grants.clocks`: `fast` is neither `virtual` nor `real`"),
        "{run}"
    );
}

#[test]
fn holding_too_many_handles_is_stopped_at_the_handle_limit() {
    let env = Env::new();
    env.file("f.txt", "x");
    let error = error_of(
        &env,
        OPEN_MANY,
        r#"{ path = "f.txt" }"#,
        r#"{ read = ["."], handles = 100 }"#,
    );
    assert_eq!(
        error,
        "step exceeded its limit of 100 open handles (files, streams, sockets)"
    );
}
