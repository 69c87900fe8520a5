//! The compiled-component cache: a second run of a pipeline compiles nothing.

use crate::guests::OK;
use crate::util::{Env, quoted};

fn cache_events(env: &Env, task: &str) -> Vec<String> {
    let logs = env.run(&["logs", task, "--json"]);
    let events: Vec<serde_json::Value> = logs
        .stdout()
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON event per line"))
        .collect();
    events
        .iter()
        .filter(|e| e["kind"] == "cache")
        .map(|e| {
            let data: serde_json::Value =
                serde_json::from_str(e["data"].as_str().expect("data")).expect("data JSON");
            data["cache"].as_str().expect("cache outcome").to_owned()
        })
        .collect()
}

#[test]
fn a_second_run_loads_the_compiled_component_from_the_cache() {
    let env = Env::new();
    let pipeline = env.pipeline(&format!(
        "name = \"cached\"\n[[step]]\nid = \"a\"\nplugin = {0}\n",
        quoted(OK)
    ));
    let (first, report) = env.run_json(&pipeline);
    assert_eq!(first.code(), 0, "{first}");
    assert_eq!(
        cache_events(&env, report["task_id"].as_str().expect("id")),
        ["compiled"]
    );

    let (second, report) = env.run_json(&pipeline);
    assert_eq!(second.code(), 0, "{second}");
    assert_eq!(
        cache_events(&env, report["task_id"].as_str().expect("id")),
        ["hit"]
    );
}

#[test]
fn a_corrupt_cache_entry_is_recompiled() {
    let env = Env::new();
    let pipeline = env.pipeline(&format!(
        "name = \"cached\"\n[[step]]\nid = \"a\"\nplugin = {0}\n",
        quoted(OK)
    ));
    let (first, _) = env.run_json(&pipeline);
    assert_eq!(first.code(), 0, "{first}");
    let cache_dir = env.state().join("plugins/cache");
    for entry in std::fs::read_dir(&cache_dir).expect("cache dir") {
        std::fs::write(entry.expect("entry").path(), b"garbage").expect("corrupt");
    }
    let (second, report) = env.run_json(&pipeline);
    assert_eq!(second.code(), 0, "{second}");
    assert_eq!(
        cache_events(&env, report["task_id"].as_str().expect("id")),
        ["compiled"]
    );
}
