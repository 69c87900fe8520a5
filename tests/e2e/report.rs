//! The completion report: golden files for a succeeded, a failed and a cancelled task (in
//! JSON, Markdown and HTML), validation against the published JSON Schema, determinism, and the
//! HTML report as a browser shows it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::guests::{NOOP, WORK};
use crate::util::{Env, quoted};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/golden");

/// Replaces what differs between runs (ids, digests, times, paths) by placeholders.
fn normalize(text: &str, env: &Env) -> String {
    let mut text = text.replace(&env.outside().display().to_string(), "<tmp>");
    for guest in [NOOP, WORK] {
        text = text.replace(guest, "<guest>");
    }
    let mut out = String::with_capacity(text.len());
    let bytes: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let run = bytes[i..]
            .iter()
            .take_while(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            .count();
        let boundary = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if boundary
            && matches!(run, 12 | 32 | 64)
            && bytes
                .get(i + run)
                .is_none_or(|c| !c.is_ascii_alphanumeric())
        {
            out.push_str(match run {
                64 => "<digest>",
                32 => "<task>",
                _ => "<short>",
            });
            i += run;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    normalize_times(&out)
}

/// Timestamps become `<time>`; durations `<ms>`.
fn normalize_times(text: &str) -> String {
    let mut lines = Vec::new();
    for line in text.lines() {
        let mut line = line.to_owned();
        // 2026-11-25T20:41:07.120Z
        while let Some(pos) = find_timestamp(&line) {
            line.replace_range(pos..pos + 24, "<time>");
        }
        line = replace_numbers_before(&line, " ms");
        if let Some(pos) = line.find("\"duration_ms\": ") {
            let start = pos + "\"duration_ms\": ".len();
            let end = line[start..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(line.len(), |e| start + e);
            if end > start {
                line.replace_range(start..end, "<ms>");
            }
        }
        lines.push(line);
    }
    lines.join("\n") + "\n"
}

fn find_timestamp(line: &str) -> Option<usize> {
    let b = line.as_bytes();
    (0..b.len().saturating_sub(23)).find(|&i| {
        b[i + 4] == b'-'
            && b[i + 10] == b'T'
            && b[i + 13] == b':'
            && b[i + 19] == b'.'
            && b[i + 23] == b'Z'
            && b[i..i + 4].iter().all(u8::is_ascii_digit)
    })
}

fn replace_numbers_before(line: &str, unit: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(pos) = rest.find(unit) {
        let head = &rest[..pos];
        let digits = head.chars().rev().take_while(char::is_ascii_digit).count();
        if digits > 0 {
            out.push_str(&head[..head.len() - digits]);
            out.push_str("<ms>");
        } else {
            out.push_str(head);
        }
        out.push_str(unit);
        rest = &rest[pos + unit.len()..];
    }
    out.push_str(rest);
    out
}

/// Compares with `tests/golden/NAME`, or writes it when `NIGHTSHIFT_BLESS=1`.
fn golden(name: &str, actual: &str) {
    let path = Path::new(GOLDEN).join(name);
    if std::env::var_os("NIGHTSHIFT_BLESS").is_some() {
        std::fs::write(&path, actual).expect("bless golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (bless with NIGHTSHIFT_BLESS=1)", path.display()));
    assert_eq!(actual, expected, "{name} differs from its golden file");
}

fn report(env: &Env, task: &str, format: &str) -> String {
    let run = env.run(&["report", task, "--format", format]);
    assert_eq!(run.code(), 0, "{run}");
    run.stdout()
}

fn validate(report: &str) {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/report.schema.json"
        ))
        .expect("schema"),
    )
    .expect("schema JSON");
    let validator = jsonschema::validator_for(&schema).expect("valid schema");
    let instance: serde_json::Value = serde_json::from_str(report).expect("report JSON");
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match docs/report.schema.json:\n{}",
        errors.join("\n")
    );
}

/// Checks every format of a task's report: golden JSON, Markdown and HTML, schema, determinism.
fn check_formats(env: &Env, task: &str, name: &str) {
    let json = report(env, task, "json");
    validate(&json);
    golden(&format!("{name}.json"), &normalize(&json, env));
    let markdown = report(env, task, "markdown");
    golden(&format!("{name}.md"), &normalize(&markdown, env));
    let html = report(env, task, "html");
    golden(&format!("{name}.html"), &normalize(&html, env));
    for format in ["json", "markdown", "html"] {
        assert_eq!(
            report(env, task, format),
            report(env, task, format),
            "{format} report is not deterministic"
        );
    }
}

