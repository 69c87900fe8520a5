//! Paths swapped for symlinks after the pipeline was checked (time of check to time of use).
//!
//! A read grant's directory, a write grant's directory, a parent of a grant, and a file inside
//! a write grant are each replaced by a symlink (to a directory outside the workspace, to the
//! state directory, to a file elsewhere) at three moments: between load and step start, while
//! the step runs, and between commit and apply (the run aborted there by a failpoint, then
//! resumed), and to another directory of the workspace as well. Each time nothing outside the
//! workspace (nor that other directory) is read or written; the step fails or is refused
//! naming the grant, or the resume refuses (naming the grant when the pipeline no longer
//! checks, the path when only the apply stands in the way) and applies what was committed
//! once the path is a directory again; and `verify` passes on what was committed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::guests::{AWAIT_FILE, WRITE};
use crate::util::{Env, on_each_backend, quoted, step};

/// What the files outside the workspace hold; no output may contain it.
const SECRET: &str = "OUTSIDE-SECRET";
/// What the guest writes.
const WRITTEN: &str = "written by the guest";

/// What is swapped for a symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    ReadDir,
    WriteDir,
    ParentOfGrant,
    FileInWriteGrant,
}

/// Where the symlink points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Destination {
    OutsideDir,
    StateDir,
    OutsideFile,
    /// Another directory in the workspace: a reloaded pipeline still checks, so only the
    /// handles stand in the way.
    OtherWorkspaceDir,
}

/// When the swap happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    BeforeStepStart,
    DuringStep,
    BetweenCommitAndApply,
}

impl Target {
    /// The path swapped, relative to the workspace.
    fn swapped(self) -> &'static str {
        match self {
            Target::ReadDir => "sub",
            Target::WriteDir => "out",
            Target::ParentOfGrant => "data",
            Target::FileInWriteGrant => "out/existing.txt",
        }
    }

    /// The grant of the step under test, as the pipeline names it.
    fn grant(self) -> &'static str {
        match self {
            Target::ReadDir => "sub",
            Target::WriteDir | Target::FileInWriteGrant => "out",
            Target::ParentOfGrant => "data/out",
        }
    }

    fn grants(self) -> String {
        match self {
            Target::ReadDir => r#"{ read = ["sub", "signal"] }"#.to_owned(),
            _ => format!(r#"{{ read = ["signal"], write = ["{}"] }}"#, self.grant()),
        }
    }

    /// The guest waits for `signal/go`, then reads its read grant's file or writes two files
    /// into its write grant (one replacing a file, one new).
    fn params(self) -> String {
        match self {
            Target::ReadDir => {
                r#"{ name = "signal/go", iterations = 60000, path = "sub/existing.txt" }"#
                    .to_owned()
            }
            _ => format!(
                r#"{{ name = "signal/go", iterations = 60000, files = ["{g}/existing.txt", "{g}/new.txt"], text = "{WRITTEN}" }}"#,
                g = self.grant()
            ),
        }
    }
}

/// A workspace with the grants' directories, a directory outside it holding secrets, and a
/// pipeline of two steps: `first` waits for `signal/go-first`; `granted` is the step under
/// test.
struct Case {
    env: Env,
    target: Target,
    destination: Destination,
    pipeline: PathBuf,
}

