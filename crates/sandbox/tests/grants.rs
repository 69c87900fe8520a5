//! What a guest can reach of the directories it is given: read grants read-only, write
//! grants writable, nothing else, and always the directory that was opened, whatever its
//! path became since. Run with the test guests `read` and `write`, through the sandbox alone.

use std::path::Path;
use std::sync::Arc;

use cap_std::fs::Dir;
use nightshift_bundled::test_guests::{READ, WRITE};
use nightshift_sandbox::{
    ComponentSource, Grants, HostCalls, LogLevel, OpenedDir, OpenedDirs, Origin, Sandbox,
    SandboxError, StepContext, StepError, StepInput, StepOutput,
};

struct NoHost;

impl HostCalls for NoHost {
    fn log(&mut self, _: LogLevel, _: String) {}
    fn progress(&mut self, _: u64, _: u64, _: String) {}
    fn note(&mut self, _: String) {}
    fn checkpoint(&mut self, _: Vec<u8>) {}
    fn get(&mut self, _: &str) -> Option<Vec<u8>> {
        None
    }
    fn set(&mut self, _: &str, _: Vec<u8>) {}
}

fn open(path: &Path, guest: &str) -> OpenedDir {
    OpenedDir {
        dir: Dir::open_ambient_dir(path, cap_std::ambient_authority()).expect("open"),
        guest: guest.to_owned(),
    }
}

/// Runs the test guest `guest` (a path) with `params` (a JSON object's inner fields).
fn run(
    dirs: &OpenedDirs,
    guest: &str,
    params: &str,
) -> Result<Result<StepOutput, StepError>, SandboxError> {
    let cache = tempfile::tempdir().expect("tempdir");
    let sandbox = Sandbox::new(cache.path()).expect("sandbox");
    let bytes = std::fs::read(guest).expect("the test guest is built");
    let source = ComponentSource::new("guest", Origin::File(guest.into()), Arc::from(bytes))
        .expect("a component");
    let (prepared, _) = sandbox.prepare(&source).expect("prepare");
    let input = StepInput {
        task_id: "t".into(),
        step_id: "s".into(),
        attempt: 1,
        params: format!("{{{params}}}"),
        prior: Vec::new(),
        checkpoint: None,
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let captured = runtime.block_on(sandbox.run_plugin(
        &prepared,
        &Grants::default(),
        dirs,
        &input,
        Box::new(NoHost),
        &StepContext::default(),
    ));
    captured.outcome
}

fn error_of(outcome: Result<Result<StepOutput, StepError>, SandboxError>) -> String {
    match outcome {
        Ok(Err(StepError::Fatal(message) | StepError::Retryable(message))) => message,
        other => panic!("expected the guest to fail, got {other:?}"),
    }
}

#[test]
fn a_read_grant_can_be_read_and_not_written() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("a.txt"), "granted").expect("write");
    let dirs = OpenedDirs {
        read: vec![open(tmp.path(), "sub")],
        write: Vec::new(),
    };
    let read = run(&dirs, READ, r#""path":"sub/a.txt""#)
        .expect("ran")
        .expect("read");
    assert_eq!(read.data, r#""granted""#);
    let error = error_of(run(&dirs, WRITE, r#""path":"sub/b.txt","text":"x""#));
    assert!(error.starts_with("write sub/b.txt:"), "{error}");
    assert!(!tmp.path().join("b.txt").exists());
}

#[test]
fn a_write_grant_receives_the_guests_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dirs = OpenedDirs {
        read: Vec::new(),
        write: vec![open(tmp.path(), "out")],
    };
    run(&dirs, WRITE, r#""path":"out/b.txt","text":"written""#)
        .expect("ran")
        .expect("wrote");
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("b.txt")).expect("read"),
        "written"
    );
}

#[test]
fn nothing_outside_the_given_directories_is_reachable() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(tmp.path().join("sub")).expect("mkdir");
    std::fs::write(tmp.path().join("secret.txt"), "secret").expect("write");
    let dirs = OpenedDirs {
        read: vec![open(&tmp.path().join("sub"), "sub")],
        write: Vec::new(),
    };
    for path in [
        "secret.txt",
        "sub/../secret.txt",
        "/etc/passwd",
        "/proc/self/environ",
    ] {
        let error = error_of(run(&dirs, READ, &format!(r#""path":"{path}""#)));
        assert!(error.starts_with(&format!("read {path}:")), "{error}");
    }
    let error = error_of(run(&OpenedDirs::default(), READ, r#""path":"sub/x""#));
    assert!(error.starts_with("read sub/x:"), "{error}");
}

#[test]
fn the_guest_sees_the_directory_that_was_opened_whatever_its_path_became() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let granted = tmp.path().join("sub");
    let elsewhere = tmp.path().join("elsewhere");
    for (dir, content) in [(&granted, "granted"), (&elsewhere, "elsewhere")] {
        std::fs::create_dir(dir).expect("mkdir");
        std::fs::write(dir.join("a.txt"), content).expect("write");
    }
    let dirs = OpenedDirs {
        read: vec![open(&granted, "sub")],
        write: Vec::new(),
    };
    std::fs::rename(&granted, tmp.path().join("moved")).expect("move");
    std::os::unix::fs::symlink(&elsewhere, &granted).expect("symlink");
    let read = run(&dirs, READ, r#""path":"sub/a.txt""#)
        .expect("ran")
        .expect("read");
    assert_eq!(read.data, r#""granted""#);
}
