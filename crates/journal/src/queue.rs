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
