//! Write a Nightshift plugin as one typed Rust function.
//!
//! A plugin is a WebAssembly component of the `nightshift:plugin` world (see `wit/plugin.wit`).
//! This crate binds that world once, so a plugin crate holds no bindings code: it writes a
//! function from [`Input`] to [`Output`] and names it in [`export_plugin!`].
//!
//! ```no_run
//! use nightshift_plugin_sdk::{export_plugin, Error, Input, Output};
//!
//! #[derive(serde::Deserialize)]
//! struct Params {
//!     name: String,
//! }
//!
//! fn greet(input: Input<Params>) -> Result<Output, Error> {
//!     nightshift_plugin_sdk::log::info(&format!("greeting {}", input.params.name));
//!     Ok(Output::new(format!("hello, {}", input.params.name)))
//! }
//!
//! export_plugin!(greet);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2`; the component is
//! `target/wasm32-wasip2/release/<crate>.wasm`. Test its logic natively with [`testing`]:
//! outside WebAssembly the host functions record what they are given instead.

#![warn(missing_docs)]

// Lets the generated bindings name this crate by its absolute path, as plugin crates do.
extern crate self as nightshift_plugin_sdk;

mod host;
mod output;
mod step;
pub mod testing;

pub use output::{Check, Error, Output};
pub use step::Input;

/// The raw bindings of the `nightshift:plugin` world, generated once by wit-bindgen.
///
/// Plugins need not use them: [`export_plugin!`] and the functions of this crate wrap them.
#[allow(missing_docs, unsafe_code, unreachable_pub, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "export_world",
        default_bindings_module: "::nightshift_plugin_sdk::bindings",
        runtime_path: "::nightshift_plugin_sdk::__private::wit_bindgen::rt",
    });
}

/// The level of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// For plugin authors.
    Debug,
    /// Normal.
    Info,
    /// Something looks wrong.
    Warn,
    /// Something failed.
    Error,
}

/// Logging to the task's event log, shown by `nightshift logs`.
///
/// ```
/// nightshift_plugin_sdk::log::info("scanning 12 files");
/// ```
pub mod log {
    use crate::{Level, host};

    /// Logs a message at debug level.
    pub fn debug(message: &str) {
        host::log(Level::Debug, message);
    }
    /// Logs a message at info level.
    pub fn info(message: &str) {
        host::log(Level::Info, message);
    }
    /// Logs a message at warn level.
    pub fn warn(message: &str) {
        host::log(Level::Warn, message);
    }
    /// Logs a message at error level.
    pub fn error(message: &str) {
        host::log(Level::Error, message);
    }
}

/// Reports how far the step has come (`done` of `total`), shown while it runs.
///
/// ```
/// nightshift_plugin_sdk::progress(3, 10, "reading files");
/// ```
pub fn progress(done: u64, total: u64, message: &str) {
    host::progress(done, total, message);
}

/// Adds an entry to the task's audit trail.
///
/// ```
/// nightshift_plugin_sdk::note("wrote out/report.md");
/// ```
pub fn note(text: &str) {
    host::note(text);
}

/// Saves progress inside the step; a later attempt receives it as [`Input::checkpoint`].
///
/// ```
/// nightshift_plugin_sdk::checkpoint(&42u64.to_le_bytes());
/// ```
pub fn checkpoint(state: &[u8]) {
    host::checkpoint(state);
}

/// The task's key/value state, shared by its steps.
///
/// ```
/// nightshift_plugin_sdk::kv::set("last-run", b"ok");
/// assert_eq!(nightshift_plugin_sdk::kv::get("last-run"), Some(b"ok".to_vec()));
/// ```
pub mod kv {
    use crate::host;

    /// Reads the value stored under `key`, if any.
    pub fn get(key: &str) -> Option<Vec<u8>> {
        host::get(key)
    }
    /// Stores `value` under `key`.
    pub fn set(key: &str, value: &[u8]) {
        host::set(key, value);
    }
}

