//! Pruning finished tasks on SQLite, so the journal stays small and fast however long it
//! runs.

use rusqlite::{TransactionBehavior, params};

use super::Sqlite;
use super::rows::FromRow;
use nightshift_journal::backend::TASK_TABLES;
use nightshift_journal::{Result, TaskRow};

impl Sqlite {
    /// [`Store::finished_before`](nightshift_journal::Store::finished_before).
    pub(super) fn finished_tasks_before(&self, cutoff: &str) -> Result<Vec<TaskRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM tasks WHERE finished_at IS NOT NULL AND finished_at < ?1
               AND status IN ('succeeded', 'failed', 'cancelled')
             ORDER BY finished_at",
            TaskRow::COLUMNS
        ))?;
        let rows = stmt.query_map([cutoff], <TaskRow as FromRow>::from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// [`Store::delete_task`](nightshift_journal::Store::delete_task).
    pub(super) fn delete_finished_task(&self, task_id: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for table in TASK_TABLES {
            tx.execute(
                &format!("DELETE FROM {table} WHERE task_id = ?1"),
                [task_id],
            )?;
        }
        tx.execute(
            "UPDATE schedule_runs SET task_id = NULL WHERE task_id = ?1",
            [task_id],
        )?;
        tx.execute(
            "DELETE FROM tasks WHERE id = ?1 AND status IN ('succeeded', 'failed', 'cancelled')",
            params![task_id],
        )?;
        tx.commit()?;
        Ok(())
    }
}
