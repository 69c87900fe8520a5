//! The plugins bundled in the `nightshift` binary, built from `plugins/` for `wasm32-wasip2`
//! by this crate's build script (with a cargo and a target directory of its own), and the
//! paths of the compiled test guests (`tests/guests/`: one plugin per case in `cases/`, and
//! `wasi:cli` commands) for the end-to-end tests and benches: as constants in
//! [`test_guests`], and one by one through [`foreach_test_guest!`], with which the
//! end-to-end tests declare them in a module that denies dead code, so that a guest no test
//! runs fails their build. No compiled `.wasm` is kept in git: everything here comes from
//! source at build time.

#![warn(missing_docs)]

include!(concat!(env!("OUT_DIR"), "/bundled_plugins.rs"));

/// The compiled test guests: paths on the machine that built this crate, for tests only.
pub mod test_guests {
    include!(concat!(env!("OUT_DIR"), "/test_guests.rs"));
}

include!(concat!(env!("OUT_DIR"), "/foreach_test_guest.rs"));
