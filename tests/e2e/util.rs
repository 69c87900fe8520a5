//! Helpers: a throwaway workspace and state directory, and the binary run inside them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

include!(concat!(env!("OUT_DIR"), "/test_guests.rs"));

/// A workspace and a state directory, both temporary.
pub(crate) struct Env {
    root: tempfile::TempDir,
}

impl Env {
    pub(crate) fn new() -> Self {
        let root = tempfile::tempdir().expect("create a temporary directory");
        std::fs::create_dir_all(root.path().join("ws")).expect("create workspace");
        Env { root }
    }

    pub(crate) fn workspace(&self) -> PathBuf {
        self.root.path().join("ws")
    }

    pub(crate) fn state(&self) -> PathBuf {
        self.root.path().join("state")
    }

    /// The directory around the workspace, where secrets the guests must not see live.
    pub(crate) fn outside(&self) -> &Path {
        self.root.path()
    }

    /// Writes a file in the workspace (creating directories).
    pub(crate) fn file(&self, path: &str, content: &str) -> PathBuf {
        let path = self.workspace().join(path);
        std::fs::create_dir_all(path.parent().expect("file has a parent")).expect("create dirs");
        std::fs::write(&path, content).expect("write file");
        path
    }

    /// Writes a pipeline into the workspace and returns its path.
    pub(crate) fn pipeline(&self, toml: &str) -> PathBuf {
        self.file("pipeline.toml", toml)
    }

    /// `nightshift ARGS` with this state directory, in the workspace.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nightshift"));
        cmd.args(args)
            .current_dir(self.workspace())
            .env("NIGHTSHIFT_STATE", self.state())
            .env_remove("RUST_LOG");
        cmd
    }

    pub(crate) fn run(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().expect("run nightshift");
        Run(output)
    }

    /// `nightshift run PIPELINE --json`, returning the report.
    pub(crate) fn run_json(&self, pipeline: &Path) -> (Run, serde_json::Value) {
        let run = self.run(&["run", &pipeline.display().to_string(), "--json"]);
        let report = serde_json::from_str(&run.stdout())
            .unwrap_or_else(|e| panic!("report is not JSON ({e}): {run}"));
        (run, report)
    }
}

/// A finished `nightshift` process.
pub(crate) struct Run(Output);

impl Run {
    pub(crate) fn code(&self) -> i32 {
        self.0
            .status
            .code()
            .expect("nightshift exited, not killed by a signal")
    }

    pub(crate) fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.0.status.code(),
            self.stdout(),
            self.stderr()
        )
    }
}

/// The step of a JSON report with this id.
pub(crate) fn step<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["id"] == id))
        .unwrap_or_else(|| panic!("no step `{id}` in {report:#}"))
}

/// TOML string for a path.
pub(crate) fn quoted(path: &str) -> String {
    format!("{path:?}")
}
