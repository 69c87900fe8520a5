//! Plugins declare what they need; steps grant what they allow; a plugin gets exactly what
//! it requested and was granted. `plugin inspect`, `plugin add`, `plugin list`.

use crate::guests::NOOP;
use crate::util::{Env, built_component};

#[test]
fn inspect_shows_each_bundled_plugin_with_its_requests_and_interface() {
    let env = Env::new();
    for (plugin, requests) in [
        ("file-stats", "read"),
        ("verify-links", "read"),
        ("brief", "write"),
    ] {
        let run = env.run(&["plugin", "inspect", plugin]);
        assert_eq!(run.code(), 0, "{run}");
        let out = run.stdout();
        assert!(out.contains(&format!("name      {plugin} 0.1.0")), "{out}");
        assert!(out.contains(&format!("requests  {requests}\n")), "{out}");
        assert!(
            out.contains("world     nightshift:plugin/plugin@0.1.0"),
            "{out}"
        );
        assert!(out.contains("exports   run"), "{out}");
        assert!(out.contains("wasi:filesystem/preopens@0.2"), "{out}");

        let json = env.run(&["plugin", "inspect", plugin, "--json"]);
        let json: serde_json::Value = serde_json::from_str(&json.stdout()).expect("JSON");
        assert_eq!(json["digest"].as_str().map(str::len), Some(64));
        assert_eq!(json["metadata"]["requests"][requests], true);
        // Each bundled plugin describes its params, and the schema matches what it accepts.
        let schema = &json["metadata"]["params_schema"];
        assert_eq!(schema["type"], "object", "{json:#}");
        assert_eq!(schema["additionalProperties"], false, "{json:#}");
        assert!(
            out.contains("params    {\"additionalProperties\":false"),
            "{out}"
        );
    }
}

#[test]
fn a_step_that_does_not_grant_what_its_plugin_requests_is_refused() {
    let env = Env::new();
    let pipeline = env.pipeline(
        "name = \"x\"\n[[step]]\nid = \"brief\"\nplugin = \"brief\"\nparams = { title = \"t\" }\n",
    );
    let run = env.run(&["run", &pipeline.display().to_string()]);
    assert_eq!(run.code(), 2, "{run}");
    assert!(
        run.stderr().contains("step `brief` (#1): field `grants`: plugin `brief` requests what this step does not grant: write: the plugin writes files; grant a directory with `grants.write`"),
        "{run}"
    );
}

#[test]
fn a_grant_the_plugin_did_not_request_is_not_given() {
    let env = Env::new();
    env.file("data/secret.txt", "not for brief");
    let pipeline = env.pipeline(
        "name = \"x\"\n[[step]]\nid = \"brief\"\nplugin = \"brief\"\nparams = { title = \"t\", output = \"out/brief.md\" }\ngrants = { read = [\"data\"], write = [\"out\"], env = [\"HOME\"] }\n",
    );
    let (run, report) = env.run_json(&pipeline);
    assert_eq!(run.code(), 0, "{run}");
    let logs = env.run(&["logs", report["task_id"].as_str().expect("id")]);
    assert!(
        logs.stdout()
            .contains("grant read `data` not given: the plugin did not request it"),
        "{logs}"
    );
    assert!(
        logs.stdout()
            .contains("grant env `HOME` not given: the plugin did not request it"),
        "{logs}"
    );
}

#[test]
fn an_added_plugin_is_listed_and_runs_by_name() {
    let env = Env::new();
    let add = env.run(&["plugin", "add", NOOP, "--name", "misbehave"]);
    assert_eq!(add.code(), 0, "{add}");
    assert!(add.stdout().contains("as `misbehave`"), "{add}");
    let list = env.run(&["plugin", "list"]);
    assert!(list.stdout().contains("misbehave"), "{list}");
    assert!(list.stdout().contains("installed"), "{list}");
    assert!(list.stdout().contains("file-stats"), "{list}");
    let pipeline = env.pipeline("name = \"x\"\n[[step]]\nid = \"a\"\nplugin = \"misbehave\"\n");
    let (run, _) = env.run_json(&pipeline);
    assert_eq!(run.code(), 0, "{run}");

    let bad = env.run(&["plugin", "add", NOOP, "--name", "../escape"]);
    assert_eq!(bad.code(), 2, "{bad}");
    assert!(bad.stderr().contains("is not a plugin name"), "{bad}");
}

#[test]
fn a_plugin_built_against_another_world_version_is_refused_by_name() {
    let env = Env::new();
    let show = env.run(&["plugin", "inspect", "brief", "--json"]);
    assert_eq!(show.code(), 0, "{show}");
    // The bundled brief, with the world version in its metadata changed as an older SDK would write it.
    let brief = built_component("brief.wasm");
    let add = env.run(&["plugin", "add", brief.to_str().expect("utf-8 path")]);
    assert_eq!(add.code(), 0, "{add}");
    let installed = env.state().join("plugins/brief.wasm");
    let bytes = std::fs::read(&installed).expect("installed");
    let needle = b"world=nightshift:plugin/plugin@0.1.0";
    let mut old = bytes.clone();
    let mut found = 0;
    for at in 0..bytes.len().saturating_sub(needle.len()) {
        if &bytes[at..at + needle.len()] == needle {
            old[at..at + needle.len()].copy_from_slice(b"world=nightshift:plugin/plugin@0.0.9");
            found += 1;
        }
    }
    assert!(found > 0, "metadata in the component");
    std::fs::write(&installed, old).expect("write");
    let pipeline = env.pipeline("name = \"x\"\n[[step]]\nid = \"b\"\nplugin = \"brief\"\nparams = { title = \"t\" }\ngrants = { write = [\"out\"] }\n");
    let run = env.run(&["run", &pipeline.display().to_string()]);
    assert_eq!(run.code(), 2, "{run}");
    assert!(run.stderr().contains("was built against nightshift:plugin/plugin@0.0.9, but this nightshift runs plugins of nightshift:plugin/plugin@0.1.0"), "{run}");
}
