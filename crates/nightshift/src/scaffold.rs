//! A new plugin crate from a template: `Cargo.toml`, `src/lib.rs` with a working step and a
//! native test, and a sample pipeline, ready for `cargo build --release --target
//! wasm32-wasip2` and `nightshift run`.

use std::path::{Path, PathBuf};

/// Errors writing a scaffold.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name cannot be a crate name.
    #[error(
        "`{0}` is not a plugin name: use lower-case letters, digits and `-`, starting with a letter"
    )]
    BadName(String),
    /// The directory exists already.
    #[error("{0} exists already; choose another name or directory")]
    Exists(PathBuf),
    /// A file could not be written.
    #[error("cannot write {path}: {cause}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
}

/// Writes a new plugin crate `name` into `dir/name`, depending on the SDK at `sdk`; returns
/// the crate's directory.
pub fn new_plugin(name: &str, dir: &Path, sdk: &Path) -> Result<PathBuf, ScaffoldError> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(ScaffoldError::BadName(name.to_owned()));
    }
    let root = dir.join(name);
    if root.exists() {
        return Err(ScaffoldError::Exists(root));
    }
    let crate_name = name.replace('-', "_");
    let files = [
        (
            "Cargo.toml",
            CARGO_TOML
                .replace("{name}", name)
                .replace("{sdk}", &sdk.display().to_string()),
        ),
        ("src/lib.rs", LIB_RS.to_owned()),
        (
            "pipeline.toml",
            PIPELINE
                .replace("{name}", name)
                .replace("{crate}", &crate_name),
        ),
        (".gitignore", "/target\n".to_owned()),
    ];
    for (file, content) in files {
        let path = root.join(file);
        let write = |path: &Path| -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, &content)
        };
        write(&path).map_err(|source| ScaffoldError::Write {
            path: path.clone(),
            cause: source,
        })?;
    }
    Ok(root)
}

const CARGO_TOML: &str = r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
description = "A Nightshift plugin"

[lib]
crate-type = ["cdylib"]

[dependencies]
nightshift-plugin-sdk = { path = "{sdk}" }
serde = { version = "1", features = ["derive"] }
serde_json = "1"

# A crate of its own, even inside another workspace.
[workspace]
"#;

const LIB_RS: &str = r#"//! A Nightshift plugin: counts the lines of the files it is given, inside the directories
//! the pipeline grants it for reading.

use nightshift_plugin_sdk::{Error, Input, Output, export_plugin};
use serde::Deserialize;

/// What the pipeline step passes as `params`.
#[derive(Deserialize)]
struct Params {
    /// Files to count, relative to the workspace.
    files: Vec<String>,
}

fn run(input: Input<Params>) -> Result<Output, Error> {
    let mut total = 0;
    for path in &input.params.files {
        let text = std::fs::read_to_string(path).map_err(|e| Error::fatal(format!("{path}: {e}")))?;
        total += text.lines().count();
        nightshift_plugin_sdk::log::info(&format!("{path}: {} lines", text.lines().count()));
    }
    Ok(Output::new(format!("{total} lines in {} files", input.params.files.len()))
        .data(&serde_json::json!({ "lines": total }))
        .check("every file read", true, format!("{} files", input.params.files.len())))
}

// The plugin reads the directories it is granted; it asks for nothing else.
export_plugin!(run, requests { read: true });

#[cfg(test)]
mod tests {
    use nightshift_plugin_sdk::testing;

    #[test]
    fn counts_lines_and_fails_on_a_missing_file() {
        let dir = std::env::temp_dir().join(format!("plugin-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("a.txt");
        std::fs::write(&file, "one\ntwo\n").expect("write");

        let run = testing::run(super::run, serde_json::json!({ "files": [file] }));
        let output = run.result.expect("succeeds");
        assert_eq!(output.summary, "2 lines in 1 files");
        assert_eq!(run.logs.len(), 1);

        let missing = testing::run(super::run, serde_json::json!({ "files": ["nope.txt"] }));
        assert!(missing.result.is_err());
    }
}
"#;

const PIPELINE: &str = r#"# Run with:
#   cargo build --release --target wasm32-wasip2
#   nightshift run pipeline.toml
name = "{name}-demo"

[[step]]
id = "count"
plugin = "target/wasm32-wasip2/release/{crate}.wasm"
params = { files = ["Cargo.toml", "src/lib.rs"] }
grants = { read = ["."] }
"#;
