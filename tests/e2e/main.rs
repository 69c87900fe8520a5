//! End-to-end tests of the built `nightshift` binary: pipelines with real plugins, command
//! steps, hostile guests, broken manifests, the compile cache, the background lane,
//! schedules and the MCP server. The durability, queue and schedule tests run on both
//! journal backends (`MODULE::sqlite::*`, `MODULE::postgres::*`); `shared_db` runs workers
//! against one PostgreSQL database through restarts and partitions.

mod util;

/// The compiled test guests, one constant per guest (`TRAP`, `LINE_COUNT_COMMAND`...). Dead
/// code is denied here: a guest no test runs fails this build.
mod guests {
    #![deny(dead_code)]

    /// Declares a guest's path, `$name`. A macro of this crate, because the dead-code lint
    /// says nothing of items that another crate's macro defines on its own.
    macro_rules! declare {
        ($name:ident, $path:literal) => {
            pub(crate) const $name: &str = $path;
        };
    }

    nightshift_bundled::foreach_test_guest!(declare);
}

mod authors;
mod cache;
mod durability;
mod escape;
mod evidence;
mod hostile;
mod limits;
mod manifest;
mod mcp;
mod network;
mod pipeline;
mod plugins;
mod queue;
mod report;
mod schedule;
mod shared_db;
