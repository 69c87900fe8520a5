//! The background lane's queue, as both backends keep it: submitted tasks wait with a
//! priority and a start time, workers claim them under leases, and every write of a leased
//! task is fenced.
//!
//! A claim increments the task's fencing token. Each write a worker makes for a task carries
//! the token of its lease; if another worker has claimed the task since, the token is no
//! longer current and the write is refused ([`super::JournalError::LeaseLost`]), so a worker
//! that was paused past its lease can never commit a step twice.

/// A worker's claim on a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The task.
    pub task_id: String,
    /// The worker holding it.
    pub owner: String,
    /// The fencing token: grows with every claim of the task.
    pub token: i64,
}

/// How a task waits in the queue.
#[derive(Debug, Clone, Default)]
pub struct QueueOptions<'a> {
    /// Higher runs first.
    pub priority: i64,
    /// Not claimed before this time (unix milliseconds).
    pub not_before: Option<i64>,
    /// A second submit with the same key returns the first task.
    pub idempotency_key: Option<&'a str>,
    /// The schedule that fired it.
    pub schedule: Option<&'a str>,
    /// Tasks with the same serial key never run at the same time.
    pub serial_key: Option<&'a str>,
}

/// The task a submit queued, or found under the same idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The task id.
    pub task_id: String,
    /// True when the idempotency key matched an earlier task, and nothing new was queued.
    pub existing: bool,
}

/// The `lease` event a claim records: who claimed the task, and from whom if its lease
/// expired.
pub fn claim_message(owner: &str, expired: Option<(Option<&str>, i64)>, token: i64) -> String {
    let how = match expired {
        Some((old_owner, old_token)) => format!(
            "lease {old_token} of {} expired; reclaimed by {owner}",
            old_owner.unwrap_or("a worker")
        ),
        None => format!("claimed by {owner}"),
    };
    format!("{how} (lease {token})")
}

/// The `lease` event a release records.
pub fn release_message(lease: &Lease, why: &str) -> String {
    format!("released by {} (lease {}): {why}", lease.owner, lease.token)
}

/// The message of the event recorded when a queued task is cancelled.
pub const CANCELLED_WHILE_QUEUED: &str = "cancelled while queued; it never started";

#[cfg(test)]
mod tests {
    use super::{Lease, claim_message, release_message};
    use crate::JournalError;

    #[test]
    fn a_first_claim_names_its_owner_and_token() {
        assert_eq!(claim_message("w1", None, 1), "claimed by w1 (lease 1)");
    }

    #[test]
    fn a_reclaim_names_the_expired_lease_and_its_owner() {
        assert_eq!(
            claim_message("w2", Some((Some("w1"), 1)), 2),
            "lease 1 of w1 expired; reclaimed by w2 (lease 2)"
        );
        assert_eq!(
            claim_message("w2", Some((None, 4)), 5),
            "lease 4 of a worker expired; reclaimed by w2 (lease 5)"
        );
    }

    #[test]
    fn a_release_names_the_lease_and_why() {
        let lease = Lease {
            task_id: "t".into(),
            owner: "w1".into(),
            token: 3,
        };
        assert_eq!(
            release_message(&lease, "shutting down"),
            "released by w1 (lease 3): shutting down"
        );
    }

    #[test]
    fn a_lost_lease_names_the_stale_and_the_current_token() {
        let lost = JournalError::LeaseLost {
            task: "t".into(),
            token: 1,
            current: 2,
        };
        assert_eq!(
            lost.to_string(),
            "task t: lease 1 is no longer current (another worker claimed the task with lease 2); the write was refused"
        );
    }
}
