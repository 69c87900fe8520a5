//! Broken pipelines: exit code 2 and an error naming the file, the step and the field;
//! nothing runs.

use crate::guests::OK;
use crate::util::{Env, quoted};

fn refused(env: &Env, toml: &str) -> String {
    let pipeline = env.pipeline(toml);
    let run = env.run(&["run", &pipeline.display().to_string()]);
    assert_eq!(run.code(), 2, "{run}");
    assert!(run.stdout().is_empty(), "{run}");
    let stderr = run.stderr();
    assert!(
        stderr.contains("pipeline.toml"),
        "the error names the file: {stderr}"
    );
    stderr
}

fn with_step(step: &str) -> String {
    format!(
        "name = \"broken\"\n[[step]]\nid = \"ok\"\nplugin = {}\n[[step]]\n{step}\n",
        quoted(OK)
    )
}

#[test]
fn an_unknown_field_is_named_with_its_step() {
    let env = Env::new();
    let err = refused(
        &env,
        &with_step("id = \"scan\"\nplugin = \"file-stats\"\ngrants = { tmeout = \"1s\" }"),
    );
    assert!(
        err.contains("step `scan` (#2): field `grants.tmeout`: unknown field `tmeout`"),
        "{err}"
    );
}

#[test]
fn a_duplicate_id_is_refused() {
    let env = Env::new();
    let err = refused(&env, &with_step("id = \"ok\"\nplugin = \"file-stats\""));
    assert!(
        err.contains("step `ok` (#2): field `id`: `ok` is used by an earlier step"),
        "{err}"
    );
}

#[test]
fn a_missing_plugin_is_refused() {
    let env = Env::new();
    let err = refused(
        &env,
        &with_step("id = \"scan\"\nplugin = \"no-such-plugin\""),
    );
    assert!(
        err.contains("step `scan` (#2): field `plugin`: no plugin named `no-such-plugin`"),
        "{err}"
    );
    assert!(
        err.contains("file-stats"),
        "the error lists what exists: {err}"
    );
}

#[test]
fn grants_escaping_the_workspace_are_refused() {
    let env = Env::new();
    let err = refused(
        &env,
        &with_step("id = \"scan\"\nplugin = \"file-stats\"\ngrants = { read = [\"..\"] }"),
    );
    assert!(
        err.contains("field `grants.read[0]`: `..` escapes the workspace"),
        "{err}"
    );
    let err = refused(
        &env,
        &with_step("id = \"scan\"\nplugin = \"file-stats\"\ngrants = { write = [\"/tmp\"] }"),
    );
    assert!(
        err.contains("field `grants.write[0]`: `/tmp` is outside the workspace"),
        "{err}"
    );
}

#[test]
fn a_grant_that_would_expose_the_state_directory_is_refused() {
    let env = Env::new();
    let pipeline = env.pipeline(&with_step(
        "id = \"scan\"\nplugin = \"file-stats\"\ngrants = { read = [\".\"] }",
    ));
    let state = env.workspace().join(".nightshift");
    let run = env.run(&[
        "run",
        &pipeline.display().to_string(),
        "--state",
        &state.display().to_string(),
    ]);
    assert_eq!(run.code(), 2, "{run}");
    assert!(
        run.stderr()
            .contains("field `grants.read[0]`: `.` would expose the state directory"),
        "{run}"
    );
}

#[test]
fn bad_values_and_syntax_are_refused() {
    let env = Env::new();
    let err = refused(
        &env,
        &with_step("id = \"scan\"\nplugin = \"file-stats\"\ngrants = { memory = \"lots\" }"),
    );
    assert!(
        err.contains("field `grants.memory`: `lots` is not a size"),
        "{err}"
    );
    let err = refused(
        &env,
        &with_step("id = \"scan\"\nplugin = \"file-stats\"\ncommand = \"x.wasm\""),
    );
    assert!(
        err.contains("field `command`: a step has either `plugin` or `command`, not both"),
        "{err}"
    );
    let err = refused(&env, &with_step("id = \"scan\""));
    assert!(err.contains("field `plugin`: missing"), "{err}");
    let err = refused(&env, "name = \"x\"\n[[step]\n");
    assert!(err.contains("not valid TOML"), "{err}");
    let err = refused(&env, "name = \"x\"\n");
    assert!(err.contains("the pipeline has no steps"), "{err}");
}
