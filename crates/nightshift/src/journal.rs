//! The journal, opened where `--state` says: the storage interface and its rows (from
//! `nightshift-journal`), on the SQLite backend or, with the `postgres` feature, the
//! PostgreSQL one. Nothing else in the library names a backend.

use std::path::Path;

pub use nightshift_journal::*;
use nightshift_journal_sqlite::Sqlite;

/// Opens (creating if needed) the journal at `location`, migrating its schema to this
/// build's.
pub fn open(location: &StoreLocation) -> Result<Journal> {
    match location {
        StoreLocation::Sqlite(path) => open_sqlite(path, Sync::Full),
        StoreLocation::Postgres(url) => postgres::open(url),
    }
}

/// Opens (creating if needed) the SQLite journal at `path` with the given durability of
/// commits.
pub fn open_sqlite(path: &Path, sync: Sync) -> Result<Journal> {
    Ok(Journal::new(Sqlite::open(path, sync)?))
}

/// Brings the schema of the journal at `location` to this build's, refusing a newer one:
/// the versions (before, after).
pub fn migrate(location: &StoreLocation) -> Result<(u32, u32)> {
    match location {
        StoreLocation::Sqlite(path) => Ok(Sqlite::open_migrated(path, Sync::Full)?.1),
        StoreLocation::Postgres(url) => postgres::migrate(url),
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use nightshift_journal::{Journal, Result};
    use nightshift_journal_postgres::Postgres;

    pub(super) fn open(url: &str) -> Result<Journal> {
        Ok(Journal::new(Postgres::connect(url)?))
    }

    pub(super) fn migrate(url: &str) -> Result<(u32, u32)> {
        Postgres::connect_unmigrated(url)?.migrate()
    }
}

#[cfg(not(feature = "postgres"))]
mod postgres {
    use nightshift_journal::{Journal, JournalError, Result};

    pub(super) fn open(url: &str) -> Result<Journal> {
        Err(unsupported(url))
    }

    pub(super) fn migrate(url: &str) -> Result<(u32, u32)> {
        Err(unsupported(url))
    }

    fn unsupported(url: &str) -> JournalError {
        JournalError::PostgresNotBuilt {
            server: url.rsplit('@').next().unwrap_or_default().to_owned(),
        }
    }
}
