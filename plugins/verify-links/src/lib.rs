//! `verify-links`: checks that every relative link in the Markdown files it can read points
//! to a file or directory that exists. One check per file with links; a broken link fails it.

use std::fs;
use std::path::{Path, PathBuf};

use nightshift_plugin_sdk::{Error, Input, Output, export_plugin};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// Directories to search for `.md` files; they must be granted for reading.
    #[serde(default = "default_paths")]
    paths: Vec<String>,
    /// Directory names never entered.
    #[serde(default = "default_exclude")]
    exclude: Vec<String>,
}

fn default_paths() -> Vec<String> {
    vec![".".to_owned()]
}

fn default_exclude() -> Vec<String> {
    [".git", "target", "node_modules", "nightshift-out"]
        .map(String::from)
        .to_vec()
}

#[derive(Serialize)]
struct Broken {
    file: String,
    link: String,
}

#[derive(Serialize, Default)]
struct Findings {
    files: usize,
    links: usize,
    broken: Vec<Broken>,
}

fn run(input: Input<Params>) -> Result<Output, Error> {
    let mut files = Vec::new();
    for root in &input.params.paths {
        collect(Path::new(root), &input.params.exclude, &mut files);
    }
    files.sort();
    let mut findings = Findings::default();
    let mut output = Output::new("");
    for file in &files {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        let shown = file.display().to_string();
        let shown = shown.strip_prefix("./").unwrap_or(&shown).to_owned();
        let links = relative_links(&text);
        if links.is_empty() {
            continue;
        }
        findings.files += 1;
        findings.links += links.len();
        let dir = file.parent().unwrap_or(Path::new("."));
        let broken: Vec<&String> = links
            .iter()
            .filter(|l| fs::metadata(dir.join(l)).is_err())
            .collect();
        let detail = if broken.is_empty() {
            format!("{} links, all resolve", links.len())
        } else {
            let list: Vec<&str> = broken.iter().map(|l| l.as_str()).collect();
            format!(
                "{} of {} links do not resolve: {}",
                broken.len(),
                links.len(),
                list.join(", ")
            )
        };
        output = output.check(format!("links in {shown}"), broken.is_empty(), detail);
        findings.broken.extend(broken.into_iter().map(|l| Broken {
            file: shown.clone(),
            link: l.clone(),
        }));
    }
    output.summary = format!(
        "{} links in {} Markdown files; {} broken",
        findings.links,
        findings.files,
        findings.broken.len()
    );
    Ok(output.data(&findings))
}

/// The targets of `[text](target)` links that point into the file tree: not URLs, not
/// anchors; without their `#fragment`.
fn relative_links(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("](") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = rest[..end].split_whitespace().next().unwrap_or("");
        rest = &rest[end..];
        let target = target.split('#').next().unwrap_or("");
        let external = target.contains("://") || target.starts_with("mailto:");
        if !target.is_empty() && !external {
            links.push(target.to_owned());
        }
    }
    links
}

fn collect(dir: &Path, exclude: &[String], files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = dir.join(entry.file_name());
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if !exclude
                .iter()
                .any(|x| entry.file_name().to_str() == Some(x))
            {
                collect(&path, exclude, files);
            }
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
}

export_plugin!(run, requests { read: true }, params_schema: r#"{"type":"object","properties":{"paths":{"type":"array","items":{"type":"string"},"description":"Directories to search for .md files; they must be granted for reading","default":["."]},"exclude":{"type":"array","items":{"type":"string"},"description":"Directory names never entered"}},"additionalProperties":false}"#);

#[cfg(test)]
mod tests {
    use nightshift_plugin_sdk::testing;

    #[test]
    fn finds_links_that_do_not_resolve_and_ignores_urls_and_anchors() {
        let dir = std::env::temp_dir().join(format!("verify-links-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("docs")).expect("mkdir");
        std::fs::write(dir.join("docs/ok.md"), "x").expect("write");
        std::fs::write(
            dir.join("README.md"),
            "[ok](docs/ok.md) [anchor](#top) [web](https://example.com) [dir](docs) [gone](docs/gone.md#part)\n",
        )
        .expect("write");
        let run = testing::run(super::run, serde_json::json!({ "paths": [dir] }));
        let output = run.result.expect("runs");
        assert_eq!(output.data["links"], 3);
        assert_eq!(output.data["broken"][0]["link"], "docs/gone.md");
        let readme = output
            .checks
            .iter()
            .find(|c| c.name.ends_with("README.md"))
            .expect("a check per file");
        assert!(!readme.passed);
        assert_eq!(readme.detail, "1 of 3 links do not resolve: docs/gone.md");
    }
}