fn task_of(run: &crate::util::Run) -> String {
    let report: serde_json::Value = serde_json::from_str(&run.stdout()).expect("report");
    report["task_id"].as_str().expect("id").to_owned()
}

#[test]
fn a_succeeded_task_reports_changes_checks_and_artifacts() {
    let env = Env::new();
    env.file(
        "docs/guide.md",
        "See [the notes](notes.md) and [the site](https://example.com).\n",
    );
    env.file("docs/notes.md", "notes\n");
    let pipeline = env.pipeline(&format!(
        r#"
        name = "tidy"
        [[step]]
        id = "write"
        plugin = {plugin}
        params = {{ iterations = 10, files = ["out/a.txt"] }}
        grants = {{ write = ["out"] }}
        [[step]]
        id = "links"
        plugin = "verify-links"
        check = true
        params = {{ paths = ["docs"] }}
        grants = {{ read = ["docs"] }}
        "#,
        plugin = quoted(WORK)
    ));
    let run = env.run(&["run", &pipeline.display().to_string(), "--json"]);
    assert_eq!(run.code(), 0, "{run}");
    let task = task_of(&run);
    check_formats(&env, &task, "succeeded");

    // The check step's verdicts are exported as an in-toto test-result statement too.
    let dir = env.outside().join("attestations");
    let verify = env.run(&[
        "verify",
        &task,
        "--export-intoto",
        &dir.display().to_string(),
    ]);
    assert_eq!(verify.code(), 0, "{verify}");
    let envelope: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("0002-links-1-checks.json")).expect("test-result envelope"),
    )
    .expect("JSON");
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(envelope["payload"].as_str().expect("payload"))
        .expect("base64");
    let statement: serde_json::Value = serde_json::from_slice(&payload).expect("statement");
    assert_eq!(
        statement["predicateType"],
        "https://in-toto.io/attestation/test-result/v0.1"
    );
    assert_eq!(statement["predicate"]["result"], "PASSED");
    assert_eq!(
        statement["predicate"]["passedTests"][0],
        "links in docs/guide.md"
    );
}

#[test]
fn a_failed_check_fails_the_task_and_names_what_was_left_unverified() {
    let env = Env::new();
    env.file(
        "docs/guide.md",
        "See [the notes](missing.md) and [the guide](guide.md).\n",
    );
    let pipeline = env.pipeline(&format!(
        r#"
        name = "tidy"
        [[step]]
        id = "links"
        plugin = "verify-links"
        check = true
        params = {{ paths = ["docs"] }}
        grants = {{ read = ["docs"] }}
        [[step]]
        id = "after"
        plugin = {plugin}
        "#,
        plugin = quoted(NOOP)
    ));
    let run = env.run(&["run", &pipeline.display().to_string(), "--json"]);
    assert_eq!(run.code(), 1, "{run}");
    let task = task_of(&run);
    let json: serde_json::Value = serde_json::from_str(&report(&env, &task, "json")).expect("JSON");
    assert_eq!(json["status"], "failed");
    assert_eq!(
        json["failures"][0]["error"],
        "check `links in docs/guide.md` failed: 1 of 2 links do not resolve: missing.md"
    );
    assert_eq!(
        json["failures"][0]["unverified"][0],
        "step `after` never ran"
    );
    check_formats(&env, &task, "failed");
}

#[test]
fn a_check_step_may_not_write() {
    let env = Env::new();
    let pipeline = env.pipeline("name = \"x\"\n[[step]]\nid = \"c\"\nplugin = \"verify-links\"\ncheck = true\ngrants = { write = [\"out\"] }\n");
    let run = env.run(&["run", &pipeline.display().to_string()]);
    assert_eq!(run.code(), 2, "{run}");
    assert!(
        run.stderr()
            .contains("field `grants.write`: a check step may not write"),
        "{run}"
    );
}