impl Case {
    fn new(target: Target, destination: Destination) -> Case {
        let env = Env::new();
        for file in [
            "sub/existing.txt",
            "out/existing.txt",
            "data/out/existing.txt",
        ] {
            env.file(file, "inside");
        }
        env.file("signal/.keep", "");
        env.file("other/existing.txt", "other");
        let elsewhere = env.outside().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).expect("mkdir");
        for file in ["existing.txt", "secret.txt"] {
            std::fs::write(elsewhere.join(file), SECRET).expect("write");
        }
        let pipeline = env.pipeline(&format!(
            r#"
            name = "swapped"
            [[step]]
            id = "first"
            plugin = {plugin}
            params = {{ name = "signal/go-first", iterations = 60000 }}
            grants = {{ read = ["signal"] }}
            [[step]]
            id = "granted"
            plugin = {plugin}
            params = {params}
            grants = {grants}
            "#,
            plugin = quoted(AWAIT_FILE),
            params = target.params(),
            grants = target.grants(),
        ));
        Case {
            env,
            target,
            destination,
            pipeline,
        }
    }

    fn elsewhere(&self) -> PathBuf {
        self.env.outside().join("elsewhere")
    }

    fn signal(&self, name: &str) {
        self.env.file(&format!("signal/{name}"), "");
    }

    /// Moves the target aside and puts a symlink to the destination in its place.
    fn swap(&self) {
        let path = self.env.workspace().join(self.target.swapped());
        let destination = match self.destination {
            Destination::OutsideDir => self.elsewhere(),
            Destination::StateDir => self.env.state(),
            Destination::OutsideFile => self.elsewhere().join("secret.txt"),
            // A relative link, which stays inside the workspace.
            Destination::OtherWorkspaceDir => {
                let depth = self.target.swapped().matches('/').count();
                PathBuf::from(format!("{}other", "../".repeat(depth)))
            }
        };
        std::fs::rename(&path, aside(&path)).expect("move aside");
        std::os::unix::fs::symlink(destination, &path).expect("symlink");
    }

    /// Puts the target back as it was.
    fn restore(&self) {
        let path = self.env.workspace().join(self.target.swapped());
        std::fs::remove_file(&path).expect("remove the symlink");
        std::fs::rename(aside(&path), &path).expect("move back");
    }

    /// `nightshift run`, started in the background.
    fn spawn(&self) -> std::process::Child {
        self.env
            .command(&["run", &self.pipeline.display().to_string(), "--json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn nightshift run")
    }

    /// Waits until a guest logged `awaiting signal/NAME`: it holds its grants open.
    fn wait_for_guest(&self, name: &str) {
        let message = format!("awaiting signal/{name}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let status = self.env.run(&["status", "--json"]);
            let tasks: Vec<serde_json::Value> =
                serde_json::from_str(&status.stdout()).unwrap_or_default();
            if let Some(task) = tasks.first().and_then(|t| t["task_id"].as_str()) {
                let logs = self.env.run(&["logs", task]);
                if logs.stdout().contains(&message) {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no guest logged `{message}`");
    }

    fn task(&self) -> String {
        let rows = self.env.db().rows("SELECT id FROM tasks", &[]);
        assert_eq!(rows.len(), 1, "{rows:?}");
        rows[0][0].clone().expect("task id")
    }

    /// The step failed, naming its grant, and the task's evidence verifies.
    fn assert_refused(&self, output: &std::process::Output) {
        let stdout = String::from_utf8_lossy(&output.stdout);
        let what = format!("{self:?}: {output:?}");
        assert_eq!(output.status.code(), Some(1), "{what}");
        let report: serde_json::Value = serde_json::from_str(&stdout).expect("report JSON");
        let granted = step(&report, "granted");
        assert_eq!(granted["status"], "failed", "{what}");
        let error = granted["error"].as_str().expect("error");
        let access = if self.target == Target::ReadDir {
            "read"
        } else {
            "write"
        };
        assert!(
            error.starts_with(&format!(
                "{access} grant `{}` refused: ",
                self.target.grant()
            )),
            "{what}: {error}"
        );
        assert!(error.contains("symlink"), "{what}: {error}");
        assert!(!stdout.contains(SECRET), "{what}");
        self.assert_verifies();
    }

    fn assert_verifies(&self) {
        let verify = self.env.run(&["verify", &self.task()]);
        assert_eq!(verify.code(), 0, "{self:?}: {verify}");
    }
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} swapped for a symlink to {:?}",
            self.target, self.destination
        )
    }
}

fn aside(path: &Path) -> PathBuf {
    let mut aside = path.as_os_str().to_owned();
    aside.push(".orig");
    PathBuf::from(aside)
}

/// Every file beneath `dir` (not following symlinks) and its content.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).expect("read dir") {
            let entry = entry.expect("entry");
            let kind = entry.file_type().expect("type");
            if kind.is_dir() {
                stack.push(entry.path());
            } else {
                let content = std::fs::read(entry.path()).unwrap_or_default();
                files.insert(entry.path(), content);
            }
        }
    }
    files
}

/// Runs one swap at `when` for every destination, checking that nothing outside the
/// workspace was read or written.
fn contained(target: Target, when: When) {
    for destination in [
        Destination::OutsideDir,
        Destination::StateDir,
        Destination::OutsideFile,
        Destination::OtherWorkspaceDir,
    ] {
        let case = Case::new(target, destination);
        let before = snapshot(&case.elsewhere());
        let other = snapshot(&case.env.workspace().join("other"));
        match when {
            When::BeforeStepStart => before_step_start(&case),
            When::DuringStep => during_step(&case),
            When::BetweenCommitAndApply => between_commit_and_apply(&case),
        }
        assert_eq!(snapshot(&case.elsewhere()), before, "{case:?} at {when:?}");
        assert_eq!(
            snapshot(&case.env.workspace().join("other")),
            other,
            "{case:?} at {when:?}"
        );
        // Staged copies aside, no file the guest wrote is in the state directory.
        let staging = case.env.state().join("staging");
        let state = snapshot(&case.env.state());
        for written in ["existing.txt", "new.txt"] {
            assert!(
                !state
                    .keys()
                    .any(|p| p.ends_with(written) && !p.starts_with(&staging)),
                "{case:?} at {when:?}: {written} landed in the state directory"
            );
        }
    }
}

