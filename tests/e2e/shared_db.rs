//! Workers sharing one PostgreSQL database as if on many hosts: a private server started
//! for the test and restarted midway, a worker cut off from the database past its lease,
//! and the errors of a wrong login or an unreachable server.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::guests::{NAP, NOOP};
use crate::queue::{
    append_pipeline, assert_every_line_landed_once, finish, guest_pipeline, scalar, spawn_worker,
    submit, submit_lines, wait_until,
};
use crate::util::{Env, postgres_scratch, postgres_server};

/// A PostgreSQL server of the test's own, in a temporary directory, so it can be restarted
/// without disturbing other tests. Run as the `postgres` user when the test runs as root.
struct PrivateServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl PrivateServer {
    /// Starts one; `None` (the test skipped with a message, a failure under CI) when no
    /// PostgreSQL server binaries are installed.
    fn start(test: &str) -> Option<PrivateServer> {
        let Some(bin) = server_binaries() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: CI runs it; install PostgreSQL's server (Debian: postgresql)"
            );
            eprintln!("SKIPPED {test}: no PostgreSQL server binaries (initdb, pg_ctl) found");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("nightshift-pg-")
            .tempdir_in("/tmp")
            .expect("server directory");
        let server = PrivateServer {
            port: free_port(),
            dir,
            bin,
        };
        if is_root() {
            server.run_as_owner(
                Command::new("chown")
                    .arg("postgres:")
                    .arg(server.dir.path()),
            );
        }
        let data = server.data();
        server.run_as_owner(
            Command::new(server.bin.join("initdb"))
                .args([
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "-D",
                ])
                .arg(&data),
        );
        server.pg_ctl("start");
        Some(server)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl ACTION` on the server, waiting until it is done.
    fn pg_ctl(&self, action: &str) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        self.run_as_owner(
            Command::new(self.bin.join("pg_ctl"))
                .args(["-w", "-m", "fast", "-D"])
                .arg(self.data())
                .arg("-l")
                .arg(self.dir.path().join("log"))
                .args(["-o", &options, action]),
        );
    }

    fn run_as_owner(&self, command: &mut Command) {
        let mut command = if is_root() && command.get_program() != "chown" {
            let mut wrapped = Command::new("runuser");
            wrapped
                .args(["-u", "postgres", "--"])
                .arg(command.get_program())
                .args(command.get_args());
            wrapped
        } else {
            std::mem::replace(command, Command::new("true"))
        };
        let output = command.output().expect("run a PostgreSQL tool");
        let log = std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default();
        assert!(
            output.status.success(),
            "{command:?}: {}\n{}\n--- server log\n{log}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = Command::new(self.bin.join("pg_ctl"))
            .args(["-m", "immediate", "-D"])
            .arg(self.data())
            .arg("stop")
            .output();
        if is_root() {
            let _ = Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"))
                .args(["-m", "immediate", "-D"])
                .arg(self.data())
                .arg("stop")
                .output();
        }
    }
}

/// The directory of `initdb` and `pg_ctl`: on `PATH`, else Debian's newest.
fn server_binaries() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    });
    on_path.or_else(|| {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .map(|entry| entry.path().join("bin"))
            .filter(|bin| bin.join("initdb").is_file())
            .collect();
        versions.sort();
        versions.pop()
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[test]
fn three_workers_drain_a_thousand_tasks_across_a_server_restart() {
    const TASKS: usize = 1000;
    let Some(server) =
        PrivateServer::start("three_workers_drain_a_thousand_tasks_across_a_server_restart")
    else {
        return;
    };
    let env = Env::with_postgres(Some(server.url()));
    let pipeline = append_pipeline(&env);
    submit_lines(&env, &pipeline, TASKS);

    let workers: Vec<_> = (0..3)
        .map(|_| {
            spawn_worker(
                &env,
                &["--lease", "5s", "--concurrency", "4", "--until-idle"],
            )
        })
        .collect();
    wait_until("a third of the tasks", Duration::from_secs(120), || {
        scalar(
            &env,
            "SELECT count(*) FROM tasks WHERE status = 'succeeded'",
        ) >= TASKS as i64 / 3
    });
    let restart = Instant::now();
    server.pg_ctl("restart");
    eprintln!("server restarted in {:?}", restart.elapsed());
    let outputs: Vec<_> = workers.into_iter().map(finish).collect();
    for output in &outputs {
        assert!(output.status.success(), "{output:?}");
    }
    let reconnected = outputs
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stderr).contains("reconnecting"))
        .count();
    assert!(reconnected > 0, "no worker saw the restart: {outputs:?}");
    assert_every_line_landed_once(&env, TASKS);
}

/// A TCP relay to the test server that can be cut: while cut, it holds every connection
/// open and passes nothing, as a network partition does.
struct Relay {
    port: u16,
    cut: Arc<AtomicBool>,
}

impl Relay {
    fn to(target: &str) -> Relay {
        let target = target.to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("relay port");
        let port = listener.local_addr().expect("relay address").port();
        let cut = Arc::new(AtomicBool::new(false));
        let relay_cut = Arc::clone(&cut);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (from, to) = (
                        from.try_clone().expect("clone"),
                        to.try_clone().expect("clone"),
                    );
                    let cut = Arc::clone(&relay_cut);
                    std::thread::spawn(move || pass(from, to, &cut));
                }
            }
        });
        Relay { port, cut }
    }

    fn set_cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
    }
}

/// Copies `from` to `to`, holding each chunk while the relay is cut.
fn pass(mut from: TcpStream, mut to: TcpStream, cut: &AtomicBool) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        while cut.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// The host and port of a `postgres://` URL (`user@host:port/db?...`).
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    let host = rest.split(['/', '?']).next().unwrap_or(rest);
    if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    }
}

