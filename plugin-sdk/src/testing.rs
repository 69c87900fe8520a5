//! Unit-testing a plugin's logic natively, without a host: run the plugin function with
//! params and see what it returned, logged, noted, checkpointed and stored.
//!
//! ```
//! use nightshift_plugin_sdk::{Error, Input, Output, testing};
//!
//! #[derive(serde::Deserialize)]
//! struct Params { name: String }
//!
//! fn greet(input: Input<Params>) -> Result<Output, Error> {
//!     nightshift_plugin_sdk::note(&format!("greeted {}", input.params.name));
//!     Ok(Output::new(format!("hello, {}", input.params.name)))
//! }
//!
//! let run = testing::run(greet, serde_json::json!({ "name": "Ada" }));
//! assert_eq!(run.result.expect("succeeds").summary, "hello, Ada");
//! assert_eq!(run.notes, ["greeted Ada"]);
//! ```
//!
//! Outside WebAssembly the host functions record into the calling thread; a plugin run through
//! `nightshift` reaches the real host instead.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use serde::de::DeserializeOwned;

use crate::{Error, Input, Level, Output};

/// What a plugin function did in a test run.
#[derive(Debug, Default)]
pub struct Recorded {
    /// Log lines, in order.
    pub logs: Vec<(Level, String)>,
    /// Progress reports, in order.
    pub progress: Vec<(u64, u64, String)>,
    /// Audit-trail notes, in order.
    pub notes: Vec<String>,
    /// Checkpoints, in order.
    pub checkpoints: Vec<Vec<u8>>,
    /// The task's key/value state after the run.
    pub kv: HashMap<String, Vec<u8>>,
}

/// A test run: the plugin's result and what it recorded.
#[derive(Debug)]
pub struct Run {
    /// What the plugin function returned; params that do not decode give a fatal error, as
    /// they do under the host.
    pub result: Result<Output, Error>,
    /// Log lines.
    pub logs: Vec<(Level, String)>,
    /// Progress reports.
    pub progress: Vec<(u64, u64, String)>,
    /// Notes.
    pub notes: Vec<String>,
    /// Checkpoints.
    pub checkpoints: Vec<Vec<u8>>,
    /// Key/value state.
    pub kv: HashMap<String, Vec<u8>>,
}

thread_local! {
    static RECORDER: RefCell<Recorded> = RefCell::new(Recorded::default());
}

#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) fn with_recorder<T>(f: impl FnOnce(&mut Recorded) -> T) -> T {
    RECORDER.with(|r| f(&mut r.borrow_mut()))
}

/// An input as the host would give a first attempt: task `test-task`, step `test-step`.
pub fn input<P>(params: P) -> Input<P> {
    Input {
        task_id: "test-task".into(),
        step_id: "test-step".into(),
        attempt: 1,
        params,
        prior: BTreeMap::new(),
        checkpoint: None,
    }
}

/// Runs `plugin` with `params` (decoded as the host would decode them).
pub fn run<P: DeserializeOwned>(
    plugin: impl FnOnce(Input<P>) -> Result<Output, Error>,
    params: serde_json::Value,
) -> Run {
    match serde_json::from_value(params) {
        Ok(params) => run_with(plugin, input(params)),
        Err(e) => finish(Err(Error::fatal(format!("invalid params: {e}")))),
    }
}

/// Runs `plugin` with a complete `input` (earlier steps' data, a checkpoint, ...).
pub fn run_with<P>(plugin: impl FnOnce(Input<P>) -> Result<Output, Error>, input: Input<P>) -> Run {
    finish(plugin(input))
}

/// Pairs a result with what was recorded since the last run, and starts afresh.
fn finish(result: Result<Output, Error>) -> Run {
    let recorded = with_recorder(std::mem::take);
    Run {
        result,
        logs: recorded.logs,
        progress: recorded.progress,
        notes: recorded.notes,
        checkpoints: recorded.checkpoints,
        kv: recorded.kv,
    }
}
