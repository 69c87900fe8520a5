//! `file-stats`: walks the directories it was granted and counts files, bytes and lines per
//! extension, and lists the lines that match a regular expression (`path:line`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use nightshift_plugin_sdk::{Error, Input, Output, export_plugin};
use regex::Regex;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// Directories to walk, relative to the workspace; they must be granted for reading.
    #[serde(default = "default_paths")]
    paths: Vec<String>,
    /// A regular expression; each matching line is listed.
    pattern: Option<String>,
    /// Directory names never entered.
    #[serde(default = "default_exclude")]
    exclude: Vec<String>,
    /// At most this many matches are listed.
    #[serde(default = "default_max_matches")]
    max_matches: usize,
}

fn default_paths() -> Vec<String> {
    vec![".".to_owned()]
}

fn default_exclude() -> Vec<String> {
    [".git", "target", "node_modules", "nightshift-out"]
        .map(String::from)
        .to_vec()
}

fn default_max_matches() -> usize {
    200
}

#[derive(Default, Serialize)]
struct Tally {
    files: u64,
    bytes: u64,
    lines: u64,
}

#[derive(Serialize)]
struct Match {
    path: String,
    line: u64,
    text: String,
}

#[derive(Default, Serialize)]
struct Stats {
    files: u64,
    bytes: u64,
    lines: u64,
    by_extension: BTreeMap<String, Tally>,
    pattern: Option<String>,
    matches: Vec<Match>,
    matches_total: u64,
    binary_files: u64,
    unreadable: Vec<String>,
}

fn run(input: Input<Params>) -> Result<Output, Error> {
    let params = input.params;
    let pattern = params
        .pattern
        .as_deref()
        .map(Regex::new)
        .transpose()
        .map_err(|e| Error::fatal(format!("params.pattern is not a valid regex: {e}")))?;

    let mut files = Vec::new();
    let mut stats = Stats {
        pattern: params.pattern.clone(),
        ..Stats::default()
    };
    for root in &params.paths {
        collect(
            Path::new(root),
            &params.exclude,
            &mut files,
            &mut stats.unreadable,
        );
    }
    files.sort();

    let total = files.len() as u64;
    for (done, path) in files.iter().enumerate() {
        if done % 200 == 0 {
            nightshift_plugin_sdk::progress(done as u64, total, "reading files");
        }
        tally(path, pattern.as_ref(), params.max_matches, &mut stats);
    }
    nightshift_plugin_sdk::progress(total, total, "done");

    let mut summary = format!(
        "{} files, {} bytes, {} lines in {} extensions",
        stats.files,
        stats.bytes,
        stats.lines,
        stats.by_extension.len()
    );
    if let Some(p) = &stats.pattern {
        summary.push_str(&format!("; {} lines match `{p}`", stats.matches_total));
    }
    let mut output = Output::new(summary).check(
        "every file readable",
        stats.unreadable.is_empty(),
        format!("{} unreadable", stats.unreadable.len()),
    );
    if stats.matches_total > stats.matches.len() as u64 {
        output = output.caveat(format!(
            "only the first {} of {} matches are listed",
            stats.matches.len(),
            stats.matches_total
        ));
    }
    if stats.binary_files > 0 {
        output = output.caveat(format!(
            "{} binary files were counted but not searched",
            stats.binary_files
        ));
    }
    Ok(output.data(&stats))
}

fn collect(dir: &Path, exclude: &[String], files: &mut Vec<PathBuf>, unreadable: &mut Vec<String>) {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            unreadable.push(format!("{}: {e}", dir.display()));
            return;
        }
    };
    for entry in entries.flatten() {
        let path = dir.join(entry.file_name());
        let Ok(kind) = entry.file_type() else {
            unreadable.push(path.display().to_string());
            continue;
        };
        if kind.is_dir() {
            let name = entry.file_name();
            if !exclude.iter().any(|x| name.to_str() == Some(x)) {
                collect(&path, exclude, files, unreadable);
            }
        } else if kind.is_file() {
            files.push(path);
        }
    }
}

fn tally(path: &Path, pattern: Option<&Regex>, max_matches: usize, stats: &mut Stats) {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            stats.unreadable.push(format!("{}: {e}", path.display()));
            return;
        }
    };
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("(none)")
        .to_owned();
    let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    let entry = stats.by_extension.entry(ext).or_default();
    entry.files += 1;
    entry.bytes += bytes.len() as u64;
    entry.lines += lines;
    stats.files += 1;
    stats.bytes += bytes.len() as u64;
    stats.lines += lines;

    let Some(pattern) = pattern else { return };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        stats.binary_files += 1;
        return;
    };
    let shown = display_path(path);
    for (number, line) in text.lines().enumerate() {
        if pattern.is_match(line) {
            stats.matches_total += 1;
            if stats.matches.len() < max_matches {
                stats.matches.push(Match {
                    path: shown.clone(),
                    line: number as u64 + 1,
                    text: line.trim().chars().take(200).collect(),
                });
            }
        }
    }
}

/// `./src/x.rs` is shown as `src/x.rs`.
fn display_path(path: &Path) -> String {
    let shown = path.display().to_string();
    shown.strip_prefix("./").map(str::to_owned).unwrap_or(shown)
}

export_plugin!(run, requests { read: true }, params_schema: r#"{"type":"object","properties":{"paths":{"type":"array","items":{"type":"string"},"description":"Directories to walk, relative to the workspace; they must be granted for reading","default":["."]},"pattern":{"type":"string","description":"A regular expression; each matching line is listed"},"exclude":{"type":"array","items":{"type":"string"},"description":"Directory names never entered"},"max_matches":{"type":"integer","minimum":0,"description":"At most this many matches are listed"}},"additionalProperties":false}"#);

#[cfg(test)]
mod tests {
    use nightshift_plugin_sdk::testing;

    fn tree() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("file-stats-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("src")).expect("mkdir");
        std::fs::create_dir_all(dir.join("target")).expect("mkdir");
        std::fs::write(dir.join("src/a.rs"), "fn a() {}\n// TODO: b\n").expect("write");
        std::fs::write(dir.join("notes.md"), "FIXME\nfine\nfine\n").expect("write");
        std::fs::write(dir.join("target/skip.rs"), "// TODO: excluded\n").expect("write");
        dir
    }

    #[test]
    fn counts_per_extension_and_lists_matches_outside_excluded_directories() {
        let dir = tree();
        let run = testing::run(
            super::run,
            serde_json::json!({ "paths": [dir], "pattern": "TODO|FIXME" }),
        );
        let output = run.result.expect("succeeds");
        assert_eq!(output.data["files"], 2);
        assert_eq!(output.data["lines"], 5);
        assert_eq!(output.data["by_extension"]["rs"]["files"], 1);
        assert_eq!(output.data["matches_total"], 2);
        assert!(output.checks.iter().all(|c| c.passed));
        assert!(!run.progress.is_empty(), "progress is reported");
    }

    #[test]
    fn an_invalid_pattern_is_a_fatal_error() {
        let run = testing::run(super::run, serde_json::json!({ "pattern": "(" }));
        let error = run.result.expect_err("fails");
        assert!(
            matches!(error, nightshift_plugin_sdk::Error::Fatal(m) if m.contains("params.pattern"))
        );
    }
}
