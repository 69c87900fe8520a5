//! Pruning finished tasks on PostgreSQL.

use super::rows::all;
use super::session::{Outcome, Session};
use nightshift_journal::TaskRow;
use nightshift_journal::backend::TASK_TABLES;

pub(super) fn finished_before(s: &mut Session, cutoff: &str) -> Outcome<Vec<TaskRow>> {
    let sql = format!(
        "SELECT {} FROM tasks WHERE finished_at IS NOT NULL AND finished_at < $1
           AND status IN ('succeeded', 'failed', 'cancelled')
         ORDER BY finished_at",
        TaskRow::COLUMNS
    );
    all(&s.query(&sql, &[&cutoff])?)
}

pub(super) fn delete_task(s: &mut Session, task_id: &str) -> Outcome<()> {
    for table in TASK_TABLES {
        s.execute(
            &format!("DELETE FROM {table} WHERE task_id = $1"),
            &[&task_id],
        )?;
    }
    s.execute(
        "UPDATE schedule_runs SET task_id = NULL WHERE task_id = $1",
        &[&task_id],
    )?;
    s.execute(
        "DELETE FROM tasks WHERE id = $1 AND status IN ('succeeded', 'failed', 'cancelled')",
        &[&task_id],
    )?;
    Ok(())
}