/// The swap happens while the step before runs: the step under test opens its grants after.
fn before_step_start(case: &Case) {
    let run = case.spawn();
    case.wait_for_guest("go-first");
    case.swap();
    case.signal("go");
    case.signal("go-first");
    let output = run.wait_with_output().expect("wait");
    case.assert_refused(&output);
}

/// The swap happens while the guest holds its grants open.
fn during_step(case: &Case) {
    case.signal("go-first");
    let run = case.spawn();
    case.wait_for_guest("go");
    case.swap();
    case.signal("go");
    let output = run.wait_with_output().expect("wait");
    case.assert_refused(&output);
}

/// The run aborts right after the step under test committed; the swap happens before the
/// resume applies its changes.
fn between_commit_and_apply(case: &Case) {
    case.signal("go-first");
    case.signal("go");
    let crashed = case
        .env
        .command(&["run", &case.pipeline.display().to_string(), "--json"])
        .env("NIGHTSHIFT_FAILPOINT", "after-commit:2")
        .output()
        .expect("run");
    assert!(
        String::from_utf8_lossy(&crashed.stderr).contains("aborting"),
        "{case:?}: the run did not abort: {crashed:?}"
    );
    let task = case.task();
    case.swap();
    let resumed = case.env.run(&["resume", &task, "--json"]);
    assert!(!resumed.stdout().contains(SECRET), "{case:?}: {resumed}");
    let outside = case.destination != Destination::OtherWorkspaceDir;
    match case.target {
        // The file grants and reloads fine; the file that became a symlink is replaced as
        // a link.
        Target::FileInWriteGrant => {
            assert_eq!(resumed.code(), 0, "{case:?}: {resumed}");
            let file = case.env.workspace().join("out/existing.txt");
            assert!(!file.is_symlink(), "{case:?}");
            assert_eq!(std::fs::read_to_string(file).expect("read"), WRITTEN);
        }
        // A grant that now leads out of the workspace fails the pipeline's own check when
        // the resume loads it again, naming the grant.
        _ if outside => {
            assert_eq!(resumed.code(), 2, "{case:?}: {resumed}");
            let field = if case.target == Target::ReadDir {
                "read"
            } else {
                "write"
            };
            let expected = format!("field `grants.{field}[0]`: `{}` ", case.target.grant());
            assert!(resumed.stderr().contains(&expected), "{case:?}: {resumed}");
            restore_and_resume(case, &task);
        }
        // A read grant has nothing to apply.
        Target::ReadDir => assert_eq!(resumed.code(), 0, "{case:?}: {resumed}"),
        // A directory that became a symlink within the workspace passes that check; the
        // apply refuses it.
        Target::WriteDir | Target::ParentOfGrant => {
            assert_eq!(resumed.code(), 1, "{case:?}: {resumed}");
            let expected = format!(
                "cannot apply {}/existing.txt: `{}` is now a symlink to",
                case.target.grant(),
                case.target.swapped()
            );
            assert!(resumed.stderr().contains(&expected), "{case:?}: {resumed}");
            restore_and_resume(case, &task);
        }
    }
    case.assert_verifies();
}

/// Puts the target back; the resume then applies what was committed.
fn restore_and_resume(case: &Case, task: &str) {
    case.restore();
    let resumed = case.env.run(&["resume", task, "--json"]);
    assert_eq!(resumed.code(), 0, "{case:?}: {resumed}");
    if case.target != Target::ReadDir {
        let file = case
            .env
            .workspace()
            .join(case.target.grant())
            .join("new.txt");
        assert_eq!(std::fs::read_to_string(file).expect("read"), WRITTEN);
    }
}

fn a_read_grant_swapped_before_its_step_starts_is_refused() {
    contained(Target::ReadDir, When::BeforeStepStart);
}

fn a_read_grant_swapped_while_its_step_runs_is_refused() {
    contained(Target::ReadDir, When::DuringStep);
}

