//! The SQLite journal's schema and its migrations, versioned with `PRAGMA user_version`.
//!
//! Each migration runs inside one transaction with the version bump; a journal written by a
//! newer Nightshift (a higher version than [`MIGRATIONS`] knows) is refused, never altered.

use rusqlite::Connection;

use nightshift_journal::{JournalError, Sync};

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: tasks, their steps, attempts, events, artifacts and key/value state.
    r#"
    CREATE TABLE tasks (
        id              TEXT PRIMARY KEY,
        pipeline        TEXT NOT NULL,
        pipeline_path   TEXT NOT NULL,
        pipeline_digest TEXT NOT NULL,
        workspace       TEXT NOT NULL,
        params          TEXT NOT NULL,
        status          TEXT NOT NULL,
        current_step    TEXT,
        created_at      TEXT NOT NULL,
        started_at      TEXT,
        finished_at     TEXT
    );
    CREATE INDEX tasks_by_creation ON tasks (created_at);

    CREATE TABLE steps (
        task_id       TEXT NOT NULL REFERENCES tasks (id),
        step_id       TEXT NOT NULL,
        position      INTEGER NOT NULL,
        kind          TEXT NOT NULL,
        plugin        TEXT NOT NULL,
        plugin_digest TEXT NOT NULL,
        status        TEXT NOT NULL,
        attempts      INTEGER NOT NULL DEFAULT 0,
        summary       TEXT,
        data          TEXT,
        checks        TEXT,
        caveats       TEXT,
        error         TEXT,
        started_at    TEXT,
        finished_at   TEXT,
        duration_ms   INTEGER,
        PRIMARY KEY (task_id, step_id)
    );

    CREATE TABLE attempts (
        task_id     TEXT NOT NULL,
        step_id     TEXT NOT NULL,
        attempt     INTEGER NOT NULL,
        status      TEXT NOT NULL,
        error       TEXT,
        started_at  TEXT NOT NULL,
        finished_at TEXT,
        PRIMARY KEY (task_id, step_id, attempt),
        FOREIGN KEY (task_id, step_id) REFERENCES steps (task_id, step_id)
    );

    CREATE TABLE events (
        seq     INTEGER PRIMARY KEY AUTOINCREMENT,
        task_id TEXT NOT NULL REFERENCES tasks (id),
        step_id TEXT,
        attempt INTEGER,
        at      TEXT NOT NULL,
        kind    TEXT NOT NULL,
        level   TEXT,
        message TEXT NOT NULL,
        data    TEXT
    );
    CREATE INDEX events_by_task ON events (task_id, seq);

    CREATE TABLE artifacts (
        task_id TEXT NOT NULL,
        step_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        name    TEXT NOT NULL,
        kind    TEXT NOT NULL,
        change  TEXT,
        blake3  TEXT,
        bytes   INTEGER NOT NULL,
        PRIMARY KEY (task_id, step_id, attempt, name),
        FOREIGN KEY (task_id, step_id) REFERENCES steps (task_id, step_id)
    );

    CREATE TABLE kv (
        task_id TEXT NOT NULL REFERENCES tasks (id),
        key     TEXT NOT NULL,
        value   BLOB NOT NULL,
        PRIMARY KEY (task_id, key)
    );

    CREATE TABLE checkpoints (
        task_id TEXT NOT NULL,
        step_id TEXT NOT NULL,
        state   BLOB NOT NULL,
        at      TEXT NOT NULL,
        PRIMARY KEY (task_id, step_id),
        FOREIGN KEY (task_id, step_id) REFERENCES steps (task_id, step_id)
    );
    "#,
    // 2: signed, hash-chained step records; committed changes not yet applied to the
    //    workspace; the pipeline text a task was started from (so it can be resumed).
    r#"
    ALTER TABLE tasks ADD COLUMN pipeline_text TEXT;

    CREATE TABLE records (
        task_id   TEXT NOT NULL REFERENCES tasks (id),
        seq       INTEGER NOT NULL,
        step_id   TEXT NOT NULL,
        attempt   INTEGER NOT NULL,
        body      TEXT NOT NULL,
        hash      TEXT NOT NULL,
        signature TEXT NOT NULL,
        key_id    TEXT NOT NULL,
        PRIMARY KEY (task_id, seq)
    );

    CREATE TABLE pending_applies (
        task_id TEXT NOT NULL,
        step_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        PRIMARY KEY (task_id, step_id),
        FOREIGN KEY (task_id, step_id) REFERENCES steps (task_id, step_id)
    );
    "#,
    // 3: check steps, cancellation requests, and each task's signed report.
    r#"
    ALTER TABLE steps ADD COLUMN is_check INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tasks ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;

    CREATE TABLE reports (
        task_id   TEXT PRIMARY KEY REFERENCES tasks (id),
        blake3    TEXT NOT NULL,
        signature TEXT NOT NULL,
        key_id    TEXT NOT NULL
    );
    "#,
    // 4: the background lane: queued tasks with priority, a start time and an idempotency
    //    key; leases with fencing tokens; cron schedules, each due run fired once.
    r#"
    ALTER TABLE tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tasks ADD COLUMN not_before INTEGER;
    ALTER TABLE tasks ADD COLUMN idempotency_key TEXT;
    ALTER TABLE tasks ADD COLUMN background INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tasks ADD COLUMN lease_owner TEXT;
    ALTER TABLE tasks ADD COLUMN lease_expires INTEGER;
    ALTER TABLE tasks ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tasks ADD COLUMN schedule TEXT;
    ALTER TABLE tasks ADD COLUMN serial_key TEXT;

    CREATE UNIQUE INDEX tasks_by_idempotency_key ON tasks (idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    CREATE INDEX tasks_queued ON tasks (priority DESC, created_at) WHERE status = 'queued';
    CREATE INDEX tasks_leased ON tasks (lease_expires) WHERE lease_expires IS NOT NULL;
    CREATE INDEX tasks_by_schedule ON tasks (schedule, status) WHERE schedule IS NOT NULL;
    CREATE INDEX tasks_finished ON tasks (finished_at) WHERE finished_at IS NOT NULL;
    CREATE INDEX records_by_task ON records (task_id, seq);
    CREATE INDEX pending_by_task ON pending_applies (task_id);

    CREATE TABLE schedules (
        name            TEXT PRIMARY KEY,
        cron            TEXT NOT NULL,
        zone            TEXT NOT NULL,
        pipeline_path   TEXT NOT NULL,
        workspace       TEXT NOT NULL,
        params          TEXT NOT NULL,
        catch_up_ms     INTEGER,
        overlap         TEXT NOT NULL,
        paused          INTEGER NOT NULL DEFAULT 0,
        considered_until INTEGER NOT NULL,
        created_at      TEXT NOT NULL
    );

    CREATE TABLE schedule_runs (
        schedule TEXT NOT NULL,
        due_at   INTEGER NOT NULL,
        task_id  TEXT,
        outcome  TEXT NOT NULL,
        PRIMARY KEY (schedule, due_at)
    );

    CREATE TABLE schedule_caveats (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        schedule TEXT NOT NULL,
        at       TEXT NOT NULL,
        message  TEXT NOT NULL
    );
    "#,
];

/// How long a statement waits for another process's lock before failing.
pub(crate) const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The schema version this build writes.
pub(crate) const CURRENT_VERSION: u32 = MIGRATIONS.len() as u32;

/// Sets the connection's pragmas, then brings the schema to [`CURRENT_VERSION`]: the
/// versions (before, after).
pub(crate) fn prepare(conn: &mut Connection, sync: Sync) -> Result<(u32, u32), JournalError> {
    // First, so that another process opening the same journal makes us wait, not fail.
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Pragmas stay outside the migration transaction: `journal_mode` cannot change inside one.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", super::pragma(sync))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;

    let found: u32 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > CURRENT_VERSION {
        return Err(JournalError::NewerSchema {
            found,
            supported: CURRENT_VERSION,
        });
    }
    if found == CURRENT_VERSION {
        return Ok((found, found));
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Read again under the write lock: another process may have migrated meanwhile.
    let found: u32 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as u32 + 1)?;
    }
    tx.commit()?;
    Ok((found, CURRENT_VERSION))
}
