//! Pipelines that should succeed, and what `run`, `status` and `logs` say about them.

use crate::guests::{LINE_COUNT_COMMAND, OK};
use crate::util::{Env, quoted, step};

#[test]
fn the_example_audits_a_workspace_and_writes_a_brief() {
    let env = Env::new();
    env.file("src/main.rs", "fn main() {}\n// TODO: more\n");
    env.file("README.md", "# demo\nFIXME later\n");
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/repo-audit.toml"
    );

    let (run, report) = env.run_json(std::path::Path::new(example));
    assert_eq!(run.code(), 0, "{run}");
    assert_eq!(report["status"], "succeeded");
    let scan = step(&report, "scan");
    assert_eq!(scan["status"], "succeeded");
    assert_eq!(scan["data"]["matches_total"], 2, "{scan:#}");
    assert_eq!(scan["data"]["matches"][0]["path"], "README.md");
    assert_eq!(scan["data"]["matches"][0]["line"], 2);

    let brief = std::fs::read_to_string(env.workspace().join("nightshift-out/brief.md"))
        .expect("brief written");
    assert!(brief.contains("# Repository audit"), "{brief}");
    assert!(brief.contains("`src/main.rs:2`: // TODO: more"), "{brief}");
    let changed = &report["changed"][0];
    assert_eq!(changed["path"], "nightshift-out/brief.md");
    assert_eq!(changed["change"], "created");
    assert_eq!(
        changed["blake3"],
        blake3::hash(brief.as_bytes()).to_hex().as_str()
    );
    let stored = env
        .state()
        .join("cas")
        .join(&changed["blake3"].as_str().expect("digest")[..2]);
    assert!(stored.is_dir(), "brief stored in cas/");
}

#[test]
fn a_plugin_step_and_a_command_step_run_in_one_pipeline() {
    let env = Env::new();
    env.file("data/a.txt", "one\ntwo\nthree\n");
    let pipeline = env.pipeline(&format!(
        r#"
        name = "mixed"
        [[step]]
        id = "first"
        plugin = {plugin}
        [[step]]
        id = "count"
        command = {command}
        args = ["data/a.txt"]
        grants = {{ read = ["data"] }}
        [[step]]
        id = "echo"
        plugin = {plugin}
        "#,
        plugin = quoted(OK),
        command = quoted(LINE_COUNT_COMMAND)
    ));
    let (run, report) = env.run_json(&pipeline);
    assert_eq!(run.code(), 0, "{run}");
    for id in ["first", "count", "echo"] {
        let s = step(&report, id);
        assert_eq!(s["status"], "succeeded", "{s:#}");
        assert_eq!(s["attempts"], 1);
        assert!(s["duration_ms"].is_u64());
        assert!(s["error"].is_null());
    }
    assert_eq!(step(&report, "count")["kind"], "command");
    // A later step sees the earlier plugin step's data through its input.
    assert_eq!(
        step(&report, "echo")["data"]["first"],
        serde_json::json!({}),
        "{report:#}"
    );

    let task = report["task_id"].as_str().expect("task id");
    let logs = env.run(&["logs", task]);
    assert_eq!(logs.code(), 0, "{logs}");
    assert!(
        logs.stdout().contains("count stdout:\n    3 data/a.txt"),
        "{logs}"
    );
    assert!(logs.stdout().contains("hostile guest behaving"), "{logs}");

    let status = env.run(&["status", "--json"]);
    let tasks: serde_json::Value = serde_json::from_str(&status.stdout()).expect("status JSON");
    assert_eq!(tasks[0]["task_id"], task);
    assert_eq!(tasks[0]["status"], "succeeded");
    assert_eq!(tasks[0]["pipeline"], "mixed");
    assert!(tasks[0].get("current_step").is_some());

    let one = env.run(&["status", &task[..10]]);
    assert_eq!(one.code(), 0, "{one}");
    assert!(one.stdout().contains("succeeded  count"), "{one}");
}

#[test]
fn a_failing_command_fails_its_step_skips_the_rest_and_exits_1() {
    let env = Env::new();
    let pipeline = env.pipeline(&format!(
        r#"
        name = "missing-file"
        [[step]]
        id = "count"
        command = {command}
        args = ["nope.txt"]
        grants = {{ read = ["."] }}
        [[step]]
        id = "after"
        plugin = {plugin}
        "#,
        plugin = quoted(OK),
        command = quoted(LINE_COUNT_COMMAND)
    ));
    let (run, report) = env.run_json(&pipeline);
    assert_eq!(run.code(), 1, "{run}");
    assert_eq!(report["status"], "failed");
    assert_eq!(
        step(&report, "count")["error"],
        "command exited with code 1"
    );
    assert_eq!(step(&report, "after")["status"], "skipped");

    let logs = env.run(&["logs", report["task_id"].as_str().expect("id")]);
    assert!(logs.stdout().contains("count stderr:"), "{logs}");
    assert!(logs.stdout().contains("line-count: nope.txt"), "{logs}");
}

#[test]
fn parameters_reach_the_steps_and_unknown_ones_are_refused() {
    let env = Env::new();
    env.file("notes.txt", "alpha\nbeta\n");
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/repo-audit.toml"
    );
    let run = env.run(&["run", example, "--json", "--param", "pattern=beta"]);
    assert_eq!(run.code(), 0, "{run}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout()).expect("JSON");
    assert_eq!(step(&report, "scan")["data"]["pattern"], "beta");
    assert_eq!(step(&report, "scan")["data"]["matches_total"], 1);

    let run = env.run(&["run", example, "--param", "colour=red"]);
    assert_eq!(run.code(), 2, "{run}");
    assert!(
        run.stderr()
            .contains("--param colour is not a parameter of this pipeline (it declares pattern)"),
        "{run}"
    );
}

#[test]
fn an_unknown_task_is_bad_input() {
    let env = Env::new();
    let run = env.run(&["status", "doesnotexist"]);
    assert_eq!(run.code(), 2, "{run}");
    assert!(
        run.stderr().contains("no task matches `doesnotexist`"),
        "{run}"
    );
}
