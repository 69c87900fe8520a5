//! The conformance suite: what every backend of [`Store`] must do, as one generic set of
//! cases run against a fresh journal. A backend runs them all with [`conformance_suite!`],
//! one `#[test]` per case:
//!
//! ```ignore
//! nightshift_journal::conformance_suite!(|| open_a_fresh_journal());
//! ```
//!
//! where the closure returns `Option<(guard, Journal)>`: `None` skips the suite (a backend
//! whose server is not configured), and the guard (a temporary directory, say) lives as long
//! as the case runs.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is the test failing"
)]

use crate::*;

/// Runs every case of the conformance suite as a `#[test]` against journals from `$open`.
#[macro_export]
macro_rules! conformance_suite {
    ($open:expr) => {
        $crate::conformance_suite!(@cases $open;
            records_a_task_its_steps_and_events_in_order,
            prefix_matching_several_tasks_is_ambiguous,
            key_value_state_and_checkpoints_round_trip,
            records_chain_and_a_failed_signature_commits_nothing,
        );
    };
    (@cases $open:expr; $($case:ident,)*) => {
        $(
            #[test]
            fn $case() {
                if let Some((_guard, journal)) = ($open)() {
                    $crate::conformance::$case(&journal);
                }
            }
        )*
    };
}

fn task<'a>(id: &'a str) -> NewTask<'a> {
    NewTask {
        id,
        pipeline: "p",
        pipeline_path: "p.toml",
        pipeline_digest: "00",
        workspace: "/w",
        params: "{}",
        pipeline_text: "name = \"p\"",
        steps: vec![
            NewStep {
                step_id: "a",
                kind: "plugin",
                plugin: "x",
                plugin_digest: "11",
                is_check: false,
            },
            NewStep {
                step_id: "b",
                kind: "plugin",
                plugin: "y",
                plugin_digest: "22",
                is_check: false,
            },
        ],
    }
}

pub fn records_a_task_its_steps_and_events_in_order(journal: &Journal) {
    journal.create_task(&task("0123abcd")).expect("create");
    journal
        .start_attempt("0123abcd", "a", 1, None)
        .expect("start");
    for message in ["one", "two"] {
        journal
            .append_event(&NewEvent {
                task_id: "0123abcd",
                step_id: Some("a"),
                attempt: Some(1),
                kind: "log",
                level: Some("info"),
                message,
                data: None,
            })
            .expect("event");
    }
    let result = StepResult {
        status: StepStatus::Failed,
        summary: None,
        data: None,
        checks: None,
        caveats: None,
        error: Some("boom".into()),
        duration_ms: 5,
    };
    let commit = Commit {
        task_id: "0123abcd",
        step_id: "a",
        attempt: 1,
        result: &result,
        artifacts: &[],
        apply_pending: false,
        fence: None,
    };
    let record = journal
        .commit_attempt(&commit, |head| Ok::<_, ()>(fake_record(head, "a")))
        .expect("commit")
        .expect("signed");
    assert_eq!((record.seq, record.attempt), (1, 1));
    journal
        .finish_task("0123abcd", TaskStatus::Failed, None)
        .expect("end");

    let found = journal.find_task("0123").expect("by prefix");
    assert_eq!(found.status, TaskStatus::Failed);
    let steps = journal.steps("0123abcd").expect("steps");
    let statuses: Vec<_> = steps.iter().map(|s| s.status).collect();
    assert_eq!(statuses, [StepStatus::Failed, StepStatus::Skipped]);
    assert_eq!(steps[0].error.as_deref(), Some("boom"));
    let events = journal.events("0123abcd", 0).expect("events");
    let messages: Vec<_> = events.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages, ["one", "two"]);
    assert_eq!(
        journal
            .events("0123abcd", events[0].seq)
            .expect("after")
            .len(),
        1
    );
}

pub fn prefix_matching_several_tasks_is_ambiguous(journal: &Journal) {
    journal.create_task(&task("abc1")).expect("create");
    journal.create_task(&task("abc2")).expect("create");
    assert!(matches!(
        journal.find_task("abc"),
        Err(JournalError::AmbiguousTask { count: 2, .. })
    ));
    assert!(matches!(
        journal.find_task("zzz"),
        Err(JournalError::TaskNotFound(_))
    ));
}

pub fn key_value_state_and_checkpoints_round_trip(journal: &Journal) {
    journal.create_task(&task("t1")).expect("create");
    assert_eq!(journal.kv_get("t1", "k").expect("get"), None);
    journal.kv_set("t1", "k", b"v1").expect("set");
    journal.kv_set("t1", "k", b"v2").expect("set");
    assert_eq!(
        journal.kv_get("t1", "k").expect("get"),
        Some(b"v2".to_vec())
    );
    journal
        .save_checkpoint("t1", "a", b"half")
        .expect("checkpoint");
    assert_eq!(
        journal.checkpoint("t1", "a").expect("read"),
        Some(b"half".to_vec())
    );
}

fn fake_record(head: &ChainHead, step: &str) -> RecordRow {
    RecordRow {
        seq: head.seq,
        step_id: step.to_owned(),
        attempt: 1,
        body: format!("{{\"prev\":{:?}}}", head.prev_hash),
        hash: format!("hash-{}", head.seq),
        signature: "sig".into(),
        key_id: "key".into(),
    }
}

pub fn records_chain_and_a_failed_signature_commits_nothing(journal: &Journal) {
    journal.create_task(&task("t")).expect("create");
    let result = StepResult {
        status: StepStatus::Succeeded,
        summary: Some("done".into()),
        data: Some("{}".into()),
        checks: None,
        caveats: None,
        error: None,
        duration_ms: 1,
    };
    let artifact = NewArtifact {
        name: "out/x".into(),
        kind: "file",
        change: Some("created"),
        blake3: Some("00".into()),
        bytes: 1,
    };
    journal.start_attempt("t", "a", 1, None).expect("start");
    let commit = Commit {
        task_id: "t",
        step_id: "a",
        attempt: 1,
        result: &result,
        artifacts: std::slice::from_ref(&artifact),
        apply_pending: true,
        fence: None,
    };
    let refused = journal
        .commit_attempt(&commit, |_| Err("no key"))
        .expect("no sqlite error");
    assert_eq!(refused, Err("no key"));
    assert!(journal.records("t").expect("records").is_empty());
    assert!(
        journal.artifacts("t").expect("artifacts").is_empty(),
        "rolled back with the record"
    );
    assert!(journal.pending_applies().expect("pending").is_empty());

    journal
        .commit_attempt(&commit, |head| Ok::<_, ()>(fake_record(head, "a")))
        .expect("commit")
        .expect("signed");
    journal.start_attempt("t", "b", 1, None).expect("start");
    let second = Commit {
        step_id: "b",
        artifacts: &[],
        apply_pending: false,
        ..commit
    };
    let record = journal
        .commit_attempt(&second, |head| Ok::<_, ()>(fake_record(head, "b")))
        .expect("commit")
        .expect("signed");
    assert_eq!(record.seq, 2);
    assert_eq!(record.body, "{\"prev\":Some(\"hash-1\")}");
    let pending = journal.pending_applies().expect("pending");
    assert_eq!(pending.len(), 1);
    journal.mark_applied("t", "a").expect("applied");
    assert!(journal.pending_applies().expect("pending").is_empty());
}
