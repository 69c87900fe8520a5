//! What the benches share: the test guests, a host that records nothing, medians.

#![allow(dead_code)]

use nightshift::sandbox::{HostCalls, LogLevel};

#[allow(unused_imports, reason = "each bench uses some of the guests")]
pub(crate) use nightshift_bundled::test_guests::{BUSY_LOOP, LINE_COUNT_COMMAND, NAP, NOOP};

/// Answers a guest's host calls without recording anything.
pub(crate) struct NoHost;

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

/// The median of `values`.
pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Writes `json` to `target/bench/NAME.json` for later runs to compare with.
pub(crate) fn save(name: &str, json: &serde_json::Value) {
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    if std::fs::create_dir_all(&out).is_ok() {
        let _ = std::fs::write(
            out.join(format!("{name}.json")),
            serde_json::to_string_pretty(json).unwrap_or_default(),
        );
    }
}

/// Whether to run a quick pass (`NIGHTSHIFT_BENCH_QUICK=1`): tiny sizes, no baseline tools
/// installed; for checking that the harness runs, not for figures.
pub(crate) fn quick() -> bool {
    std::env::var_os("NIGHTSHIFT_BENCH_QUICK").is_some_and(|v| v != "0")
}

/// A baseline tool from crates.io, installed on first use into `target/bench-tools` (pinned
/// version, so every run measures the same thing). `None` in a quick pass, or if it cannot
/// be installed (the figure is then reported as missing).
pub(crate) fn tool(binary: &str, krate: &str, version: &str) -> Option<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-tools");
    let path = root.join("bin").join(binary);
    if path.exists() {
        return Some(path);
    }
    if quick() {
        return None;
    }
    eprintln!(
        "installing {krate} {version} into {} (once; it may take minutes)",
        root.display()
    );
    let status = std::process::Command::new(env!("CARGO"))
        .args(["install", "--locked", "--quiet", "--root"])
        .arg(&root)
        .arg(format!("{krate}@{version}"))
        .status();
    match status {
        Ok(s) if s.success() && path.exists() => Some(path),
        other => {
            eprintln!("cannot install {krate}: {other:?}; its baseline is skipped");
            None
        }
    }
}

/// The resident memory of this process, in bytes (Linux).
pub(crate) fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// A state directory with a runner over it, and a pipeline of `steps` trivial plugin steps.
pub(crate) struct Trivial {
    _dir: tempfile::TempDir,
    pub(crate) state: nightshift::state::StateDir,
    pub(crate) runner: std::sync::Arc<nightshift::runner::Runner>,
    pub(crate) plan: nightshift::manifest::Plan,
}

impl Trivial {
    pub(crate) fn new(steps: usize, sync: nightshift::journal::Sync) -> Trivial {
        let step = format!("plugin = {NOOP:?}\nparams = {{}}\n");
        Trivial::of(&step, steps, sync)
    }

    /// A pipeline of `steps` copies of the step written `step` (TOML, without its id).
    pub(crate) fn of(step: &str, steps: usize, sync: nightshift::journal::Sync) -> Trivial {
        Trivial::on(step, steps, sync, None)
    }

    /// As [`Trivial::of`], with the journal in the PostgreSQL database at `postgres` if given
    /// (`sync` then does not apply).
    pub(crate) fn on(
        step: &str,
        steps: usize,
        sync: nightshift::journal::Sync,
        postgres: Option<&str>,
    ) -> Trivial {
        use nightshift::journal::StoreLocation;
        use std::sync::Arc;
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("state");
        let state = match postgres {
            Some(url) => nightshift::state::StateDir::open_with_store(
                &root,
                StoreLocation::Postgres(url.to_owned()),
            ),
            None => nightshift::state::StateDir::open(&root),
        }
        .expect("state");
        let workspace = dir.path().join("ws");
        std::fs::create_dir_all(&workspace).expect("workspace");
        let mut toml = String::from("name = \"trivial\"\n");
        for i in 0..steps {
            toml.push_str(&format!("[[step]]\nid = \"s{i}\"\n{step}"));
        }
        let path = dir.path().join("trivial.toml");
        std::fs::write(&path, toml).expect("write pipeline");
        let catalog = nightshift::catalog::Catalog::new(state.plugins_dir());
        let plan = nightshift::manifest::Plan::load(
            &path,
            &nightshift::manifest::LoadOptions {
                workspace: &workspace,
                state_dir: state.root(),
                params: &[],
                catalog: &catalog,
            },
        )
        .expect("plan");
        let journal = Arc::new(
            match state.store() {
                StoreLocation::Sqlite(path) => nightshift::journal::open_sqlite(path, sync),
                postgres => nightshift::journal::open(postgres),
            }
            .expect("journal"),
        );
        let sandbox = Arc::new(
            nightshift::sandbox::Sandbox::new(&state.compile_cache_dir()).expect("sandbox"),
        );
        let runner = Arc::new(
            nightshift::runner::Runner::new(state.clone(), journal, sandbox).expect("runner"),
        );
        Trivial {
            _dir: dir,
            state,
            runner,
            plan,
        }
    }

