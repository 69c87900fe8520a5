//! Plugin authors: a scaffolded plugin builds, tests natively and runs unchanged; `plugin
//! test` runs a component once; a plugin written in Python runs in the same pipeline as the
//! Rust ones.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{Env, quoted, step};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// `cargo` with the project's pinned toolchain and a target directory shared between runs.
fn cargo(dir: &Path, args: &[&str]) -> std::process::Output {
    let toolchain = std::fs::read_to_string(format!("{ROOT}/rust-toolchain.toml"))
        .expect("rust-toolchain.toml");
    let channel = toolchain
        .lines()
        .find_map(|l| l.strip_prefix("channel = "))
        .map(|c| c.trim_matches('"').to_owned())
        .expect("a pinned channel");
    Command::new(option_env!("CARGO").unwrap_or("cargo"))
        .args(args)
        .current_dir(dir)
        .env("RUSTUP_TOOLCHAIN", channel)
        .env("CARGO_TARGET_DIR", format!("{ROOT}/target/scaffold"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("run cargo")
}

#[test]
fn a_scaffolded_plugin_tests_natively_builds_and_runs_unchanged() {
    let env = Env::new();
    let new = env.run(&[
        "plugin",
        "new",
        "line-tally",
        "--dir",
        &env.outside().display().to_string(),
    ]);
    assert_eq!(new.code(), 0, "{new}");
    let crate_dir = env.outside().join("line-tally");
    for file in ["Cargo.toml", "src/lib.rs", "pipeline.toml"] {
        assert!(crate_dir.join(file).is_file(), "{file} missing");
    }
    let again = env.run(&[
        "plugin",
        "new",
        "line-tally",
        "--dir",
        &env.outside().display().to_string(),
    ]);
    assert_eq!(again.code(), 2, "{again}");

    let test = cargo(&crate_dir, &["test", "--quiet"]);
    assert!(
        test.status.success(),
        "native tests of the scaffold failed:\n{}",
        String::from_utf8_lossy(&test.stderr)
    );
    let build = cargo(
        &crate_dir,
        &["build", "--release", "--target", "wasm32-wasip2"],
    );
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );

    // The pipeline the scaffold wrote, pointed at the shared target directory.
    let wasm = PathBuf::from(format!(
        "{ROOT}/target/scaffold/wasm32-wasip2/release/line_tally.wasm"
    ));
    let pipeline = std::fs::read_to_string(crate_dir.join("pipeline.toml"))
        .expect("pipeline")
        .replace(
            "\"target/wasm32-wasip2/release/line_tally.wasm\"",
            &quoted(&wasm.display().to_string()),
        );
    std::fs::write(crate_dir.join("pipeline.toml"), pipeline).expect("write pipeline");
    let run = env
        .command(&["run", "pipeline.toml", "--json"])
        .current_dir(&crate_dir)
        .output()
        .expect("run");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).expect("report");
    assert!(
        step(&report, "count")["summary"]
            .as_str()
            .expect("summary")
            .ends_with("lines in 2 files")
    );
    let inspect = env.run(&["plugin", "inspect", &wasm.display().to_string()]);
    assert!(inspect.stdout().contains("requests  read"), "{inspect}");
}

#[test]
fn plugin_test_runs_a_component_once_with_params_and_grants() {
    let env = Env::new();
    env.file("notes.md", "TODO: write notes\n");
    let run = env.run(&[
        "plugin",
        "test",
        "file-stats",
        "--params",
        r#"{"pattern":"TODO"}"#,
        "--grants",
        r#"{ read = ["."] }"#,
        "--json",
    ]);
    assert_eq!(run.code(), 0, "{run}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout()).expect("JSON");
    assert_eq!(json["status"], "succeeded");
    assert_eq!(json["data"]["matches_total"], 1);
    assert!(json["events"].as_array().is_some_and(|e| !e.is_empty()));

    let missing = env.run(&["plugin", "test", "brief", "--params", r#"{"title":"t"}"#]);
    assert_eq!(missing.code(), 2, "{missing}");
    assert!(
        missing
            .stderr()
            .contains("requests what this step does not grant: write"),
        "{missing}"
    );
}

#[test]
fn a_python_plugin_runs_in_the_same_pipeline_as_rust_ones() {
    let env = Env::new();
    let wasm = env.outside().join("word-count.wasm");
    let build = Command::new("bash")
        .arg(format!("{ROOT}/tests/python-plugin/build.sh"))
        .arg(&wasm)
        .output()
        .expect("bash");
    if !build.status.success() {
        let why = String::from_utf8_lossy(&build.stderr).into_owned();
        if std::env::var_os("CI").is_some() {
            panic!("CI must build the Python plugin: {why}");
        }
        eprintln!(
            "SKIPPED a_python_plugin_runs_in_the_same_pipeline_as_rust_ones: componentize-py could not be installed: {why}"
        );
        return;
    }
    env.file("docs/a.md", "one two three\n");
    env.file("docs/b.txt", "four five\n");
    let pipeline = env.pipeline(&format!(
        r#"
        name = "polyglot"
        [[step]]
        id = "words"
        plugin = {wasm}
        params = {{ path = "docs" }}
        grants = {{ read = ["docs"] }}
        [[step]]
        id = "stats"
        plugin = "file-stats"
        params = {{ paths = ["docs"] }}
        grants = {{ read = ["docs"] }}
        "#,
        wasm = quoted(&wasm.display().to_string())
    ));
    let (run, report) = env.run_json(&pipeline);
    assert_eq!(run.code(), 0, "{run}");
    assert_eq!(
        step(&report, "words")["data"],
        serde_json::json!({ "files": 2, "words": 5 })
    );
    assert_eq!(step(&report, "stats")["data"]["files"], 2);
    assert!(
        report["notes"]
            .to_string()
            .contains("word-count read 2 files"),
        "{report}"
    );
}
