//! Helpers: a throwaway workspace and state directory, and the binary run inside them;
//! running a test on each journal backend.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::guests::LINE_COUNT_COMMAND;

/// A component the build made for `wasm32-wasip2` (a bundled plugin or a test guest), by file
/// name: it lies next to the test guests' commands, in the target directory the build used
/// (which `CARGO_TARGET_DIR` may move).
pub(crate) fn built_component(file: &str) -> PathBuf {
    Path::new(LINE_COUNT_COMMAND).with_file_name(file)
}

/// The journal backend a test's state uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// `journal.db` in the state directory.
    Sqlite,
    /// A schema of its own in the database `NIGHTSHIFT_TEST_POSTGRES` names; the state
    /// directory keeps the files.
    Postgres,
}

thread_local! {
    static BACKEND: Cell<Backend> = const { Cell::new(Backend::Sqlite) };
}

/// The PostgreSQL server tests use, from `NIGHTSHIFT_TEST_POSTGRES`; `None` (with a message
/// saying the test is skipped) without one, and a failure under CI, which never skips.
pub(crate) fn postgres_server(test: &str) -> Option<String> {
    match std::env::var("NIGHTSHIFT_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: CI runs the PostgreSQL tests; set NIGHTSHIFT_TEST_POSTGRES=postgres://..."
            );
            eprintln!(
                "SKIPPED {test} on PostgreSQL: set NIGHTSHIFT_TEST_POSTGRES=postgres://... to run it"
            );
            None
        }
    }
}

/// Runs `test` with every [`Env`] it makes on `backend`.
pub(crate) fn on_backend(backend: Backend, name: &str, test: fn()) {
    if backend == Backend::Postgres && postgres_server(name).is_none() {
        return;
    }
    BACKEND.with(|b| b.set(backend));
    test();
}

/// Runs each test named on both backends: `MODULE::sqlite::NAME` and `MODULE::postgres::NAME`.
macro_rules! on_each_backend {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    crate::util::on_backend(crate::util::Backend::Sqlite, stringify!($name), super::$name);
                }
            )+
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    crate::util::on_backend(crate::util::Backend::Postgres, stringify!($name), super::$name);
                }
            )+
        }
    };
}
pub(crate) use on_each_backend;

/// A URL to a schema of its own on the test server.
pub(crate) fn postgres_scratch(server: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let schema = format!("e2e_{}_{n}", std::process::id());
    let sep = if server.contains('?') { '&' } else { '?' };
    format!("{server}{sep}options=-csearch_path%3D{schema}")
}

/// A workspace and a state directory, both temporary; on PostgreSQL, a schema too.
pub(crate) struct Env {
    root: tempfile::TempDir,
    postgres: Option<String>,
}

impl Env {
    /// An environment on the backend of the running test (SQLite unless it runs through
    /// [`on_backend`]).
    pub(crate) fn new() -> Self {
        let postgres = match BACKEND.with(Cell::get) {
            Backend::Sqlite => None,
            Backend::Postgres => postgres_server("this test").map(|s| postgres_scratch(&s)),
        };
        Env::with_postgres(postgres)
    }

    /// An environment whose journal is the PostgreSQL database at `url` (else SQLite).
    pub(crate) fn with_postgres(postgres: Option<String>) -> Self {
        let root = tempfile::tempdir().expect("create a temporary directory");
        std::fs::create_dir_all(root.path().join("ws")).expect("create workspace");
        Env { root, postgres }
    }

    /// The journal, read directly to check what happened.
    pub(crate) fn db(&self) -> Db {
        match &self.postgres {
            Some(url) => Db::Postgres(
                postgres::Client::connect(url, postgres::NoTls).expect("connect to PostgreSQL"),
            ),
            None => Db::Sqlite(
                rusqlite::Connection::open_with_flags(
                    self.state().join("journal.db"),
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .expect("open journal"),
            ),
        }
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
            .env_remove("RUST_LOG");
        match &self.postgres {
            Some(url) => cmd
                .env("NIGHTSHIFT_STATE", url)
                .env("NIGHTSHIFT_FILES", self.state()),
            None => cmd.env("NIGHTSHIFT_STATE", self.state()),
        };
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

/// A direct connection to a test's journal, for checking what the binary recorded. SQL is
/// written for SQLite with `?1`-style parameters, in the part both dialects share.
pub(crate) enum Db {
    Sqlite(rusqlite::Connection),
    Postgres(postgres::Client),
}

impl Db {
    /// The one number `sql` selects with `params`.
    pub(crate) fn scalar(&mut self, sql: &str, params: &[&str]) -> i64 {
        match self {
            Db::Sqlite(conn) => conn
                .query_row(sql, rusqlite::params_from_iter(params), |row| row.get(0))
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
            Db::Postgres(client) => client
                .query_one(&postgres_sql(sql), &text_params(params))
                .and_then(|row| row.try_get::<_, i64>(0))
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
    }

    /// The rows `sql` selects with `params`, every column as optional text.
    pub(crate) fn rows(&mut self, sql: &str, params: &[&str]) -> Vec<Vec<Option<String>>> {
        match self {
            Db::Sqlite(conn) => {
                let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
                let width = stmt.column_count();
                stmt.query_map(rusqlite::params_from_iter(params), |row| {
                    (0..width)
                        .map(|i| row.get::<_, Option<String>>(i))
                        .collect::<Result<Vec<_>, _>>()
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
            }
            Db::Postgres(client) => client
                .query(&postgres_sql(sql), &text_params(params))
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .iter()
                .map(|row| {
                    (0..row.len())
                        .map(|i| row.get::<_, Option<String>>(i))
                        .collect()
                })
                .collect(),
        }
    }
}

fn text_params<'a>(params: &'a [&'a str]) -> Vec<&'a (dyn postgres::types::ToSql + Sync)> {
    params.iter().map(|p| p as _).collect()
}

/// SQLite-flavoured test SQL for PostgreSQL: `?N` parameters become `$N`, and the one JSON
/// path the tests read from a record body is read the PostgreSQL way.
fn postgres_sql(sql: &str) -> String {
    let sql = sql.replace(
        "json_extract(body, '$.outcome.status')",
        "(body::jsonb #>> '{outcome,status}')",
    );
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
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
