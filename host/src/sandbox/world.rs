//! The host side of the `nightshift:plugin` world: bindings generated once from
//! `plugin-sdk/wit`, and the per-step store data that serves the `host` interface and WASI.

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::limits::MemoryCap;
use super::{HostCalls, LogLevel};

wasmtime::component::bindgen!({
    path: "../plugin-sdk/wit",
    world: "plugin",
    exports: { default: async },
});

pub use self::nightshift::plugin::types::{Check, PriorOutput};

/// The longest text a guest can pass in one host call; longer text is cut.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// What a store holds while one step runs.
pub(crate) struct StepState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) memory: MemoryCap,
    pub(crate) host: Box<dyn HostCalls>,
}

impl WasiView for StepState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl self::nightshift::plugin::types::Host for StepState {}

impl self::nightshift::plugin::host::Host for StepState {
    fn log(&mut self, level: self::nightshift::plugin::host::Level, message: String) {
        use self::nightshift::plugin::host::Level;
        let level = match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        self.host.log(level, cut(message));
    }

    fn progress(&mut self, done: u64, total: u64, message: String) {
        self.host.progress(done, total, cut(message));
    }

    fn note(&mut self, text: String) {
        self.host.note(cut(text));
    }

    fn checkpoint(&mut self, state: Vec<u8>) {
        self.host.checkpoint(state);
    }

    fn get(&mut self, key: String) -> Option<Vec<u8>> {
        self.host.get(&cut(key))
    }

    fn set(&mut self, key: String, value: Vec<u8>) {
        self.host.set(&cut(key), value);
    }
}

fn cut(mut text: String) -> String {
    if text.len() > MAX_MESSAGE_BYTES {
        let mut end = MAX_MESSAGE_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(" [cut]");
    }
    text
}
