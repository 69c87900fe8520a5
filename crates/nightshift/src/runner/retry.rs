//! How long a step waits before retrying (exponential backoff with jitter), and how many of
//! its retries earlier runs of its task used.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::journal::{EventKind, Journal, JournalError, StepStatus};
use crate::manifest::MAX_RETRY_BACKOFF;

/// How many of its retries a step used in earlier runs of its task, as its signed records
/// say: its attempts that ended failed, save those that conflicted with another task's change
/// (a conflict runs the step again without using a retry). An interrupted attempt uses none.
///
/// A failed attempt counts even when its process stopped before recording the retry: the
/// next attempt is that retry.
pub(super) fn used(journal: &Journal, task_id: &str, step_id: &str) -> Result<u32, JournalError> {
    let failed: BTreeSet<u32> = journal
        .records(task_id)?
        .into_iter()
        .filter(|record| record.step_id == step_id)
        .filter(|record| {
            // Read loosely, so records of every format count.
            serde_json::from_str::<serde_json::Value>(&record.body).is_ok_and(|body| {
                body["outcome"]["status"].as_str() == Some(StepStatus::Failed.as_str())
            })
        })
        .map(|record| record.attempt)
        .collect();
    if failed.is_empty() {
        return Ok(0);
    }
    let conflicted: BTreeSet<u32> = journal
        .events(task_id, 0)?
        .into_iter()
        .filter(|event| {
            event.kind == EventKind::Conflict && event.step_id.as_deref() == Some(step_id)
        })
        .filter_map(|event| event.attempt)
        .collect();
    let used = failed.difference(&conflicted).count();
    Ok(u32::try_from(used).unwrap_or(u32::MAX))
}

/// The delay before retry `retry` (from 1): `base * 2^(retry - 1)`, capped, then scaled by a
/// random factor in [0.5, 1.0] so that tasks failing together do not retry together.
pub(super) fn backoff(base: Duration, retry: u32) -> Duration {
    let exponent = retry.saturating_sub(1).min(20);
    let full = base.saturating_mul(1u32 << exponent).min(MAX_RETRY_BACKOFF);
    let mut random = [0u8; 2];
    // Without entropy the delay is simply not jittered.
    let jitter = match getrandom::fill(&mut random) {
        Ok(()) => f64::from(u16::from_le_bytes(random)) / f64::from(u16::MAX),
        Err(_) => 1.0,
    };
    full.mul_f64(0.5 + 0.5 * jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_each_retry_within_jitter() {
        let base = Duration::from_millis(100);
        for retry in 1..=5 {
            let full = base * (1 << (retry - 1));
            let delay = backoff(base, retry);
            assert!(
                delay >= full / 2 && delay <= full,
                "retry {retry}: {delay:?}"
            );
        }
    }

    #[test]
    fn never_waits_longer_than_the_cap() {
        assert!(backoff(Duration::from_secs(60), 30) <= MAX_RETRY_BACKOFF);
    }
}
