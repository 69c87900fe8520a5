//! Mapping PostgreSQL rows to the journal's records.

use tokio_postgres::Row;

use super::session::Outcome;
use nightshift_journal::{
    ArtifactRow, EventRow, JournalError, RecordRow, ScheduleRow, StepRow, TaskRow,
};

/// A record type read from PostgreSQL, selected by its `COLUMNS`.
pub(super) trait FromPgRow: Sized {
    /// Maps one row of its `COLUMNS`.
    fn from_pg(row: &Row) -> Outcome<Self>;
}

/// Maps every row.
pub(super) fn all<T: FromPgRow>(rows: &[Row]) -> Outcome<Vec<T>> {
    rows.iter().map(T::from_pg).collect()
}

/// A status column, parsed.
fn word<T: std::str::FromStr<Err = String>>(row: &Row, index: usize) -> Outcome<T> {
    let text: String = row.try_get(index)?;
    Ok(text.parse().map_err(JournalError::Corrupt)?)
}

/// A status column that may be NULL, parsed.
fn optional_word<T: std::str::FromStr<Err = String>>(
    row: &Row,
    index: usize,
) -> Outcome<Option<T>> {
    let text: Option<String> = row.try_get(index)?;
    Ok(text
        .map(|text| text.parse())
        .transpose()
        .map_err(JournalError::Corrupt)?)
}

/// A count or number that the journal keeps unsigned.
pub(super) fn unsigned<T: TryFrom<i64>>(value: i64, what: &str) -> Outcome<T> {
    T::try_from(value)
        .map_err(|_| JournalError::Corrupt(format!("{what} {value} is out of range")).into())
}

impl FromPgRow for TaskRow {
    fn from_pg(row: &Row) -> Outcome<Self> {
        Ok(TaskRow {
            id: row.try_get(0)?,
            pipeline: row.try_get(1)?,
            pipeline_path: row.try_get(2)?,
            pipeline_digest: row.try_get(3)?,
            workspace: row.try_get(4)?,
            params: row.try_get(5)?,
            status: word(row, 6)?,
            current_step: row.try_get(7)?,
            created_at: row.try_get(8)?,
            started_at: row.try_get(9)?,
            finished_at: row.try_get(10)?,
            pipeline_text: row.try_get(11)?,
            background: row.try_get(12)?,
            priority: row.try_get(13)?,
            lease_owner: row.try_get(14)?,
            lease_expires: row.try_get(15)?,
            schedule: row.try_get(16)?,
        })
    }
}

impl FromPgRow for StepRow {
    fn from_pg(row: &Row) -> Outcome<Self> {
        Ok(StepRow {
            step_id: row.try_get(0)?,
            kind: word(row, 1)?,
            plugin: row.try_get(2)?,
            plugin_digest: row.try_get(3)?,
            status: word(row, 4)?,
            attempts: unsigned(row.try_get(5)?, "attempts")?,
            summary: row.try_get(6)?,
            data: row.try_get(7)?,
            checks: row.try_get(8)?,
            caveats: row.try_get(9)?,
            error: row.try_get(10)?,
            started_at: row.try_get(11)?,
            finished_at: row.try_get(12)?,
            duration_ms: row
                .try_get::<_, Option<i64>>(13)?
                .map(|ms| ms.max(0) as u64),
            is_check: row.try_get(14)?,
        })
    }
}

impl FromPgRow for EventRow {
    fn from_pg(row: &Row) -> Outcome<Self> {
        Ok(EventRow {
            seq: row.try_get(0)?,
            step_id: row.try_get(1)?,
            attempt: row
                .try_get::<_, Option<i64>>(2)?
                .map(|a| unsigned(a, "attempt"))
                .transpose()?,
            at: row.try_get(3)?,
            kind: word(row, 4)?,
            level: optional_word(row, 5)?,
            message: row.try_get(6)?,
            data: row.try_get(7)?,
        })
    }
}

impl FromPgRow for ArtifactRow {
    fn from_pg(row: &Row) -> Outcome<Self> {
        Ok(ArtifactRow {
            step_id: row.try_get(0)?,
            attempt: unsigned(row.try_get(1)?, "attempt")?,
            name: row.try_get(2)?,
            kind: word(row, 3)?,
            change: optional_word(row, 4)?,
            blake3: row.try_get(5)?,
            bytes: row.try_get::<_, i64>(6)?.max(0) as u64,
        })
    }
}

impl FromPgRow for RecordRow {
    fn from_pg(row: &Row) -> Outcome<Self> {
        Ok(RecordRow {
            seq: unsigned(row.try_get(0)?, "record sequence number")?,
            step_id: row.try_get(1)?,
            attempt: unsigned(row.try_get(2)?, "attempt")?,
            body: row.try_get(3)?,
            hash: row.try_get(4)?,
            signature: row.try_get(5)?,
            key_id: row.try_get(6)?,
        })
    }
}

impl FromPgRow for ScheduleRow {
    fn from_pg(row: &Row) -> Outcome<Self> {
        Ok(ScheduleRow {
            name: row.try_get(0)?,
            cron: row.try_get(1)?,
            zone: row.try_get(2)?,
            pipeline_path: row.try_get(3)?,
            workspace: row.try_get(4)?,
            params: row.try_get(5)?,
            catch_up_ms: row.try_get(6)?,
            overlap: word(row, 7)?,
            paused: row.try_get(8)?,
            considered_until: row.try_get(9)?,
            created_at: row.try_get(10)?,
        })
    }
}