/// The same URL through the relay.
fn via(url: &str, relay: &Relay) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (user, rest) = rest.rsplit_once('@').map_or(("", rest), |(u, r)| (u, r));
    let path = rest.find(['/', '?']).map_or("", |at| &rest[at..]);
    let at = if user.is_empty() { "" } else { "@" };
    format!("{scheme}://{user}{at}127.0.0.1:{}{path}", relay.port)
}

#[test]
fn a_worker_cut_off_past_its_lease_has_its_commit_refused_and_the_task_runs_elsewhere_once() {
    let Some(server) = postgres_server("a_worker_cut_off_past_its_lease") else {
        return;
    };
    let url = postgres_scratch(&server);
    let env = Env::with_postgres(Some(url.clone()));
    let pipeline = guest_pipeline(
        &env,
        "nap.toml",
        NAP,
        r#"{ iterations = 1500, path = "out/once.txt", text = "done" }"#,
        "",
    );
    env.run(&["migrate"]);
    let relay = Relay::to(&host_port(&url));
    let task = submit(&env, &pipeline, &[]);
    let cut_off = env
        .command(&["worker", "--lease", "1s"])
        .env("NIGHTSHIFT_STATE", via(&url, &relay))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn worker");
    wait_until("the first attempt", Duration::from_secs(30), || {
        scalar(
            &env,
            &format!("SELECT count(*) FROM attempts WHERE task_id = '{task}'"),
        ) > 0
    });
    relay.set_cut(true);
    std::thread::sleep(Duration::from_millis(1500));
    // Past the lease, another worker reclaims the task and finishes it.
    let other = env.run(&["worker", "--lease", "1s", "--until-idle"]);
    assert_eq!(other.code(), 0, "{other}");
    assert_eq!(
        scalar(
            &env,
            &format!("SELECT count(*) FROM tasks WHERE id = '{task}' AND status = 'succeeded'")
        ),
        1
    );
    // The cut-off worker comes back: its commit is refused.
    relay.set_cut(false);
    let deadline = Instant::now() + Duration::from_secs(30);
    let fenced =
        format!("SELECT count(*) FROM events WHERE task_id = '{task}' AND kind = 'fenced'");
    while scalar(&env, &fenced) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    crate::queue::signal(&cut_off, "TERM");
    let output = finish(cut_off);
    let relayed = format!("127.0.0.1:{}", relay.port);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(&relayed),
        "the worker did not go through the relay: {output:?}"
    );
    assert_eq!(
        scalar(&env, &fenced),
        1,
        "the late commit was not refused: {output:?}"
    );
    assert_eq!(
        scalar(
            &env,
            &format!(
                "SELECT count(*) FROM attempts WHERE task_id = '{task}' AND status = 'succeeded'"
            )
        ),
        1,
        "the step committed once"
    );
    assert_eq!(
        std::fs::read_to_string(env.workspace().join("out/once.txt")).expect("output"),
        "done"
    );
    let verify = env.run(&["verify", &task]);
    assert_eq!(verify.code(), 0, "{verify}");
}