#[test]
fn a_cancelled_task_stops_at_its_next_check_and_changes_nothing() {
    let env = Env::new();
    let pipeline = env.pipeline(&format!(
        r#"
        name = "endless"
        [[step]]
        id = "spin"
        plugin = {plugin}
        params = {{ iterations = 1000000000000, files = ["out/never.txt"] }}
        grants = {{ write = ["out"], timeout = "5m" }}
        [[step]]
        id = "after"
        plugin = {after}
        "#,
        plugin = quoted(WORK),
        after = quoted(NOOP)
    ));
    let mut child = env
        .command(&["run", &pipeline.display().to_string(), "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let task = wait_for_running_step(&env, "spin");
    let asked = Instant::now();
    let cancel = env.run(&["cancel", &task]);
    let status = child.wait().expect("wait");
    let stopped_after = asked.elapsed();
    assert_eq!(cancel.code(), 0, "{cancel}");
    assert!(cancel.stdout().contains("cancelled"), "{cancel}");
    assert_eq!(status.code(), Some(1));
    // The step would spin until its five-minute timeout; it stops at its next check. The
    // bound also covers starting the `cancel` process on a machine busy with other tests.
    assert!(
        stopped_after < Duration::from_secs(3),
        "took {stopped_after:?} to stop"
    );
    assert!(
        !env.workspace().join("out/never.txt").exists(),
        "the cancelled step's writes were staged only"
    );

    let json: serde_json::Value = serde_json::from_str(&report(&env, &task, "json")).expect("JSON");
    assert_eq!(json["status"], "cancelled");
    assert_eq!(json["steps"][0]["error"], "step cancelled on request");
    assert_eq!(json["steps"][1]["status"], "skipped");
    check_formats(&env, &task, "cancelled");
}

fn wait_for_running_step(env: &Env, step: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let status = env.run(&["status", "--json"]);
        let tasks: Vec<serde_json::Value> =
            serde_json::from_str(&status.stdout()).unwrap_or_default();
        if let Some(task) = tasks.first().filter(|t| t["current_step"] == step) {
            std::thread::sleep(Duration::from_millis(100));
            return task["task_id"].as_str().expect("id").to_owned();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("step `{step}` never started");
}

#[test]
fn the_report_is_stored_and_signed_when_the_task_ends() {
    let env = Env::new();
    let pipeline = env.pipeline(&format!(
        "name = \"x\"\n[[step]]\nid = \"a\"\nplugin = {}\n",
        quoted(NOOP)
    ));
    let run = env.run(&["run", &pipeline.display().to_string(), "--json"]);
    assert_eq!(run.code(), 0, "{run}");
    let task = task_of(&run);
    let journal = rusqlite::Connection::open(env.state().join("journal.db")).expect("journal");
    let (digest, signature): (String, String) = journal
        .query_row(
            "SELECT blake3, signature FROM reports WHERE task_id = ?1",
            [&task],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("a stored report");
    let stored = std::fs::read(env.state().join("cas").join(&digest[..2]).join(&digest))
        .expect("report in cas");
    let stored: serde_json::Value = serde_json::from_slice(&stored).expect("stored JSON");
    let printed: serde_json::Value = serde_json::from_str(&run.stdout()).expect("printed JSON");
    assert_eq!(stored, printed);
    assert_eq!(signature.len(), 128);
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .map(PathBuf::from)
        .find(|p| {
            std::process::Command::new(p)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

#[test]
fn the_html_report_of_the_example_renders_in_a_browser() {
    let env = Env::new();
    env.file("README.md", "# Demo\n\nSee [the code](src/main.rs).\n");
    env.file("src/main.rs", "fn main() {} // TODO: everything\n");
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/repo-audit.toml"
    );
    let run = env.run(&["run", example, "--json"]);
    assert_eq!(run.code(), 0, "{run}");
    let html = report(&env, &task_of(&run), "html");
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("<script"),
        "self-contained"
    );
    let page = env.outside().join("report.html");
    std::fs::write(&page, &html).expect("write html");

    let (Some(browser), true) = (
        chromium(),
        std::process::Command::new("pdftotext")
            .arg("-v")
            .output()
            .is_ok(),
    ) else {
        if std::env::var_os("CI").is_some() {
            panic!("CI must render the HTML report: install chromium and poppler-utils");
        }
        eprintln!(
            "SKIPPED the_html_report_of_the_example_renders_in_a_browser: chromium or pdftotext is not installed"
        );
        return;
    };
    let pdf = env.outside().join("report.pdf");
    let profile = env.outside().join("chromium-profile");
    let render = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
        ])
        .args([
            "--disable-component-update",
            "--disable-sync",
            "--no-pdf-header-footer",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(
        pdf.exists(),
        "chromium printed no PDF: {}",
        String::from_utf8_lossy(&render.stderr)
    );
    let text = std::process::Command::new("pdftotext")
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext");
    let visible = String::from_utf8_lossy(&text.stdout);
    for expected in [
        "repo-audit: succeeded",
        "Changed",
        "nightshift-out/brief.md",
        "Checks",
        "links in README.md",
        "Evidence",
        "verified",
    ] {
        assert!(
            visible.contains(expected),
            "`{expected}` is not visible in the rendered report:\n{visible}"
        );
    }
}
