//! The network: denied by default; HTTP only to granted hosts and TCP only to granted
//! addresses, against servers on loopback that the tests start; every denial is recorded as
//! an event and as a caveat of the task.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::guests::{HTTP, TCP};
use crate::util::{Env, quoted, step};

/// A tiny HTTP server on loopback that answers `hello` and counts its connections.
fn server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let address = listener.local_addr().expect("address").to_string();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
            );
        }
    });
    (address, hits)
}

/// Runs the test guest `plugin` (`HTTP` or `TCP`) once against `target`.
fn run(
    env: &Env,
    plugin: &str,
    target: &str,
    grants: &str,
) -> (crate::util::Run, serde_json::Value) {
    let pipeline = env.pipeline(&format!(
        "name = \"net\"\n[[step]]\nid = \"guest\"\nplugin = {}\nparams = {{ path = \"{target}\" }}\ngrants = {grants}\n",
        quoted(plugin)
    ));
    env.run_json(&pipeline)
}

#[test]
fn http_reaches_a_granted_host_and_nothing_else() {
    let env = Env::new();
    let (granted, granted_hits) = server();
    let (other, other_hits) = server();

    let (ok, report) = run(
        &env,
        HTTP,
        &granted,
        &format!("{{ network = [\"{granted}\"] }}"),
    );
    assert_eq!(ok.code(), 0, "{ok}");
    assert_eq!(step(&report, "guest")["data"], "hello");
    assert_eq!(granted_hits.load(Ordering::SeqCst), 1);

    let (denied, report) = run(
        &env,
        HTTP,
        &other,
        &format!("{{ network = [\"{granted}\"] }}"),
    );
    assert_eq!(denied.code(), 1, "{denied}");
    let error = step(&report, "guest")["error"]
        .as_str()
        .expect("error")
        .to_owned();
    assert!(error.contains("HttpRequestDenied"), "{error}");
    assert_eq!(
        other_hits.load(Ordering::SeqCst),
        0,
        "a denied request never left the host"
    );
    let caveats = report["caveats"].to_string();
    assert!(
        caveats.contains(&format!(
            "denied network: HTTP GET to {other} (not granted)"
        )),
        "{caveats}"
    );

    let logs = env.run(&["logs", report["task_id"].as_str().expect("id")]);
    assert!(
        logs.stdout().contains(&format!(
            "denied warn: network: HTTP GET to {other} (not granted)"
        )),
        "{logs}"
    );
}

#[test]
fn without_a_grant_there_is_no_network_at_all() {
    let env = Env::new();
    let (address, hits) = server();
    let (http, _) = run(&env, HTTP, &address, "{}");
    assert_eq!(http.code(), 1, "{http}");
    let (tcp, report) = run(&env, TCP, &address, "{}");
    assert_eq!(tcp.code(), 1, "{tcp}");
    assert!(
        step(&report, "guest")["error"]
            .as_str()
            .expect("error")
            .starts_with(&format!("plugin failed: tcp {address}:"))
    );
    assert!(
        report["caveats"]
            .to_string()
            .contains(&format!("socket TcpConnect {address} (not granted)")),
        "{report}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[test]
fn tcp_connects_only_to_a_granted_address() {
    let env = Env::new();
    let (address, hits) = server();
    let (ok, _) = run(
        &env,
        TCP,
        &address,
        &format!("{{ network = [\"{address}\"] }}"),
    );
    assert_eq!(ok.code(), 0, "{ok}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}
