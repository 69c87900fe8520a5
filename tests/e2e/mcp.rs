//! `nightshift mcp` through the official Python MCP SDK client (`tests/mcp/client.py`), and
//! the server's life cycle on a raw pipe.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::guests::{NAP, NOOP};
use crate::util::{Env, quoted};

/// The Python interpreter with the `mcp` package: `NIGHTSHIFT_TEST_MCP_PYTHON`, else `python3`.
fn python_with_mcp() -> Option<PathBuf> {
    let python = std::env::var_os("NIGHTSHIFT_TEST_MCP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| "python3".into());
    let probe = std::process::Command::new(&python)
        .args(["-c", "import mcp.client.stdio"])
        .output();
    probe.ok().filter(|o| o.status.success()).map(|_| python)
}

/// A pipelines directory and a policy beside the workspace, and files to work on.
fn setup(env: &Env) -> (PathBuf, PathBuf) {
    env.file("src/a.rs", "// TODO: one\nfn main() {}\n");
    env.file("src/b.md", "# B\n\nTODO two, see [a](a.rs)\n");
    let pipelines = env.outside().join("pipelines");
    std::fs::create_dir_all(&pipelines).expect("pipelines dir");
    let write = |name: &str, text: String| {
        std::fs::write(pipelines.join(format!("{name}.toml")), text).expect("write pipeline")
    };
    write(
        "audit",
        r#"
name = "audit"
description = "TODO markers and links of src/"
[params]
pattern = "TODO"
[[step]]
id = "scan"
plugin = "file-stats"
params = { paths = ["src"], pattern = "${pattern}" }
grants = { read = ["src"], timeout = "30s" }
[[step]]
id = "links"
plugin = "verify-links"
check = true
params = { paths = ["src"] }
grants = { read = ["src"], timeout = "30s" }
"#
        .to_owned(),
    );
    write(
        "long",
        format!(
            r#"
name = "long"
[[step]]
id = "nap"
plugin = {}
params = {{ iterations = 60000, path = "out/partial.txt", text = "half" }}
grants = {{ write = ["out"], clocks = "real", timeout = "60s" }}
"#,
            quoted(NAP)
        ),
    );
    write(
        "greedy",
        format!(
            r#"
name = "greedy"
[[step]]
id = "grab"
plugin = {}
grants = {{ write = ["secrets"], network = ["api.example.com"], timeout = "30s" }}
"#,
            quoted(NOOP)
        ),
    );
    let policy = env.outside().join("policy.toml");
    std::fs::write(
        &policy,
        "read = [\".\"]\nwrite = [\"out\"]\nnetwork = []\nenv = []\nmax_timeout = \"60s\"\nmax_memory = \"256MiB\"\nplugins = [\"file-stats\"]\n",
    )
    .expect("write policy");
    (pipelines, policy)
}

/// A report with what differs between two runs of the same pipeline taken out: the task id,
/// times, durations, and the evidence (whose hashes cover the task id).
fn comparable(report: &serde_json::Value, task_id: &str) -> serde_json::Value {
    match report {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "task_id" | "started_at" | "finished_at" | "duration_ms" | "evidence"
                    )
                })
                .map(|(k, v)| (k.clone(), comparable(v, task_id)))
                .collect(),
        ),
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(|v| comparable(v, task_id)).collect())
        }
        serde_json::Value::String(s) => serde_json::Value::String(s.replace(task_id, "<task>")),
        other => other.clone(),
    }
}

