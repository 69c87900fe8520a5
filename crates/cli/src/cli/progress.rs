//! Progress of a running task on a terminal: one spinner for the current step, one line per
//! finished step. Draws nothing when stderr is not a terminal.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nightshift::journal::StepStatus;
use nightshift::runner::Observer;

pub(crate) struct TerminalProgress {
    bar: ProgressBar,
}

impl TerminalProgress {
    pub(crate) fn new(steps: usize) -> Self {
        let bar = ProgressBar::with_draw_target(Some(steps as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{pos}/{len}] {prefix} {wide_msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        TerminalProgress { bar }
    }
}

impl Observer for TerminalProgress {
    fn step_started(&self, index: usize, _total: usize, step_id: &str) {
        self.bar.set_position(index as u64);
        self.bar.set_prefix(step_id.to_owned());
        self.bar.set_message("starting");
    }

    fn progress(&self, _step_id: &str, done: u64, total: u64, message: &str) {
        self.bar.set_message(format!("{done}/{total} {message}"));
    }

    fn step_finished(&self, step_id: &str, status: StepStatus, duration_ms: u64, detail: &str) {
        let mark = if status == StepStatus::Succeeded {
            "✓"
        } else {
            "✗"
        };
        self.bar
            .println(format!("{mark} {step_id} ({duration_ms} ms) {detail}"));
        self.bar.inc(1);
    }
}

impl Drop for TerminalProgress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