#[test]
fn a_wrong_login_and_an_unreachable_server_fail_fast_with_the_reason() {
    let Some(server) = postgres_server("a_wrong_login_and_an_unreachable_server") else {
        return;
    };
    let env = Env::new();
    let cases = [
        (
            format!("postgres://no_such_role:s3cret@{}/x", host_port(&server)),
            "refused the login",
        ),
        (
            format!("postgres://postgres@127.0.0.1:{}/x", free_port()),
            "Connection refused",
        ),
        (
            "postgres://postgres@192.0.2.1:5432/x?connect_timeout=1".to_owned(),
            "cannot connect to PostgreSQL 192.0.2.1:5432/x",
        ),
    ];
    for (url, reason) in cases {
        let started = Instant::now();
        let run = env
            .command(&["status"])
            .env("NIGHTSHIFT_STATE", &url)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{url}: {stderr}");
        assert!(stderr.contains(reason), "{url}: {stderr}");
        assert!(!stderr.contains("s3cret"), "{url}: {stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{url}: took {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn migrate_applies_the_schema_once_and_a_newer_one_is_refused() {
    let Some(server) = postgres_server("migrate_applies_the_schema_once") else {
        return;
    };
    let env = Env::with_postgres(Some(postgres_scratch(&server)));
    let first = env.run(&["migrate", "--json"]);
    assert_eq!(first.code(), 0, "{first}");
    let versions: serde_json::Value = serde_json::from_str(&first.stdout()).expect("JSON");
    assert_eq!(versions, serde_json::json!({ "from": 0, "to": 1 }));
    let again = env.run(&["migrate"]);
    assert!(again.stdout().contains("nothing to do"), "{again}");
    let mut db = env.db();
    assert_eq!(db.scalar("SELECT count(*) FROM nightshift_schema", &[]), 1);
    if let crate::util::Db::Postgres(client) = &mut db {
        client
            .batch_execute("INSERT INTO nightshift_schema (version) VALUES (2)")
            .expect("bump");
    }
    for args in [&["migrate"][..], &["status"][..]] {
        let refused = env.run(args);
        assert_eq!(refused.code(), 1, "{refused}");
        assert!(
            refused
                .stderr()
                .contains("schema version 2, newer than the 1"),
            "{refused}"
        );
    }
}

#[test]
fn an_idle_worker_on_another_host_wakes_on_notify_not_by_polling() {
    let Some(server) = postgres_server("an_idle_worker_on_another_host_wakes_on_notify") else {
        return;
    };
    let env = Env::with_postgres(Some(postgres_scratch(&server)));
    let pipeline = guest_pipeline(&env, "quick.toml", NOOP, "{}", "");
    env.run(&["migrate"]);
    // Its own files directory: no wake socket of the submitting side reaches it, and it
    // polls only once a minute.
    let elsewhere = tempfile::tempdir().expect("other host's files");
    let worker = env
        .command(&["worker", "--poll", "60s"])
        .env("NIGHTSHIFT_FILES", elsewhere.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn worker");
    std::thread::sleep(Duration::from_millis(500));
    let submitted = Instant::now();
    let task = submit(&env, &pipeline, &[]);
    let done = format!("SELECT count(*) FROM tasks WHERE id = '{task}' AND status = 'succeeded'");
    // Polled without panicking, so the worker is always stopped before the verdict.
    while scalar(&env, &done) == 0 && submitted.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = submitted.elapsed();
    crate::queue::signal(&worker, "TERM");
    let output = finish(worker);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        scalar(&env, &done),
        1,
        "the task did not finish: {output:?}"
    );
    assert!(took < Duration::from_secs(5), "woken after {took:?}");
    eprintln!("submit to finish on another host: {took:?}");
}
