//! The PostgreSQL journal's schema and its migrations, versioned in `nightshift_schema`.
//!
//! Migrations run in one transaction with the version bump, under an advisory lock, so
//! workers starting together migrate once. The tables go in the first schema of the
//! connection's `search_path`, which is created if the URL names one that does not exist. A database written by a newer Nightshift (a
//! higher version than [`MIGRATIONS`] knows) is refused, never altered. Version 1 holds
//! everything SQLite's first four versions do.

use super::session::{Outcome, Session};
use nightshift_journal::JournalError;

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: tasks, steps, attempts, signed records, events, artifacts, key/value state,
    //    checkpoints, reports; the queue's columns; schedules and their runs.
    r#"
    CREATE TABLE tasks (
        id               TEXT COLLATE "C" PRIMARY KEY,
        pipeline         TEXT NOT NULL,
        pipeline_path    TEXT NOT NULL,
        pipeline_digest  TEXT NOT NULL,
        workspace        TEXT NOT NULL,
        params           TEXT NOT NULL,
        pipeline_text    TEXT,
        status           TEXT NOT NULL,
        current_step     TEXT,
        created_at       TEXT COLLATE "C" NOT NULL,
        started_at       TEXT COLLATE "C",
        finished_at      TEXT COLLATE "C",
        cancel_requested BOOLEAN NOT NULL DEFAULT false,
        background       BOOLEAN NOT NULL DEFAULT false,
        priority         BIGINT NOT NULL DEFAULT 0,
        not_before       BIGINT,
        idempotency_key  TEXT,
        lease_owner      TEXT,
        lease_expires    BIGINT,
        lease_token      BIGINT NOT NULL DEFAULT 0,
        schedule         TEXT,
        serial_key       TEXT
    );
    CREATE INDEX tasks_by_creation ON tasks (created_at);
    CREATE UNIQUE INDEX tasks_by_idempotency_key ON tasks (idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    CREATE INDEX tasks_queued ON tasks (priority DESC, created_at) WHERE status = 'queued';
    CREATE INDEX tasks_leased ON tasks (lease_expires) WHERE lease_expires IS NOT NULL;
    CREATE INDEX tasks_by_schedule ON tasks (schedule, status) WHERE schedule IS NOT NULL;
    CREATE INDEX tasks_finished ON tasks (finished_at) WHERE finished_at IS NOT NULL;

    CREATE TABLE steps (
        task_id       TEXT NOT NULL REFERENCES tasks (id),
        step_id       TEXT NOT NULL,
        position      BIGINT NOT NULL,
        kind          TEXT NOT NULL,
        plugin        TEXT NOT NULL,
        plugin_digest TEXT NOT NULL,
        is_check      BOOLEAN NOT NULL DEFAULT false,
        status        TEXT NOT NULL,
        attempts      BIGINT NOT NULL DEFAULT 0,
        summary       TEXT,
        data          TEXT,
        checks        TEXT,
        caveats       TEXT,
        error         TEXT,
        started_at    TEXT COLLATE "C",
        finished_at   TEXT COLLATE "C",
        duration_ms   BIGINT,
        PRIMARY KEY (task_id, step_id)
    );

    CREATE TABLE attempts (
        task_id     TEXT NOT NULL,
        step_id     TEXT NOT NULL,
        attempt     BIGINT NOT NULL,
        status      TEXT NOT NULL,
        error       TEXT,
        started_at  TEXT COLLATE "C" NOT NULL,
        finished_at TEXT COLLATE "C",
        PRIMARY KEY (task_id, step_id, attempt),
        FOREIGN KEY (task_id, step_id) REFERENCES steps (task_id, step_id)
    );

    CREATE TABLE events (
        seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        task_id TEXT NOT NULL REFERENCES tasks (id),
        step_id TEXT,
        attempt BIGINT,
        at      TEXT COLLATE "C" NOT NULL,
        kind    TEXT NOT NULL,
        level   TEXT,
        message TEXT NOT NULL,
        data    TEXT
    );
    CREATE INDEX events_by_task ON events (task_id, seq);

    CREATE TABLE artifacts (
        seq     BIGINT GENERATED ALWAYS AS IDENTITY,
        task_id TEXT NOT NULL,
        step_id TEXT NOT NULL,
        attempt BIGINT NOT NULL,
        name    TEXT NOT NULL,
        kind    TEXT NOT NULL,
        change  TEXT,
        blake3  TEXT,
        bytes   BIGINT NOT NULL,
        PRIMARY KEY (task_id, step_id, attempt, name),
        FOREIGN KEY (task_id, step_id) REFERENCES steps (task_id, step_id)
    );
    CREATE INDEX artifacts_by_name ON artifacts (name, kind);

    CREATE TABLE kv (
        task_id TEXT NOT NULL REFERENCES tasks (id),
        key     TEXT NOT NULL,
        value   BYTEA NOT NULL,
        PRIMARY KEY (task_id, key)
    );

    CREATE TABLE checkpoints (
        task_id TEXT NOT NULL,
        step_id TEXT NOT NULL,
        state   BYTEA NOT NULL,
        at      TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (task_id, step_id),
        FOREIGN KEY (task_id, step_id) REFERENCES steps (task_id, step_id)
    );

    CREATE TABLE records (
        task_id   TEXT NOT NULL REFERENCES tasks (id),
        seq       BIGINT NOT NULL,
        step_id   TEXT NOT NULL,
        attempt   BIGINT NOT NULL,
        body      TEXT NOT NULL,
        hash      TEXT NOT NULL,
        signature TEXT NOT NULL,
        key_id    TEXT NOT NULL,
        PRIMARY KEY (task_id, seq),
        UNIQUE (task_id, step_id, attempt)
    );

    CREATE TABLE pending_applies (
        seq     BIGINT GENERATED ALWAYS AS IDENTITY,
        task_id TEXT NOT NULL,
        step_id TEXT NOT NULL,
        attempt BIGINT NOT NULL,
        PRIMARY KEY (task_id, step_id),
        FOREIGN KEY (task_id, step_id) REFERENCES steps (task_id, step_id)
    );

    CREATE TABLE reports (
        task_id   TEXT PRIMARY KEY REFERENCES tasks (id),
        blake3    TEXT NOT NULL,
        signature TEXT NOT NULL,
        key_id    TEXT NOT NULL
    );

    CREATE TABLE schedules (
        name             TEXT PRIMARY KEY,
        cron             TEXT NOT NULL,
        zone             TEXT NOT NULL,
        pipeline_path    TEXT NOT NULL,
        workspace        TEXT NOT NULL,
        params           TEXT NOT NULL,
        catch_up_ms      BIGINT,
        overlap          TEXT NOT NULL,
        paused           BOOLEAN NOT NULL DEFAULT false,
        considered_until BIGINT NOT NULL,
        created_at       TEXT COLLATE "C" NOT NULL
    );

    CREATE TABLE schedule_runs (
        schedule TEXT NOT NULL,
        due_at   BIGINT NOT NULL,
        task_id  TEXT,
        outcome  TEXT NOT NULL,
        PRIMARY KEY (schedule, due_at)
    );

    CREATE TABLE schedule_caveats (
        seq      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        schedule TEXT NOT NULL,
        at       TEXT COLLATE "C" NOT NULL,
        message  TEXT NOT NULL
    );
    "#,
];