    /// Runs the pipeline once to warm the compile cache (so every figure is for a
    /// precompiled component), then queues `tasks` tasks of it.
    pub(crate) fn warm_and_queue(&self, runtime: &tokio::runtime::Runtime, tasks: usize) {
        runtime.block_on(self.run());
        for _ in 0..tasks {
            self.runner
                .submit(&self.plan, &nightshift::journal::QueueOptions::default())
                .expect("submit");
        }
    }

    /// Runs the pipeline once, in the foreground.
    pub(crate) async fn run(&self) {
        let outcome = self
            .runner
            .run(&self.plan, std::sync::Arc::new(nightshift::runner::Silent))
            .await
            .expect("run");
        assert_eq!(outcome.status.as_str(), "succeeded");
    }
}

/// Steps per second of `tasks` tasks of the pipeline of `trivial`, run at once through the
/// runner with signed records (median of `rounds`, after a warm-up run).
pub(crate) fn runner_steps_per_second(
    runtime: &tokio::runtime::Runtime,
    trivial: &Trivial,
    tasks: usize,
    rounds: usize,
) -> f64 {
    let steps = trivial.plan.steps.len();
    runtime.block_on(trivial.run());
    let rates = (0..rounds)
        .map(|_| {
            let started = std::time::Instant::now();
            runtime.block_on(async {
                let mut all = tokio::task::JoinSet::new();
                for _ in 0..tasks {
                    let runner = std::sync::Arc::clone(&trivial.runner);
                    let plan = trivial.plan.clone();
                    all.spawn(async move {
                        runner
                            .run(&plan, std::sync::Arc::new(nightshift::runner::Silent))
                            .await
                            .map(|o| o.status.as_str().to_owned())
                    });
                }
                while let Some(done) = all.join_next().await {
                    let status = done.expect("join").expect("run");
                    assert_eq!(status, "succeeded");
                }
            });
            (tasks * steps) as f64 / started.elapsed().as_secs_f64()
        })
        .collect();
    median(rates)
}

/// Steps per second of the sandbox alone: the same instantiate-and-call, nothing recorded.
pub(crate) fn sandbox_steps_per_second(
    runtime: &tokio::runtime::Runtime,
    steps: usize,
    rounds: usize,
) -> f64 {
    use nightshift::catalog::Catalog;
    use nightshift::sandbox::{Grants, OpenedDirs, Sandbox, StepContext, StepInput};
    use std::time::Instant;
    let dir = tempfile::tempdir().expect("tempdir");
    let sandbox = Sandbox::new(dir.path()).expect("sandbox");
    let source = Catalog::new(dir.path())
        .resolve(NOOP, std::path::Path::new("/"))
        .expect("guest");
    let (prepared, _) = sandbox.prepare(&source).expect("prepare");
    let grants = Grants::default();
    let input = StepInput {
        task_id: "bench".into(),
        step_id: "s".into(),
        attempt: 1,
        params: "{}".into(),
        prior: Vec::new(),
        checkpoint: None,
    };
    let ctx = StepContext::default();
    let step = || {
        let host = Box::new(NoHost);
        let captured = runtime.block_on(sandbox.run_plugin(
            &prepared,
            &grants,
            &OpenedDirs::default(),
            &input,
            host,
            &ctx,
        ));
        assert!(matches!(captured.outcome, Ok(Ok(_))));
    };
    step();
    let rates = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..steps {
                step();
            }
            steps as f64 / started.elapsed().as_secs_f64()
        })
        .collect();
    median(rates)
}
