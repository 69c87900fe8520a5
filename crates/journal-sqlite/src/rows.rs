//! Mapping SQLite rows to the journal's records.

use rusqlite::Row;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};

use nightshift_journal::{
    ArtifactRow, EventRow, RecordRow, StepRow, StepStatus, TaskRow, TaskStatus,
};

/// An enum stored as its word.
pub(super) struct Word<T>(pub(super) T);

/// Reads column `index` as a word that may be NULL.
fn optional_word<T: std::str::FromStr<Err = String>>(
    row: &Row<'_>,
    index: usize,
) -> rusqlite::Result<Option<T>> {
    Ok(row.get::<_, Option<Word<T>>>(index)?.map(|w| w.0))
}

impl<T: std::str::FromStr<Err = String>> FromSql for Word<T> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value
            .as_str()?
            .parse()
            .map(Word)
            .map_err(|e: String| FromSqlError::Other(e.into()))
    }
}

impl FromRow for TaskRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(TaskRow {
            id: row.get(0)?,
            pipeline: row.get(1)?,
            pipeline_path: row.get(2)?,
            pipeline_digest: row.get(3)?,
            workspace: row.get(4)?,
            params: row.get(5)?,
            status: row.get::<_, Word<TaskStatus>>(6)?.0,
            current_step: row.get(7)?,
            created_at: row.get(8)?,
            started_at: row.get(9)?,
            finished_at: row.get(10)?,
            pipeline_text: row.get(11)?,
            background: row.get(12)?,
            priority: row.get(13)?,
            lease_owner: row.get(14)?,
            lease_expires: row.get(15)?,
            schedule: row.get(16)?,
        })
    }
}

impl FromRow for StepRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(StepRow {
            step_id: row.get(0)?,
            kind: row.get::<_, Word<_>>(1)?.0,
            plugin: row.get(2)?,
            plugin_digest: row.get(3)?,
            status: row.get::<_, Word<StepStatus>>(4)?.0,
            attempts: row.get(5)?,
            summary: row.get(6)?,
            data: row.get(7)?,
            checks: row.get(8)?,
            caveats: row.get(9)?,
            error: row.get(10)?,
            started_at: row.get(11)?,
            finished_at: row.get(12)?,
            duration_ms: row.get::<_, Option<i64>>(13)?.map(|ms| ms.max(0) as u64),
            is_check: row.get(14)?,
        })
    }
}

impl FromRow for EventRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(EventRow {
            seq: row.get(0)?,
            step_id: row.get(1)?,
            attempt: row.get(2)?,
            at: row.get(3)?,
            kind: row.get::<_, Word<_>>(4)?.0,
            level: optional_word(row, 5)?,
            message: row.get(6)?,
            data: row.get(7)?,
        })
    }
}

impl FromRow for ArtifactRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(ArtifactRow {
            step_id: row.get(0)?,
            attempt: row.get(1)?,
            name: row.get(2)?,
            kind: row.get::<_, Word<_>>(3)?.0,
            change: optional_word(row, 4)?,
            blake3: row.get(5)?,
            bytes: row.get::<_, i64>(6)?.max(0) as u64,
        })
    }
}

impl FromRow for RecordRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RecordRow {
            seq: row.get::<_, i64>(0)?.max(0) as u64,
            step_id: row.get(1)?,
            attempt: row.get(2)?,
            body: row.get(3)?,
            hash: row.get(4)?,
            signature: row.get(5)?,
            key_id: row.get(6)?,
        })
    }
}

/// A record type read from SQLite, selected by its `COLUMNS`.
pub(super) trait FromRow: Sized {
    /// Maps one row of its `COLUMNS`.
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self>;
}
