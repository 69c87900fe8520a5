//! Guests that misbehave: each ends its own step with an error naming the cause, and the
//! host exits cleanly with code 1. Guests that try to reach what they were not granted fail.

use crate::guests::{
    ALLOC, BUSY_LOOP, ENV, FAIL, HARD_LINK, LINE_COUNT_COMMAND, READ, RENAME, SLEEP, SYMLINK, TRAP,
    TRUNCATE, WRITE,
};
use crate::util::{Env, quoted, step};

/// Runs the test guest `plugin` once with `params` and `grants` (TOML inline tables).
fn hostile(
    env: &Env,
    plugin: &str,
    params: &str,
    grants: &str,
) -> (crate::util::Run, serde_json::Value) {
    let pipeline = env.pipeline(&format!(
        r#"
        name = "hostile"
        [[step]]
        id = "guest"
        plugin = {plugin}
        params = {params}
        grants = {grants}
        "#,
        plugin = quoted(plugin),
    ));
    env.run_json(&pipeline)
}

fn failed_with(env: &Env, plugin: &str, params: &str, grants: &str) -> String {
    let (run, report) = hostile(env, plugin, params, grants);
    assert_eq!(run.code(), 1, "{run}");
    assert_eq!(report["status"], "failed");
    let guest = step(&report, "guest");
    assert_eq!(guest["status"], "failed");
    guest["error"]
        .as_str()
        .expect("an error message")
        .to_owned()
}

#[test]
fn a_trapping_plugin_fails_its_step_naming_the_panic() {
    let env = Env::new();
    let error = failed_with(&env, TRAP, "{}", "{}");
    assert!(error.starts_with("guest trapped:"), "{error}");
    assert!(
        error.contains("panicked at") && error.contains("asked to trap"),
        "{error}"
    );
}

