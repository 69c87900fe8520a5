//! Named points where a test can make the process abort, to prove that a task killed at any
//! boundary of the commit protocol resumes correctly.
//!
//! `NIGHTSHIFT_FAILPOINT=NAME` aborts at the first hit of `NAME`; `NAME:N` at the N-th.
//! Unset (always, outside tests), a failpoint costs one atomic load.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The failpoints, in the order a step meets them.
pub const ALL: &[&str] = &[
    "before-step",
    "after-run",
    "after-commit",
    "mid-apply",
    "after-apply",
];

struct Armed {
    name: String,
    at_hit: u64,
    hits: AtomicU64,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var("NIGHTSHIFT_FAILPOINT").ok()?;
            let (name, at_hit) = match spec.split_once(':') {
                Some((name, n)) => (name.to_owned(), n.parse().unwrap_or(1)),
                None => (spec, 1),
            };
            Some(Armed {
                name,
                at_hit,
                hits: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Aborts the process here if this failpoint is armed and due.
pub fn hit(name: &str) {
    let Some(armed) = armed() else { return };
    if armed.name == name && armed.hits.fetch_add(1, Ordering::SeqCst) + 1 == armed.at_hit {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}