#[test]
fn an_mcp_client_submits_watches_reads_cancels_and_calls_a_plugin() {
    let Some(python) = python_with_mcp() else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "CI must drive the MCP server: set NIGHTSHIFT_TEST_MCP_PYTHON to a Python with `mcp`"
            );
        }
        eprintln!(
            "SKIPPED an_mcp_client_submits_watches_reads_cancels_and_calls_a_plugin: no Python with `mcp` (set NIGHTSHIFT_TEST_MCP_PYTHON)"
        );
        return;
    };
    let env = Env::new();
    let (pipelines, policy) = setup(&env);
    let out = env.outside().join("client-out.json");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/mcp/client.py");
    let client = std::process::Command::new(&python)
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_nightshift"))
        .arg(env.state())
        .arg(env.workspace())
        .arg(&pipelines)
        .arg(&policy)
        .arg(&out)
        .output()
        .expect("run the MCP client");
    let stdout = String::from_utf8_lossy(&client.stdout);
    let stderr = String::from_utf8_lossy(&client.stderr);
    assert!(
        client.status.success() && stdout.contains("MCP CLIENT OK"),
        "--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    for line in stdout.lines().filter(|l| l.starts_with("ROUNDTRIP")) {
        println!("{line}");
    }
    assert!(
        !env.workspace().join("out/partial.txt").exists(),
        "the cancelled task left its write behind"
    );

    // The same pipeline through `nightshift submit` gives the same report.
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("client output"))
            .expect("client output is JSON");
    let mcp_task = results["task_id"].as_str().expect("task id");
    let pipeline = pipelines.join("audit.toml");
    let submit = env.run(&[
        "submit",
        pipeline.to_str().expect("utf-8"),
        "-p",
        "pattern=TODO",
    ]);
    assert_eq!(submit.code(), 0, "{submit}");
    let cli_task = submit.stdout().trim().to_owned();
    let worker = env.run(&["worker", "--until-idle"]);
    assert_eq!(worker.code(), 0, "{worker}");
    let report = env.run(&["report", &cli_task, "--format", "json"]);
    assert_eq!(report.code(), 0, "{report}");
    let cli_report: serde_json::Value = serde_json::from_str(&report.stdout()).expect("json");
    assert_eq!(cli_report["status"], "succeeded", "{report}");
    assert_eq!(
        comparable(&results["report"], mcp_task),
        comparable(&cli_report, &cli_task),
        "the MCP and CLI reports of the same pipeline differ"
    );
}

/// Starts `nightshift mcp` on pipes in `env`.
fn spawn_server(env: &Env, pipelines: &Path, extra: &[&str]) -> std::process::Child {
    let mut args = vec!["mcp", "--pipelines", pipelines.to_str().expect("utf-8")];
    args.extend_from_slice(extra);
    env.command(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nightshift mcp")
}

#[test]
fn closing_stdin_stops_the_server_cleanly_and_a_bad_policy_is_refused() {
    let env = Env::new();
    let (pipelines, _) = setup(&env);
    let mut server = spawn_server(&env, &pipelines, &["--worker"]);
    let mut stdin = server.stdin.take().expect("stdin");
    let initialize = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "raw", "version": "0"}}
    });
    writeln!(stdin, "{initialize}").expect("write");
    writeln!(
        stdin,
        "{}",
        serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
    )
    .expect("write");
    drop(stdin);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server did not stop after stdin closed"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    server
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("read stdout");
    assert!(status.success(), "exit {status:?}; stdout {stdout}");
    let first: serde_json::Value =
        serde_json::from_str(stdout.lines().next().expect("an answer")).expect("JSON-RPC");
    assert_eq!(first["id"], 1, "{stdout}");
    assert_eq!(
        first["result"]["serverInfo"]["name"], "nightshift",
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "stdout carries only protocol messages: {stdout}"
    );

    let bad = env.outside().join("bad-policy.toml");
    std::fs::write(&bad, "plugins = [\"../evil.wasm\"]\n").expect("write");
    let refused = env.run(&[
        "mcp",
        "--pipelines",
        pipelines.to_str().expect("utf-8"),
        "--policy",
        bad.to_str().expect("utf-8"),
    ]);
    assert_eq!(refused.code(), 2, "{refused}");
    assert!(refused.stderr().contains("plugins[0]"), "{refused}");
}
