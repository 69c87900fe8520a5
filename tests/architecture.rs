//! The crates' dependencies point one way, as `docs/architecture.md` draws them: read from
//! `cargo metadata`, every dependency between workspace crates must be one the map allows,
//! and the crates that own an outside concern (the terminal, MCP, a database) are the only
//! ones that depend on its library.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// For each crate of the host, the workspace crates it may depend on (normal dependencies).
const ALLOWED: &[(&str, &[&str])] = &[
    ("nightshift-plugin-abi", &[]),
    ("nightshift-plugin-sdk", &["nightshift-plugin-abi"]),
    ("nightshift-sandbox", &["nightshift-plugin-abi"]),
    ("nightshift-journal", &["nightshift-plugin-abi"]),
    ("nightshift-journal-sqlite", &["nightshift-journal"]),
    ("nightshift-journal-postgres", &["nightshift-journal"]),
    ("nightshift-cron", &[]),
    ("nightshift-bundled", &[]),
    (
        "nightshift",
        &[
            "nightshift-plugin-abi",
            "nightshift-sandbox",
            "nightshift-journal",
            "nightshift-journal-sqlite",
            "nightshift-journal-postgres",
            "nightshift-cron",
            "nightshift-bundled",
        ],
    ),
    ("nightshift-mcp", &["nightshift"]),
    ("nightshift-cli", &["nightshift", "nightshift-mcp"]),
];

/// Outside libraries that only one crate may use (the concern it owns), and where it is
/// used. The journal's interface names SQLite's error type only behind its optional `sqlite`
/// feature, so that a backend's error keeps its cause.
const OWNED: &[(&str, &str, &[&str])] = &[
    ("clap", "nightshift-cli", &[]),
    ("anyhow", "nightshift-cli", &[]),
    ("indicatif", "nightshift-cli", &[]),
    ("tracing-subscriber", "nightshift-cli", &[]),
    ("rmcp", "nightshift-mcp", &[]),
    ("schemars", "nightshift-mcp", &[]),
    (
        "rusqlite",
        "nightshift-journal-sqlite",
        &["nightshift-journal"],
    ),
    ("tokio-postgres", "nightshift-journal-postgres", &[]),
    ("croner", "nightshift-cron", &[]),
    ("wasmtime-wasi", "nightshift-sandbox", &[]),
    ("wasmtime-wasi-http", "nightshift-sandbox", &[]),
];

/// The normal (not dev, not build) dependencies of each workspace package, by name.
fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(output.status.success(), "cargo metadata failed: {output:?}");
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let mut graph = BTreeMap::new();
    for package in metadata["packages"].as_array().expect("packages") {
        let name = package["name"].as_str().expect("name").to_owned();
        let deps = package["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| d["kind"].is_null())
            .map(|d| d["name"].as_str().expect("dependency name").to_owned())
            .collect();
        graph.insert(name, deps);
    }
    graph
}

fn is_host_crate(name: &str) -> bool {
    ALLOWED.iter().any(|(krate, _)| *krate == name)
}

#[test]
fn workspace_crates_depend_only_the_way_the_map_allows() {
    let graph = dependencies();
    let mut wrong = Vec::new();
    for (krate, deps) in &graph {
        if !krate.starts_with("nightshift") || krate == "nightshift-test-guests" {
            continue;
        }
        let Some((_, allowed)) = ALLOWED.iter().find(|(name, _)| name == krate) else {
            wrong.push(format!(
                "{krate} is not on the map: add it to ALLOWED and docs/architecture.md"
            ));
            continue;
        };
        for dep in deps.iter().filter(|d| is_host_crate(d)) {
            if !allowed.contains(&dep.as_str()) {
                wrong.push(format!("{krate} depends on {dep}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "dependencies running the wrong way:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn sandbox_and_journal_never_meet() {
    let graph = dependencies();
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_owned()];
        while let Some(krate) = stack.pop() {
            if krate == to {
                return true;
            }
            if seen.insert(krate.clone())
                && let Some(deps) = graph.get(&krate)
            {
                stack.extend(deps.iter().cloned());
            }
        }
        false
    };
    for (a, b) in [
        ("nightshift-sandbox", "nightshift-journal"),
        ("nightshift-journal", "nightshift-sandbox"),
        ("nightshift-journal", "nightshift-journal-sqlite"),
        ("nightshift-journal", "nightshift-journal-postgres"),
        ("nightshift", "nightshift-mcp"),
        ("nightshift", "nightshift-cli"),
        ("nightshift-mcp", "nightshift-cli"),
    ] {
        assert!(
            !reaches(a, b),
            "{a} must not depend on {b}, even through another crate"
        );
    }
}

#[test]
fn outside_concerns_have_one_owner() {
    let graph = dependencies();
    let mut wrong = Vec::new();
    for (library, owner, also) in OWNED {
        for (krate, deps) in graph.iter().filter(|(k, _)| is_host_crate(k)) {
            if deps.contains(*library) && krate != owner && !also.contains(&krate.as_str()) {
                wrong.push(format!(
                    "{krate} depends on {library}, which only {owner} may use"
                ));
            }
        }
        assert!(
            graph
                .get(*owner)
                .is_some_and(|deps| deps.contains(*library)),
            "{owner} no longer uses {library}: update OWNED"
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Only `cli` knows the terminal: the other crates' code (their tests aside) never prints.
#[test]
fn only_the_cli_prints() {
    let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut printing = Vec::new();
    for krate in std::fs::read_dir(&crates).expect("crates/") {
        let krate = krate.expect("entry").path();
        if krate.ends_with("cli") || krate.ends_with("bundled") {
            // `bundled` prints only to cargo, from its build script.
            continue;
        }
        let mut files = vec![krate.join("src")];
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(
                    std::fs::read_dir(&path)
                        .expect("dir")
                        .map(|e| e.expect("entry").path()),
                );
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("source");
            // Test modules come last in a file; what follows `#[cfg(test)]` is test code.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (n, line) in code.lines().enumerate() {
                let line = line.trim_start();
                if line.starts_with("//") {
                    continue;
                }
                let prints = [
                    "println!",
                    "eprintln!",
                    "print!",
                    "eprint!",
                    "IsTerminal",
                    "indicatif",
                ]
                .iter()
                .any(|p| line.contains(p));
                // The crash points of the durability tests say which one fired, then abort.
                let failpoint = path.ends_with("failpoint.rs") && line.contains("aborting");
                if prints && !failpoint {
                    printing.push(format!("{}:{}: {line}", path.display(), n + 1));
                }
            }
        }
    }
    assert!(
        printing.is_empty(),
        "only the cli prints; log through tracing instead:\n{}",
        printing.join("\n")
    );
}

/// Every test guest is driven by some end-to-end test: the end-to-end tests declare each
/// guest (through `foreach_test_guest!`) in a module that denies dead code, so a guest no test
/// runs fails their build. This keeps that module as it is.
#[test]
fn every_guest_case_has_a_test() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let main = std::fs::read_to_string(root.join("tests/e2e/main.rs")).expect("tests/e2e/main.rs");
    let guests = main
        .split("mod guests {")
        .nth(1)
        .expect("tests/e2e/main.rs declares the test guests in `mod guests`");
    let guests = guests.split("\n}\n").next().unwrap_or_default();
    assert!(
        guests.contains("#![deny(dead_code)]")
            && guests.contains("nightshift_bundled::foreach_test_guest!(")
            && !guests.contains("allow("),
        "`mod guests` of tests/e2e/main.rs must declare every guest where dead code is denied:\n{guests}"
    );
}