#[test]
fn a_looping_plugin_is_stopped_at_its_timeout() {
    let env = Env::new();
    let error = failed_with(&env, BUSY_LOOP, "{}", r#"{ timeout = "1s" }"#);
    assert_eq!(error, "step exceeded its timeout of 1s");
}

#[test]
fn a_plugin_waiting_in_a_host_call_is_stopped_at_its_timeout() {
    let env = Env::new();
    let started = std::time::Instant::now();
    let error = failed_with(&env, SLEEP, "{}", r#"{ timeout = "1s" }"#);
    assert_eq!(error, "step exceeded its timeout of 1s");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "the sleeping guest held the host"
    );
}

#[test]
fn a_plugin_allocating_past_its_memory_cap_fails_naming_the_cap() {
    let env = Env::new();
    let error = failed_with(&env, ALLOC, "{}", r#"{ memory = "32MiB" }"#);
    assert!(
        error.starts_with("step exceeded its memory limit of 32MiB"),
        "{error}"
    );
}

#[test]
fn a_plugin_returning_an_error_fails_with_its_message() {
    let env = Env::new();
    let error = failed_with(&env, FAIL, "{}", "{}");
    assert_eq!(error, "plugin failed: asked to fail");
}

#[test]
fn a_guest_cannot_read_outside_its_grants() {
    let env = Env::new();
    std::fs::write(env.outside().join("secret.txt"), "top secret").expect("write secret");
    env.file("granted/ok.txt", "fine");
    env.file("ungranted/private.txt", "PRIVATE-CONTENT");
    let grants = r#"{ read = ["granted"] }"#;

    let (run, report) = hostile(&env, READ, r#"{ path = "granted/ok.txt" }"#, grants);
    assert_eq!(run.code(), 0, "{run}");
    assert_eq!(step(&report, "guest")["data"], "fine");

    for path in [
        "../secret.txt",
        "granted/../../secret.txt",
        "ungranted/private.txt",
        "/etc/passwd",
    ] {
        let params = format!(r#"{{ path = "{path}" }}"#);
        let error = failed_with(&env, READ, &params, grants);
        assert!(
            error.starts_with(&format!("plugin failed: read {path}:")),
            "{path}: {error}"
        );
        assert!(
            !error.contains("top secret") && !error.contains("PRIVATE-CONTENT"),
            "{error}"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_symlink_inside_a_grant_does_not_lead_out_of_it() {
    let env = Env::new();
    std::fs::write(env.outside().join("secret.txt"), "top secret").expect("write secret");
    std::fs::create_dir_all(env.workspace().join("granted")).expect("mkdir");
    std::os::unix::fs::symlink(
        env.outside().join("secret.txt"),
        env.workspace().join("granted/link"),
    )
    .expect("symlink");
    let error = failed_with(
        &env,
        READ,
        r#"{ path = "granted/link" }"#,
        r#"{ read = ["granted"] }"#,
    );
    assert!(
        error.starts_with("plugin failed: read granted/link:"),
        "{error}"
    );
}

#[test]
fn a_guest_cannot_write_to_a_read_only_grant() {
    let env = Env::new();
    env.file("data/keep.txt", "original");
    let grants = r#"{ read = ["data"], write = ["out"] }"#;

    let error = failed_with(
        &env,
        WRITE,
        r#"{ path = "data/keep.txt", text = "overwritten" }"#,
        grants,
    );
    assert!(
        error.starts_with("plugin failed: write data/keep.txt:"),
        "{error}"
    );
    let error = failed_with(
        &env,
        WRITE,
        r#"{ path = "data/new.txt", text = "x" }"#,
        grants,
    );
    assert!(
        error.starts_with("plugin failed: write data/new.txt:"),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string(env.workspace().join("data/keep.txt")).expect("read"),
        "original"
    );
    assert!(!env.workspace().join("data/new.txt").exists());

    let (run, _) = hostile(
        &env,
        WRITE,
        r#"{ path = "out/new.txt", text = "allowed" }"#,
        grants,
    );
    assert_eq!(run.code(), 0, "{run}");
    assert_eq!(
        std::fs::read_to_string(env.workspace().join("out/new.txt")).expect("read"),
        "allowed"
    );
}

#[test]
fn a_guest_sees_only_the_environment_variables_it_was_granted() {
    let env = Env::new();
    let grants = r#"{ env = ["NS_E2E_VISIBLE"] }"#;
    let pipeline_for = |name: &str| {
        env.pipeline(&format!(
            r#"
            name = "env"
            [[step]]
            id = "guest"
            plugin = {plugin}
            params = {{ name = "{name}" }}
            grants = {grants}
            "#,
            plugin = quoted(ENV),
        ))
    };
    let run = |name: &str| {
        let pipeline = pipeline_for(name);
        let output = env
            .command(&["run", &pipeline.display().to_string(), "--json"])
            .env("NS_E2E_VISIBLE", "shown")
            .env("NS_E2E_HIDDEN", "hidden")
            .output()
            .expect("run");
        serde_json::from_slice::<serde_json::Value>(&output.stdout).expect("JSON report")
    };
    assert_eq!(step(&run("NS_E2E_VISIBLE"), "guest")["data"], "shown");
    let hidden = run("NS_E2E_HIDDEN");
    assert_eq!(step(&hidden, "guest")["status"], "failed");
    let home = run("HOME");
    assert_eq!(
        step(&home, "guest")["status"],
        "failed",
        "HOME leaked into the guest"
    );
}

#[test]
fn a_command_cannot_read_outside_its_grants() {
    let env = Env::new();
    std::fs::write(env.outside().join("secret.txt"), "a\nb\n").expect("write secret");
    env.file("data/a.txt", "x\n");
    let pipeline = env.pipeline(&format!(
        r#"
        name = "command-escape"
        [[step]]
        id = "count"
        command = {command}
        args = ["data/a.txt", "../secret.txt", "/etc/passwd"]
        grants = {{ read = ["data"] }}
        "#,
        command = quoted(LINE_COUNT_COMMAND)
    ));
    let (run, report) = env.run_json(&pipeline);
    assert_eq!(run.code(), 1, "{run}");
    assert_eq!(
        step(&report, "count")["error"],
        "command exited with code 1"
    );
    let logs = env.run(&["logs", report["task_id"].as_str().expect("id")]);
    assert!(logs.stdout().contains("    1 data/a.txt"), "{logs}");
    assert!(!logs.stdout().contains("2 ../secret.txt"), "{logs}");
}

#[test]
fn a_command_used_as_a_plugin_is_refused_with_a_clear_error() {
    let env = Env::new();
    let pipeline = env.pipeline(&format!(
        "name = \"wrong-kind\"\n[[step]]\nid = \"guest\"\nplugin = {}\n",
        quoted(LINE_COUNT_COMMAND)
    ));
    let (run, report) = env.run_json(&pipeline);
    assert_eq!(run.code(), 1, "{run}");
    let error = step(&report, "guest")["error"]
        .as_str()
        .expect("error")
        .to_owned();
    assert!(error.contains("is not a nightshift plugin"), "{error}");
}

#[test]
fn garbage_bytes_and_core_modules_are_refused_before_anything_runs() {
    let env = Env::new();
    env.file("garbage.wasm", "\0asm this is not a component");
    std::fs::write(env.workspace().join("module.wasm"), b"\0asm\x01\0\0\0").expect("core module");
    std::fs::write(env.workspace().join("empty.wasm"), b"").expect("empty file");
    let whole = std::fs::read(TRAP).expect("guest");
    std::fs::write(
        env.workspace().join("truncated.wasm"),
        &whole[..whole.len() / 2],
    )
    .expect("truncated");
    for (file, expected) in [
        (
            "garbage.wasm",
            "is not a WebAssembly component: not valid WebAssembly",
        ),
        (
            "module.wasm",
            "is not a WebAssembly component: it is a core WebAssembly module",
        ),
        (
            "empty.wasm",
            "is not a WebAssembly component: not valid WebAssembly: unexpected end-of-file",
        ),
    ] {
        let pipeline = env.pipeline(&format!(
            "name = \"bad\"\n[[step]]\nid = \"guest\"\nplugin = \"{file}\"\n"
        ));
        let run = env.run(&["run", &pipeline.display().to_string()]);
        assert_eq!(run.code(), 2, "{run}");
        assert!(
            run.stderr().contains("step `guest` (#1): field `plugin`"),
            "{run}"
        );
        assert!(run.stderr().contains(expected), "{file}: {run}");
    }
}

/// Filesystem escapes of past wasmtime-wasi advisories stay closed.
mod advisories {
    use super::*;

    fn setup() -> Env {
        let env = Env::new();
        std::fs::write(env.outside().join("secret.txt"), "top secret").expect("secret");
        env.file("ro/keep.txt", "read-only content");
        std::fs::create_dir_all(env.workspace().join("rw")).expect("rw");
        env
    }

    const GRANTS: &str = r#"{ read = ["ro"], write = ["rw"] }"#;

    fn unchanged(env: &Env) {
        assert_eq!(
            std::fs::read_to_string(env.workspace().join("ro/keep.txt")).expect("read"),
            "read-only content"
        );
        assert_eq!(
            std::fs::read_to_string(env.outside().join("secret.txt")).expect("read"),
            "top secret"
        );
        assert!(!env.workspace().join("rw/keep.txt").exists());
    }

    #[test]
    fn a_symlink_with_a_trailing_slash_does_not_lead_out_rustsec_2026_0269() {
        let env = setup();
        for target in ["../../..", "../../../", "/", "../../../../../.."] {
            let params =
                format!(r#"{{ path = "rw/link", text = "{target}", name = "secret.txt" }}"#);
            let error = failed_with(&env, SYMLINK, &params, GRANTS);
            assert!(error.starts_with("plugin failed:"), "{target}: {error}");
            assert!(!error.contains("top secret"), "{error}");
        }
        unchanged(&env);
    }

    #[test]
    fn hard_links_and_renames_across_a_read_only_grant_fail_rustsec_2026_0188() {
        let env = setup();
        env.file("rw/mine.txt", "mine");
        for (plugin, params) in [
            (
                HARD_LINK,
                r#"{ path = "ro/keep.txt", text = "rw/keep.txt" }"#,
            ),
            (RENAME, r#"{ path = "ro/keep.txt", text = "rw/keep.txt" }"#),
            (RENAME, r#"{ path = "rw/mine.txt", text = "ro/mine.txt" }"#),
            (
                HARD_LINK,
                r#"{ path = "rw/mine.txt", text = "ro/mine.txt" }"#,
            ),
        ] {
            let error = failed_with(&env, plugin, params, GRANTS);
            assert!(
                error.starts_with("plugin failed:"),
                "{plugin} {params}: {error}"
            );
        }
        unchanged(&env);
        assert!(!env.workspace().join("ro/mine.txt").exists());
    }

    #[test]
    fn truncating_a_read_only_file_fails_rustsec_2026_0149() {
        let env = setup();
        let error = failed_with(&env, TRUNCATE, r#"{ path = "ro/keep.txt" }"#, GRANTS);
        assert!(
            error.starts_with("plugin failed: truncate ro/keep.txt:"),
            "{error}"
        );
        unchanged(&env);
    }
}