fn a_read_grant_swapped_after_commit_is_refused_on_resume() {
    contained(Target::ReadDir, When::BetweenCommitAndApply);
}

fn a_write_grant_swapped_before_its_step_starts_is_refused() {
    contained(Target::WriteDir, When::BeforeStepStart);
}

fn a_write_grant_swapped_while_its_step_runs_is_refused() {
    contained(Target::WriteDir, When::DuringStep);
}

fn a_write_grant_swapped_before_apply_is_refused_until_restored() {
    contained(Target::WriteDir, When::BetweenCommitAndApply);
}

fn a_grant_whose_parent_is_swapped_before_its_step_starts_is_refused() {
    contained(Target::ParentOfGrant, When::BeforeStepStart);
}

fn a_grant_whose_parent_is_swapped_while_its_step_runs_is_refused() {
    contained(Target::ParentOfGrant, When::DuringStep);
}

fn a_grant_whose_parent_is_swapped_before_apply_is_refused_until_restored() {
    contained(Target::ParentOfGrant, When::BetweenCommitAndApply);
}

fn a_file_swapped_before_its_step_starts_is_refused() {
    contained(Target::FileInWriteGrant, When::BeforeStepStart);
}

fn a_file_swapped_while_its_step_runs_is_refused() {
    contained(Target::FileInWriteGrant, When::DuringStep);
}

fn a_file_swapped_before_apply_is_replaced_as_a_link() {
    contained(Target::FileInWriteGrant, When::BetweenCommitAndApply);
}

on_each_backend!(
    a_read_grant_swapped_before_its_step_starts_is_refused,
    a_read_grant_swapped_while_its_step_runs_is_refused,
    a_read_grant_swapped_after_commit_is_refused_on_resume,
    a_write_grant_swapped_before_its_step_starts_is_refused,
    a_write_grant_swapped_while_its_step_runs_is_refused,
    a_write_grant_swapped_before_apply_is_refused_until_restored,
    a_grant_whose_parent_is_swapped_before_its_step_starts_is_refused,
    a_grant_whose_parent_is_swapped_while_its_step_runs_is_refused,
    a_grant_whose_parent_is_swapped_before_apply_is_refused_until_restored,
    a_file_swapped_before_its_step_starts_is_refused,
    a_file_swapped_while_its_step_runs_is_refused,
    a_file_swapped_before_apply_is_replaced_as_a_link,
);

/// Symlinks planted in the state directory (its `staging/`, its `cas/`, the journal file and
/// its write-ahead log) are refused with an error naming them, and nothing is written where
/// they point.
#[test]
fn symlinks_planted_in_the_state_directory_are_refused() {
    for planted in ["staging", "cas", "journal.db", "journal.db-wal"] {
        let env = Env::new();
        let pipeline = env.pipeline(&format!(
            r#"
            name = "writes"
            [[step]]
            id = "write"
            plugin = {plugin}
            params = {{ path = "out/new.txt", text = "{WRITTEN}" }}
            grants = {{ write = ["out"] }}
            "#,
            plugin = quoted(WRITE),
        ));
        // A first run lays the state directory out.
        let (first, _) = env.run_json(&pipeline);
        assert_eq!(first.code(), 0, "{first}");
        std::fs::remove_file(env.workspace().join("out/new.txt")).expect("remove");

        let elsewhere = env.outside().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).expect("mkdir");
        let path = env.state().join(planted);
        if path.exists() {
            std::fs::rename(&path, aside(&path)).expect("move aside");
        }
        // A directory for the directories, a file not there yet for the journal's files.
        let destination = if planted.starts_with("journal") {
            elsewhere.join("journal")
        } else {
            elsewhere.clone()
        };
        std::os::unix::fs::symlink(&destination, &path).expect("symlink");

        let run = env.run(&["run", &pipeline.display().to_string(), "--json"]);
        assert_ne!(run.code(), 0, "{planted}: {run}");
        let said = format!("{}{}", run.stdout(), run.stderr());
        assert!(
            said.contains(&format!(
                "{planted}` is now a symlink to {}",
                destination.display()
            )) || said.contains(&format!("{planted} is a symlink; refused")),
            "{planted}: {run}"
        );
        assert!(
            std::fs::read_dir(&elsewhere)
                .expect("read")
                .next()
                .is_none(),
            "{planted}: something was written through the symlink"
        );
        assert!(!env.workspace().join("out/new.txt").exists(), "{planted}");
    }
}