/// The schema version this build writes.
pub(crate) const CURRENT_VERSION: u32 = MIGRATIONS.len() as u32;

/// The key of the advisory lock migrations hold ("nightshift" in ASCII, truncated).
const MIGRATION_LOCK: i64 = 0x6e69_6768_7473_6869;

/// The schema version the database holds (0 for an empty one).
pub(super) fn version(session: &mut Session) -> Outcome<u32> {
    let exists: bool = session
        .query_one("SELECT to_regclass('nightshift_schema') IS NOT NULL", &[])?
        .try_get(0)?;
    if !exists {
        return Ok(0);
    }
    let found: Option<i64> = session
        .query_one("SELECT max(version) FROM nightshift_schema", &[])?
        .try_get(0)?;
    Ok(u32::try_from(found.unwrap_or(0)).unwrap_or(u32::MAX))
}

/// Brings the schema to [`CURRENT_VERSION`]; refuses a newer one. Returns the versions
/// (from, to).
pub(super) fn migrate(session: &mut Session) -> Outcome<(u32, u32)> {
    let found = version(session)?;
    refuse_newer(found)?;
    if found == CURRENT_VERSION {
        return Ok((found, found));
    }
    session.transaction(true, |tx| {
        tx.query_one("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        create_schema(tx)?;
        tx.batch("CREATE TABLE IF NOT EXISTS nightshift_schema (version BIGINT NOT NULL)")?;
        // Read again under the lock: another process may have migrated meanwhile.
        let found = version(tx)?;
        refuse_newer(found)?;
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            tx.batch(sql)?;
            tx.execute(
                "INSERT INTO nightshift_schema (version) VALUES ($1)",
                &[&(index as i64 + 1)],
            )?;
        }
        Ok((found, CURRENT_VERSION))
    })
}

/// Creates the schema the URL's `search_path` names first (`options=-csearch_path=NAME`),
/// when it does not exist yet, so teams can keep Nightshift's tables apart from theirs.
fn create_schema(session: &mut Session) -> Outcome<()> {
    let row = session.query_one(
        "SELECT current_schema() IS NULL, split_part(current_setting('search_path'), ',', 1)",
        &[],
    )?;
    let (missing, first): (bool, String) = (row.try_get(0)?, row.try_get(1)?);
    let name = first.trim().trim_matches('"');
    if missing && !name.is_empty() && name != "$user" {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        session.batch(&format!("CREATE SCHEMA IF NOT EXISTS {quoted}"))?;
    }
    Ok(())
}

fn refuse_newer(found: u32) -> Outcome<()> {
    if found > CURRENT_VERSION {
        return Err(JournalError::NewerSchema {
            found,
            supported: CURRENT_VERSION,
        }
        .into());
    }
    Ok(())
}
