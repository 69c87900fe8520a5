//! What the test guests share. Each case of the end-to-end tests is a guest of its own: a
//! plugin in `cases/` (a `cdylib` example of this package, one misbehaviour or one thing a
//! step may try, exported with [`export_guest!`]) or a plain `wasi:cli` command in
//! `src/bin/`. `crates/bundled/build.rs` builds them all for `wasm32-wasip2` and gives each
//! a constant (`cases/flood_stdout.rs` is `FLOOD_STDOUT`); the end-to-end tests fail to build
//! while a guest has no test that runs it.
//!
//! A case reads what it needs from [`Params`] (`path`, `text`, `name`, `iterations`,
//! `files`, `append`, `delete`), each case's doc saying which.

use serde::Deserialize;

/// The params of a step running a case guest; a case reads the fields it needs and ignores
/// the others, which default to empty.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Params {
    /// A count: rounds, milliseconds, attempts, megabytes or bytes, by case.
    pub iterations: u64,
    /// Files to write.
    pub files: Vec<String>,
    /// A file to append a line to.
    pub append: Option<String>,
    /// A file to delete.
    pub delete: Option<String>,
    /// The path (or address) the case works on.
    pub path: String,
    /// Text to write, or a second path.
    pub text: String,
    /// A name: an environment variable, a file to wait for, a file to read through a link.
    pub name: String,
}

/// Exports `$run` (a `fn(Input<P>) -> Result<Output, Error>`) as the guest's plugin, without
/// the SDK's metadata on purpose: like a component from another toolchain, a test guest
/// declares nothing and so gets exactly what a step grants.
#[macro_export]
macro_rules! export_guest {
    ($run:path) => {
        struct Guest;

        impl ::nightshift_plugin_sdk::bindings::Guest for Guest {
            fn run(
                input: ::nightshift_plugin_sdk::bindings::nightshift::plugin::types::StepInput,
            ) -> ::core::result::Result<
                ::nightshift_plugin_sdk::bindings::nightshift::plugin::types::StepOutput,
                ::nightshift_plugin_sdk::bindings::nightshift::plugin::types::StepError,
            > {
                ::nightshift_plugin_sdk::__private::dispatch(input, $run)
            }
        }

        ::nightshift_plugin_sdk::bindings::export_world!(Guest);
    };
}