/// Exports a function `fn(Input<P>) -> Result<Output, Error>` as the plugin's `run`, and
/// writes the plugin's metadata into the component: its name, version and description (from
/// the crate's `Cargo.toml`) and the capabilities it requests.
///
/// `P` is any type that implements `serde::Deserialize`: the step's `params` are decoded
/// into it, and params that do not decode fail the step with a fatal error naming the field.
///
/// Requests, all optional, in this order: `read` and `write` (whether the plugin reads or
/// writes the directories a pipeline grants it), `env` (environment variables it needs),
/// `network` (hosts it connects to, `host` or `host:port`), `real_clocks` (whether it needs
/// the real time and randomness rather than virtual, deterministic ones). A pipeline step
/// that does not grant what a plugin requests is refused before it starts; a grant the
/// plugin did not request is not given to it.
///
/// ```no_run
/// use nightshift_plugin_sdk::{Error, Input, Output};
///
/// fn scan(input: Input<serde_json::Value>) -> Result<Output, Error> {
///     Ok(Output::new(format!("scanned with {}", input.params)))
/// }
///
/// nightshift_plugin_sdk::export_plugin!(scan, requests {
///     read: true,
///     env: ["GITHUB_TOKEN"],
///     real_clocks: true,
/// }, params_schema: r#"{"type":"object","properties":{"path":{"type":"string"}}}"#);
/// ```
///
/// `params_schema` (optional, JSON Schema on one line) describes the plugin's params: the
/// host shows it (`nightshift plugin inspect`) and gives it to MCP clients that call the
/// plugin as a tool.
#[macro_export]
macro_rules! export_plugin {
    ($run:path) => {
        $crate::export_plugin!($run, requests {});
    };
    ($run:path, requests {
        $(read: $read:literal $(,)?)?
        $(write: $write:literal $(,)?)?
        $(env: [$($env:literal),* $(,)?] $(,)?)?
        $(network: [$($host:literal),* $(,)?] $(,)?)?
        $(real_clocks: $clocks:literal $(,)?)?
    } $(, params_schema: $schema:literal)? $(,)?) => {
        struct NightshiftPlugin;

        impl $crate::bindings::Guest for NightshiftPlugin {
            fn run(
                input: $crate::bindings::nightshift::plugin::types::StepInput,
            ) -> ::core::result::Result<
                $crate::bindings::nightshift::plugin::types::StepOutput,
                $crate::bindings::nightshift::plugin::types::StepError,
            > {
                $crate::__private::dispatch(input, $run)
            }
        }

        $crate::bindings::export_world!(NightshiftPlugin);

        const NIGHTSHIFT_PLUGIN_METADATA_TEXT: &str = ::core::concat!(
            "format=", $crate::__private::metadata_format_literal!(), "\n",
            "name=", ::core::env!("CARGO_PKG_NAME"), "\n",
            "version=", ::core::env!("CARGO_PKG_VERSION"), "\n",
            "description=", ::core::env!("CARGO_PKG_DESCRIPTION"), "\n",
            "world=", $crate::__private::world_literal!(), "\n",
            $("read=", $read, "\n",)?
            $("write=", $write, "\n",)?
            $($("env=", $env, "\n",)*)?
            $($("network=", $host, "\n",)*)?
            $("real_clocks=", $clocks, "\n",)?
            $("params_schema=", $schema, "\n",)?
        );

        /// The plugin's metadata, read by the host from the component (see `METADATA_SECTION`).
        #[allow(unsafe_code)]
        #[unsafe(link_section = "nightshift-plugin")]
        #[used]
        static NIGHTSHIFT_PLUGIN_METADATA: [u8; NIGHTSHIFT_PLUGIN_METADATA_TEXT.len()] =
            $crate::__private::bytes(NIGHTSHIFT_PLUGIN_METADATA_TEXT);
    };
}

pub use nightshift_plugin_abi::{METADATA_FORMAT, METADATA_SECTION, WORLD};

#[doc(hidden)]
pub mod __private {
    pub use nightshift_plugin_abi::{metadata_format_literal, world_literal};
    pub use wit_bindgen;

    pub use crate::step::dispatch;

    /// Copies a string's bytes into an array, at compile time.
    pub const fn bytes<const N: usize>(text: &str) -> [u8; N] {
        let source = text.as_bytes();
        let mut out = [0u8; N];
        let mut i = 0;
        while i < N {
            out[i] = source[i];
            i += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    /// `link_section` takes a literal only: it must name the section the host reads.
    #[test]
    fn the_metadata_lands_in_the_section_the_host_reads() {
        let source = include_str!("lib.rs");
        let attribute = format!("link_section = \"{}\"", super::METADATA_SECTION);
        assert!(
            source.contains(&attribute),
            "export_plugin! must use {attribute}"
        );
    }
}
