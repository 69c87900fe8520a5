//! The host side of the `nightshift:plugin` world: bindings generated once from
//! `plugin-sdk/wit`, and the per-step store data that serves the `host` interface and WASI.

#![allow(
    missing_docs,
    reason = "the bindings wasmtime generates for the plugin world carry no docs"
)]

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::limits::MemoryCap;
use super::{HostCalls, LogLevel, WriteMeter};

wasmtime::component::bindgen!({
    path: "../../plugin-sdk/wit",
    world: "plugin",
    imports: { default: trappable },
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
    /// `wasi:http` state.
    pub(crate) http: wasmtime_wasi_http::WasiHttpCtx,
    /// Which hosts the guest may reach; what it was refused.
    pub(crate) network: super::network::NetworkPolicy,
    /// What is left of the step's log budget (logs, notes, progress messages).
    pub(crate) log_bytes_left: u64,
    /// Set when the guest went over its log budget.
    pub(crate) logs_exceeded: bool,
    /// How much the guest wrote into its write grants.
    pub(crate) written: WriteMeter,
}

impl StepState {
    /// Charges `text` to the log budget; past it, the call traps and the step ends.
    fn charge(&mut self, text: &str) -> wasmtime::Result<()> {
        let cost = text.len() as u64;
        if cost > self.log_bytes_left {
            self.logs_exceeded = true;
            return Err(wasmtime::format_err!("log limit exceeded"));
        }
        self.log_bytes_left -= cost;
        Ok(())
    }
}

impl WasiView for StepState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl wasmtime_wasi_http::WasiHttpView for StepState {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.network,
        }
    }
}

impl self::nightshift::plugin::types::Host for StepState {}

impl self::nightshift::plugin::host::Host for StepState {
    fn log(
        &mut self,
        level: self::nightshift::plugin::host::Level,
        message: String,
    ) -> wasmtime::Result<()> {
        use self::nightshift::plugin::host::Level;
        let level = match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        self.charge(&message)?;
        self.host.log(level, cut(message));
        Ok(())
    }

    fn progress(&mut self, done: u64, total: u64, message: String) -> wasmtime::Result<()> {
        self.charge(&message)?;
        self.host.progress(done, total, cut(message));
        Ok(())
    }

    fn note(&mut self, text: String) -> wasmtime::Result<()> {
        self.charge(&text)?;
        self.host.note(cut(text));
        Ok(())
    }

    fn checkpoint(&mut self, state: Vec<u8>) -> wasmtime::Result<()> {
        self.host.checkpoint(state);
        Ok(())
    }

    fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        Ok(self.host.get(&cut(key)))
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<()> {
        self.charge(&key)?;
        self.host.set(&cut(key), value);
        Ok(())
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
