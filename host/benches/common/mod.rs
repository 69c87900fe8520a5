//! What the benches share: the test guest, a host that records nothing, medians.

#![allow(dead_code)]

use nightshift::sandbox::{HostCalls, LogLevel};

mod guests {
    include!(concat!(env!("OUT_DIR"), "/test_guests.rs"));
}
pub(crate) use guests::HOSTILE_PLUGIN;

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
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    if std::fs::create_dir_all(&out).is_ok() {
        let _ = std::fs::write(
            out.join(format!("{name}.json")),
            serde_json::to_string_pretty(json).unwrap_or_default(),
        );
    }
}
