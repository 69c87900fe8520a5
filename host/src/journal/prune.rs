//! Pruning finished tasks, so the journal stays small and fast however long it runs.

use rusqlite::{TransactionBehavior, params};

use super::{Journal, Result, TaskRow};

impl Journal {
    /// Finished tasks (succeeded, failed or cancelled) that ended before `cutoff` (a journal
    /// timestamp), oldest first.
    pub fn finished_before(&self, cutoff: &str) -> Result<Vec<TaskRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM tasks WHERE finished_at IS NOT NULL AND finished_at < ?1
               AND status IN ('succeeded', 'failed', 'cancelled')
             ORDER BY finished_at",
            TaskRow::COLUMNS
        ))?;
        let rows = stmt.query_map([cutoff], TaskRow::from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Deletes a finished task and everything recorded about it, in one transaction. Its
    /// artifacts stay in `cas/` (other tasks may share them).
    pub fn delete_task(&self, task_id: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for table in [
            "events",
            "artifacts",
            "kv",
            "checkpoints",
            "pending_applies",
            "attempts",
            "records",
            "reports",
            "steps",
        ] {
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
