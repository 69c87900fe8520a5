//! `brief`: writes a Markdown brief of the outputs of the steps that ran before it.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use nightshift_plugin_sdk::{Error, Input, Output, export_plugin};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Params {
    /// The brief's heading.
    pub(crate) title: String,
    /// Where to write it, inside a write grant.
    #[serde(default = "default_output")]
    pub(crate) output: String,
}

fn default_output() -> String {
    "nightshift-out/brief.md".to_owned()
}

fn run(input: Input<Params>) -> Result<Output, Error> {
    let mut text = format!("# {}\n\nTask `{}`.\n", input.params.title, input.task_id);
    for (step, data) in &input.prior {
        let _ = write!(text, "\n## Step `{step}`\n\n");
        render(&mut text, data);
    }
    if input.prior.is_empty() {
        text.push_str("\nNo earlier step produced data.\n");
    }

    let path = Path::new(&input.params.output);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)
            .map_err(|e| Error::fatal(format!("cannot create {}: {e}", parent.display())))?;
    }
    fs::write(path, &text)
        .map_err(|e| Error::fatal(format!("cannot write {}: {e}", path.display())))?;
    nightshift_plugin_sdk::note(&format!("wrote {}", path.display()));

    Ok(
        Output::new(format!("wrote {} ({} bytes)", path.display(), text.len()))
            .data(&serde_json::json!({ "path": input.params.output, "bytes": text.len() }))
            .check(
                "brief covers every earlier step",
                true,
                format!("{} steps", input.prior.len()),
            ),
    )
}

/// File statistics get a table; any other data is shown as JSON.
fn render(text: &mut String, data: &Value) {
    if let Some(by_ext) = data.get("by_extension").and_then(Value::as_object) {
        let _ = writeln!(
            text,
            "{} files, {} bytes, {} lines.\n\n| extension | files | bytes | lines |\n| --- | ---: | ---: | ---: |",
            data["files"], data["bytes"], data["lines"]
        );
        let mut rows: Vec<_> = by_ext.iter().collect();
        rows.sort_by_key(|(_, t)| std::cmp::Reverse(t["bytes"].as_u64().unwrap_or(0)));
        for (ext, t) in rows {
            let _ = writeln!(
                text,
                "| {ext} | {} | {} | {} |",
                t["files"], t["bytes"], t["lines"]
            );
        }
        if let Some(matches) = data.get("matches").and_then(Value::as_array) {
            let pattern = data["pattern"].as_str().unwrap_or("");
            let _ = writeln!(
                text,
                "\n{} lines match `{pattern}`.\n",
                data["matches_total"]
            );
            for m in matches {
                let _ = writeln!(
                    text,
                    "- `{}:{}`: {}",
                    m["path"].as_str().unwrap_or("?"),
                    m["line"],
                    m["text"].as_str().unwrap_or("")
                );
            }
        }
    } else if let (Some(links), Some(broken)) = (data["links"].as_u64(), data["broken"].as_array())
    {
        let _ = writeln!(
            text,
            "{links} relative links in {} Markdown files; {} broken.",
            data["files"],
            broken.len()
        );
        for b in broken {
            let _ = writeln!(
                text,
                "- `{}`: `{}`",
                b["file"].as_str().unwrap_or("?"),
                b["link"].as_str().unwrap_or("?")
            );
        }
    } else {
        let pretty = serde_json::to_string_pretty(data).unwrap_or_default();
        let _ = writeln!(text, "```json\n{pretty}\n```");
    }
}

export_plugin!(run, requests { write: true }, params_schema: r#"{"type":"object","properties":{"title":{"type":"string","description":"The brief's heading"},"output":{"type":"string","description":"Where to write it, inside a write grant","default":"nightshift-out/brief.md"}},"required":["title"],"additionalProperties":false}"#);

#[cfg(test)]
mod tests {
    use nightshift_plugin_sdk::testing;

    #[test]
    fn writes_a_brief_of_the_earlier_steps() {
        let out = std::env::temp_dir().join(format!("brief-test-{}/brief.md", std::process::id()));
        let mut input = testing::input(super::Params {
            title: "Audit".into(),
            output: out.display().to_string(),
        });
        input.prior.insert(
            "scan".into(),
            serde_json::json!({ "files": 1, "bytes": 10, "lines": 2, "by_extension": { "rs": { "files": 1, "bytes": 10, "lines": 2 } },
                                "pattern": "TODO", "matches_total": 1, "matches": [{ "path": "a.rs", "line": 2, "text": "// TODO" }] }),
        );
        let run = testing::run_with(super::run, input);
        let output = run.result.expect("succeeds");
        let text = std::fs::read_to_string(&out).expect("brief written");
        assert!(text.starts_with("# Audit\n"), "{text}");
        assert!(text.contains("| rs | 1 | 10 | 2 |"), "{text}");
        assert!(text.contains("- `a.rs:2`: // TODO"), "{text}");
        assert_eq!(output.data["bytes"], text.len());
        assert_eq!(run.notes.len(), 1);
    }
}
