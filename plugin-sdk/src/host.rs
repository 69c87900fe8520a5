//! The host functions behind [`crate::log`], [`crate::progress`], [`crate::note`],
//! [`crate::checkpoint`] and [`crate::kv`]: the `host` imports inside WebAssembly, a recorder
//! outside it (so a plugin's logic can be unit-tested natively, see [`crate::testing`]).

use crate::Level;

#[cfg(target_arch = "wasm32")]
mod imports {
    use crate::Level;
    use crate::bindings::nightshift::plugin::host::{self, Level as Wit};

    pub(crate) fn log(level: Level, message: &str) {
        let level = match level {
            Level::Debug => Wit::Debug,
            Level::Info => Wit::Info,
            Level::Warn => Wit::Warn,
            Level::Error => Wit::Error,
        };
        host::log(level, message);
    }
    pub(crate) fn progress(done: u64, total: u64, message: &str) {
        host::progress(done, total, message);
    }
    pub(crate) fn note(text: &str) {
        host::note(text);
    }
    pub(crate) fn checkpoint(state: &[u8]) {
        host::checkpoint(state);
    }
    pub(crate) fn get(key: &str) -> Option<Vec<u8>> {
        host::get(key)
    }
    pub(crate) fn set(key: &str, value: &[u8]) {
        host::set(key, value);
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imports {
    use crate::Level;
    use crate::testing::with_recorder;

    pub(crate) fn log(level: Level, message: &str) {
        with_recorder(|r| r.logs.push((level, message.to_owned())));
    }
    pub(crate) fn progress(done: u64, total: u64, message: &str) {
        with_recorder(|r| r.progress.push((done, total, message.to_owned())));
    }
    pub(crate) fn note(text: &str) {
        with_recorder(|r| r.notes.push(text.to_owned()));
    }
    pub(crate) fn checkpoint(state: &[u8]) {
        with_recorder(|r| r.checkpoints.push(state.to_vec()));
    }
    pub(crate) fn get(key: &str) -> Option<Vec<u8>> {
        with_recorder(|r| r.kv.get(key).cloned())
    }
    pub(crate) fn set(key: &str, value: &[u8]) {
        with_recorder(|r| {
            r.kv.insert(key.to_owned(), value.to_vec());
        });
    }
}

pub(crate) fn log(level: Level, message: &str) {
    imports::log(level, message);
}
pub(crate) fn progress(done: u64, total: u64, message: &str) {
    imports::progress(done, total, message);
}
pub(crate) fn note(text: &str) {
    imports::note(text);
}
pub(crate) fn checkpoint(state: &[u8]) {
    imports::checkpoint(state);
}
pub(crate) fn get(key: &str) -> Option<Vec<u8>> {
    imports::get(key)
}
pub(crate) fn set(key: &str, value: &[u8]) {
    imports::set(key, value);
}
