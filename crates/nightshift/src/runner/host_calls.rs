//! The runner's answer to a guest's `host` calls: logs, notes and checkpoints go to the
//! journal, progress to the observer (and, throttled, to the journal).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::journal::{EventKind, Journal, NewEvent};
use crate::sandbox::{HostCalls, LogLevel};

use super::Observer;

/// Progress is written to the journal at most this often (the observer sees all of it).
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

pub(super) struct JournalHost {
    journal: Arc<Journal>,
    task_id: String,
    step_id: String,
    attempt: u32,
    observer: Arc<dyn Observer>,
    last_progress: Option<Instant>,
}

impl JournalHost {
    pub(super) fn new(
        journal: Arc<Journal>,
        task_id: &str,
        step_id: &str,
        attempt: u32,
        observer: Arc<dyn Observer>,
    ) -> Self {
        JournalHost {
            journal,
            task_id: task_id.to_owned(),
            step_id: step_id.to_owned(),
            attempt,
            observer,
            last_progress: None,
        }
    }

    fn record(&self, kind: EventKind, level: Option<LogLevel>, message: &str, data: Option<&str>) {
        let event = NewEvent {
            task_id: &self.task_id,
            step_id: Some(&self.step_id),
            attempt: Some(self.attempt),
            kind,
            level,
            message,
            data,
        };
        if let Err(e) = self.journal.append_event(&event) {
            tracing::error!(task = %self.task_id, step = %self.step_id, "cannot record {kind} event: {e}");
        }
    }
}

impl HostCalls for JournalHost {
    fn log(&mut self, level: LogLevel, message: String) {
        self.record(EventKind::Log, Some(level), &message, None);
    }

    fn progress(&mut self, done: u64, total: u64, message: String) {
        self.observer.progress(&self.step_id, done, total, &message);
        let due = self
            .last_progress
            .is_none_or(|at| at.elapsed() >= PROGRESS_EVERY);
        if due || done >= total {
            self.last_progress = Some(Instant::now());
            let data = serde_json::json!({ "done": done, "total": total }).to_string();
            self.record(EventKind::Progress, None, &message, Some(&data));
        }
    }

    fn note(&mut self, text: String) {
        self.record(EventKind::Note, None, &text, None);
    }

    fn checkpoint(&mut self, state: Vec<u8>) {
        if let Err(e) = self
            .journal
            .save_checkpoint(&self.task_id, &self.step_id, &state)
        {
            tracing::error!(task = %self.task_id, step = %self.step_id, "cannot save checkpoint: {e}");
        }
    }

    fn get(&mut self, key: &str) -> Option<Vec<u8>> {
        self.journal.kv_get(&self.task_id, key).unwrap_or_else(|e| {
            tracing::error!(task = %self.task_id, "cannot read key `{key}`: {e}");
            None
        })
    }

    fn set(&mut self, key: &str, value: Vec<u8>) {
        if let Err(e) = self.journal.kv_set(&self.task_id, key, &value) {
            tracing::error!(task = %self.task_id, "cannot write key `{key}`: {e}");
        }
    }
}
