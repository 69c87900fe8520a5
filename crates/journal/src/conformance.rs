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
//!
//! Every `pub fn` taking a journal is a case, and the macro's list is the one place that runs
//! it: [`assert_suite_complete`] (run with the suite) fails when a case is missing from the
//! list or a method of [`Store`] is called by no case.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is the test failing"
)]

use std::time::Duration;

use crate::backend::{
    CANCELLED_WHILE_QUEUED, claim_message, paused_caveat, release_message, skipped_caveat,
};
use crate::time_format::now_ms;
use crate::*;

/// Runs every case of the conformance suite as a `#[test]` against journals from `$open`,
/// and a test that the suite is complete.
#[macro_export]
macro_rules! conformance_suite {
    ($open:expr) => {
        $crate::conformance_suite!(@list cases $open);
    };
    // The one list of cases: hands them to `@cases` (tests) or `@names` (their names).
    (@list $then:ident $($args:tt)*) => {
        $crate::conformance_suite! { @$then $($args)*;
            records_a_task_its_steps_and_events_in_order,
            prefix_matching_several_tasks_is_ambiguous,
            key_value_state_and_checkpoints_round_trip,
            records_chain_and_a_failed_signature_commits_nothing,
            a_new_task_runs_with_its_steps_pending,
            an_exact_id_wins_over_the_ids_it_prefixes,
            recent_tasks_come_newest_first_up_to_the_limit,
            starting_an_attempt_marks_the_step_running_until_it_commits,
            a_commit_records_the_result_and_artifacts_of_its_step,
            a_pending_apply_names_its_workspace_until_marked_applied,
            a_signing_key_is_found_once_a_record_is_signed,
            notes_are_the_note_events_of_one_attempt_in_order,
            latest_progress_is_the_newest_progress_event,
            a_cancel_request_is_remembered,
            a_saved_report_is_replaced_by_the_next,
            finishing_skips_the_steps_that_never_ran,
            reopening_a_task_clears_its_end,
            latest_product_is_the_last_successful_change_in_the_workspace,
            the_location_names_the_journal_without_credentials,
            an_idempotency_key_returns_the_task_it_queued,
            claims_take_the_highest_priority_then_the_oldest,
            a_task_not_due_yet_is_not_claimed,
            an_expired_lease_is_reclaimed_with_a_higher_token,
            a_heartbeat_extends_only_a_current_lease,
            a_released_task_is_queued_again_for_the_next_claim,
            a_stale_lease_cannot_start_an_attempt,
            a_stale_lease_cannot_commit_an_attempt,
            a_stale_lease_cannot_finish_the_task,
            a_queued_task_can_be_cancelled_until_claimed,
            the_lane_is_busy_while_a_task_is_due_or_leased,
            tasks_of_one_serial_key_never_run_at_once,
            a_submit_wakes_listening_workers,
            a_release_wakes_listening_workers,
            a_fired_schedule_wakes_listening_workers,
            schedules_are_added_once_and_listed_by_name,
            a_paused_schedule_does_not_fire,
            resuming_a_schedule_skips_the_runs_missed_while_paused,
            a_due_run_fires_once,
            an_overlapping_run_is_skipped_with_a_caveat,
            removing_a_schedule_forgets_its_runs_and_caveats_not_its_tasks,
            finished_tasks_before_a_cutoff_come_oldest_first,
            deleting_a_task_removes_everything_recorded_about_it,
            deleting_a_fired_task_keeps_its_run_without_it,
        }
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

        #[test]
        fn conformance_suite_is_complete() {
            $crate::conformance::assert_suite_complete();
        }
    };
    (@names; $($case:ident,)*) => {
        [$(stringify!($case)),*]
    };
}

/// The cases the macro runs, by name.
pub const CASES: &[&str] = &crate::conformance_suite!(@list names);

/// Fails unless the macro lists every case defined here, and the cases call every method of
/// [`Store`].
pub fn assert_suite_complete() {
    let suite = include_str!("conformance.rs");
    let defined: Vec<&str> = suite
        .lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("pub fn ")?.split_once('(')?;
            rest.starts_with("journal: &Journal)").then_some(name)
        })
        .collect();
    let unlisted: Vec<&str> = defined
        .iter()
        .copied()
        .filter(|name| !CASES.contains(name))
        .collect();
    assert!(
        unlisted.is_empty(),
        "cases missing from the list in conformance_suite!, so never run: {unlisted:?}"
    );
    assert_eq!(CASES.len(), defined.len(), "a case is listed twice");

    let store = include_str!("lib.rs")
        .split_once("pub trait Store")
        .and_then(|(_, rest)| rest.split_once("\n}\n"))
        .expect("the Store trait in lib.rs")
        .0;
    let methods: Vec<&str> = store
        .lines()
        .filter_map(|line| line.trim().strip_prefix("fn ")?.split_once('('))
        .map(|(name, _)| name)
        .collect();
    assert!(methods.len() > 40, "read the Store trait: {methods:?}");
    let unexercised: Vec<&str> = methods
        .into_iter()
        .filter(|name| !suite.contains(&format!(".{name}(")))
        .collect();
    assert!(
        unexercised.is_empty(),
        "Store methods no conformance case calls: {unexercised:?}"
    );
}

// ---- Fixtures ----

fn task<'a>(id: &'a str) -> NewTask<'a> {
    task_in(id, "/w")
}

fn task_in<'a>(id: &'a str, workspace: &'a str) -> NewTask<'a> {
    NewTask {
        id,
        pipeline: "p",
        pipeline_path: "p.toml",
        pipeline_digest: "00",
        workspace,
        params: "{}",
        pipeline_text: "name = \"p\"",
        steps: vec![
            NewStep {
                step_id: "a",
                kind: ComponentKind::Plugin,
                plugin: "x",
                plugin_digest: "11",
                is_check: false,
            },
            NewStep {
                step_id: "b",
                kind: ComponentKind::Command,
                plugin: "y",
                plugin_digest: "22",
                is_check: true,
            },
        ],
    }
}

fn ended(status: StepStatus) -> StepResult {
    StepResult {
        status,
        summary: Some("done".into()),
        data: Some("{}".into()),
        checks: None,
        caveats: None,
        error: (status == StepStatus::Failed).then(|| "boom".into()),
        duration_ms: 1,
    }
}

/// The end of attempt `attempt` of a step: no artifacts, nothing to apply, no fence.
fn ending<'a>(
    task_id: &'a str,
    step_id: &'a str,
    attempt: u32,
    result: &'a StepResult,
) -> Commit<'a> {
    Commit {
        task_id,
        step_id,
        attempt,
        result,
        artifacts: &[],
        apply_pending: false,
        fence: None,
    }
}

fn file(name: &str, blake3: Option<&str>) -> NewArtifact {
    NewArtifact {
        name: name.into(),
        kind: ArtifactKind::File,
        change: Some(if blake3.is_some() {
            FileChange::Created
        } else {
            FileChange::Deleted
        }),
        blake3: blake3.map(Into::into),
        bytes: 1,
    }
}

fn fake_record(head: &ChainHead, step: &str, attempt: u32) -> RecordRow {
    RecordRow {
        seq: head.seq,
        step_id: step.to_owned(),
        attempt,
        body: format!("{{\"prev\":{:?}}}", head.prev_hash),
        hash: format!("hash-{}", head.seq),
        signature: "sig".into(),
        key_id: "key".into(),
    }
}

/// Commits with a signer that never refuses.
fn commit(journal: &Journal, commit: &Commit<'_>) -> Result<RecordRow> {
    journal
        .commit_attempt(commit, |head| {
            Ok::<_, ()>(fake_record(head, commit.step_id, commit.attempt))
        })
        .map(|signed| signed.expect("the fake signer never refuses"))
}

/// Starts and commits attempt 1 of a step.
fn run_step(journal: &Journal, task_id: &str, step_id: &str, status: StepStatus) {
    journal
        .start_attempt(task_id, step_id, 1, None)
        .expect("start");
    commit(journal, &ending(task_id, step_id, 1, &ended(status))).expect("commit");
}

fn event<'a>(task_id: &'a str, kind: EventKind, message: &'a str) -> NewEvent<'a> {
    NewEvent {
        task_id,
        step_id: Some("a"),
        attempt: Some(1),
        kind,
        level: Some(LogLevel::Info),
        message,
        data: None,
    }
}

fn messages(journal: &Journal, task_id: &str, kind: EventKind) -> Vec<String> {
    let events = journal.events(task_id, 0).expect("events");
    events
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.message)
        .collect()
}

fn step_statuses(journal: &Journal, task_id: &str) -> Vec<StepStatus> {
    let steps = journal.steps(task_id).expect("steps");
    steps.iter().map(|s| s.status).collect()
}

fn submit(journal: &Journal, id: &str, queue: QueueOptions<'_>) -> Submitted {
    journal.submit_task(&task(id), &queue).expect("submit")
}

fn submit_now(journal: &Journal, id: &str) {
    submit(journal, id, QueueOptions::default());
}

/// Past the journal's millisecond timestamps, so the next task is strictly younger.
fn tick() {
    std::thread::sleep(Duration::from_millis(3));
}

fn claim(journal: &Journal, owner: &str) -> Option<Lease> {
    journal.claim(owner, 60_000).expect("claim")
}

fn claimed_id(journal: &Journal, owner: &str) -> Option<String> {
    claim(journal, owner).map(|lease| lease.task_id)
}

/// Queues `id`; worker `old` claims it under a lease that has already expired, and worker
/// `new` takes it over: (the stale lease, the current one).
fn taken_over(journal: &Journal, id: &str) -> (Lease, Lease) {
    submit_now(journal, id);
    let stale = journal
        .claim("old", -1_000)
        .expect("claim")
        .expect("queued");
    let current = claim(journal, "new").expect("the expired lease");
    assert_eq!(current.task_id, id);
    (stale, current)
}

fn assert_lease_lost<T: std::fmt::Debug>(result: Result<T>, stale: &Lease, current: &Lease) {
    match result {
        Err(JournalError::LeaseLost {
            task,
            token,
            current: now,
        }) => assert_eq!(
            (task.as_str(), token, now),
            (stale.task_id.as_str(), stale.token, current.token)
        ),
        other => panic!("expected the stale lease to be refused, got {other:?}"),
    }
}

fn schedule(name: &str) -> ScheduleRow {
    ScheduleRow {
        name: name.into(),
        cron: "0 * * * *".into(),
        zone: "Europe/Paris".into(),
        pipeline_path: "p.toml".into(),
        workspace: "/w".into(),
        params: "{\"n\":1}".into(),
        catch_up_ms: Some(60_000),
        overlap: Overlap::AllowAll,
        paused: false,
        considered_until: 1_000,
        created_at: time_format::now(),
    }
}

/// A firing of `name` from `seen` to `due`, starting the run due at `due` as task `id`.
fn firing<'a>(name: &'a str, seen: i64, due: i64, id: &'a str, overlap: Overlap) -> Firing<'a> {
    Firing {
        schedule: name,
        seen_until: seen,
        until: due,
        start: vec![(due, task(id))],
        caveats: vec![],
        overlap,
    }
}

fn fire(journal: &Journal, firing: &Firing<'_>) -> Option<Vec<String>> {
    journal.fire_schedule(firing).expect("fire")
}

fn the_schedule(journal: &Journal, name: &str) -> ScheduleRow {
    let all = journal.schedules().expect("schedules");
    all.into_iter()
        .find(|s| s.name == name)
        .expect("the schedule")
}

/// A row of `schedule_runs`.
fn run(due: i64, task_id: Option<&str>, outcome: &str) -> crate::ScheduleRun {
    crate::ScheduleRun {
        due_at_ms: due,
        task_id: task_id.map(Into::into),
        outcome: outcome.into(),
    }
}

fn caveats(journal: &Journal, name: &str) -> Vec<String> {
    let caveats = journal.schedule_caveats(name, 10).expect("caveats");
    caveats.into_iter().map(|c| c.message).collect()
}

/// Listens for wakeups, lets pass any that come on their own (PostgreSQL wakes once when it
/// starts listening), runs `act`, and expects a wakeup within a few seconds.
fn expect_wakeup_after(journal: &Journal, what: &str, act: impl FnOnce()) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let wakeups = journal
            .queue_wakeups()
            .expect("listen")
            .expect("every backend delivers wakeups inside a runtime");
        let settle = tokio::time::Instant::now() + Duration::from_secs(2);
        while tokio::time::Instant::now() < settle
            && tokio::time::timeout(Duration::from_millis(250), wakeups.woken())
                .await
                .is_ok()
        {}
        act();
        tokio::time::timeout(Duration::from_secs(10), wakeups.woken())
            .await
            .unwrap_or_else(|_| panic!("no wakeup after {what}"));
    });
}

// ---- Tasks, steps and events ----

pub fn records_a_task_its_steps_and_events_in_order(journal: &Journal) {
    journal.create_task(&task("0123abcd")).expect("create");
    journal
        .start_attempt("0123abcd", "a", 1, None)
        .expect("start");
    for message in ["one", "two"] {
        journal
            .append_event(&event("0123abcd", EventKind::Log, message))
            .expect("event");
    }
    let result = ended(StepStatus::Failed);
    let record = commit(journal, &ending("0123abcd", "a", 1, &result)).expect("commit");
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
    let first = &events[0];
    assert_eq!(
        (first.step_id.as_deref(), first.attempt, first.kind),
        (Some("a"), Some(1), EventKind::Log)
    );
    assert_eq!(first.level, Some(LogLevel::Info));
    assert!(!first.at.is_empty());
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

pub fn an_exact_id_wins_over_the_ids_it_prefixes(journal: &Journal) {
    for id in ["abc1", "abc2", "abc"] {
        journal.create_task(&task(id)).expect("create");
    }
    assert_eq!(journal.find_task("abc").expect("exact").id, "abc");
    assert_eq!(journal.find_task("abc2").expect("exact").id, "abc2");
    assert!(matches!(
        journal.find_task("ab"),
        Err(JournalError::AmbiguousTask { count: 3, .. })
    ));
}

pub fn a_new_task_runs_with_its_steps_pending(journal: &Journal) {
    journal.create_task(&task("t")).expect("create");
    let found = journal.find_task("t").expect("found");
    assert_eq!(
        (
            found.pipeline.as_str(),
            found.pipeline_path.as_str(),
            found.pipeline_digest.as_str(),
            found.workspace.as_str(),
            found.params.as_str(),
            found.pipeline_text.as_deref(),
        ),
        ("p", "p.toml", "00", "/w", "{}", Some("name = \"p\""))
    );
    assert_eq!(found.status, TaskStatus::Running);
    assert!(found.started_at.is_some() && !found.created_at.is_empty());
    assert_eq!((found.finished_at, found.current_step), (None, None));
    assert!(!found.background);
    assert_eq!((found.lease_owner, found.schedule), (None, None));

    let steps = journal.steps("t").expect("steps");
    let shapes: Vec<_> = steps
        .iter()
        .map(|s| {
            (
                s.step_id.as_str(),
                s.kind.as_str(),
                s.plugin.as_str(),
                s.plugin_digest.as_str(),
                s.is_check,
            )
        })
        .collect();
    assert_eq!(
        shapes,
        [
            ("a", "plugin", "x", "11", false),
            ("b", "command", "y", "22", true)
        ]
    );
    assert!(
        steps
            .iter()
            .all(|s| s.status == StepStatus::Pending && s.attempts == 0 && s.started_at.is_none())
    );
}

pub fn recent_tasks_come_newest_first_up_to_the_limit(journal: &Journal) {
    for id in ["t1", "t2", "t3"] {
        journal.create_task(&task(id)).expect("create");
        tick();
    }
    let recent = journal.recent_tasks(2).expect("recent");
    let ids: Vec<_> = recent.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["t3", "t2"]);
    assert_eq!(journal.recent_tasks(10).expect("recent").len(), 3);
}

pub fn starting_an_attempt_marks_the_step_running_until_it_commits(journal: &Journal) {
    journal.create_task(&task("t")).expect("create");
    assert!(journal.dangling_attempts("t").expect("dangling").is_empty());
    journal.start_attempt("t", "a", 1, None).expect("start");
    let step = journal.steps("t").expect("steps").remove(0);
    assert_eq!((step.status, step.attempts), (StepStatus::Running, 1));
    let first_start = step.started_at.expect("started");
    let found = journal.find_task("t").expect("task");
    assert_eq!(found.current_step.as_deref(), Some("a"));
    let dangling = journal.dangling_attempts("t").expect("dangling");
    assert_eq!(dangling.len(), 1);
    assert_eq!(
        (dangling[0].step_id.as_str(), dangling[0].attempt),
        ("a", 1)
    );
    assert_eq!(dangling[0].started_at, first_start);

    let result = ended(StepStatus::Failed);
    commit(journal, &ending("t", "a", 1, &result)).expect("commit");
    assert!(journal.dangling_attempts("t").expect("dangling").is_empty());
    tick();
    journal.start_attempt("t", "a", 2, None).expect("retry");
    let step = journal.steps("t").expect("steps").remove(0);
    assert_eq!((step.status, step.attempts), (StepStatus::Running, 2));
    assert_eq!(step.started_at.as_deref(), Some(first_start.as_str()));
    let dangling = journal.dangling_attempts("t").expect("dangling");
    assert_eq!(dangling.len(), 1);
    assert_eq!(
        (dangling[0].step_id.as_str(), dangling[0].attempt),
        ("a", 2)
    );
}

pub fn a_commit_records_the_result_and_artifacts_of_its_step(journal: &Journal) {
    journal.create_task(&task("t")).expect("create");
    let result = StepResult {
        status: StepStatus::Succeeded,
        summary: Some("two files".into()),
        data: Some("{\"n\":2}".into()),
        checks: Some("[]".into()),
        caveats: Some("[\"c\"]".into()),
        error: None,
        duration_ms: 42,
    };
    let made = [file("out/z", Some("0z")), file("out/m", None)];
    journal.start_attempt("t", "a", 1, None).expect("start");
    let a = Commit {
        artifacts: &made,
        ..ending("t", "a", 1, &result)
    };
    commit(journal, &a).expect("commit");
    let early = [file("out/a", Some("0a"))];
    journal.start_attempt("t", "b", 1, None).expect("start");
    let b = Commit {
        artifacts: &early,
        ..ending("t", "b", 1, &result)
    };
    commit(journal, &b).expect("commit");

    let step = journal.steps("t").expect("steps").remove(0);
    assert_eq!(step.status, StepStatus::Succeeded);
    assert_eq!(
        (
            step.summary.as_deref(),
            step.data.as_deref(),
            step.checks.as_deref(),
            step.caveats.as_deref(),
            step.error.as_deref(),
            step.duration_ms,
        ),
        (
            Some("two files"),
            Some("{\"n\":2}"),
            Some("[]"),
            Some("[\"c\"]"),
            None,
            Some(42)
        )
    );
    assert!(step.finished_at.is_some());

    let of_a = journal.attempt_artifacts("t", "a", 1).expect("artifacts");
    let rows: Vec<_> = of_a
        .iter()
        .map(|r| {
            (
                r.step_id.as_str(),
                r.attempt,
                r.name.as_str(),
                r.kind.as_str(),
                r.change.map(FileChange::as_str),
                r.blake3.as_deref(),
                r.bytes,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("a", 1, "out/m", "file", Some("deleted"), None, 1),
            ("a", 1, "out/z", "file", Some("created"), Some("0z"), 1)
        ]
    );
    assert!(
        journal
            .attempt_artifacts("t", "a", 2)
            .expect("artifacts")
            .is_empty()
    );
    let all = journal.artifacts("t").expect("artifacts");
    let names: Vec<_> = all.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["out/m", "out/z", "out/a"], "in step order");
}

pub fn records_chain_and_a_failed_signature_commits_nothing(journal: &Journal) {
    journal.create_task(&task("t")).expect("create");
    let result = ended(StepStatus::Succeeded);
    let artifact = file("out/x", Some("00"));
    journal.start_attempt("t", "a", 1, None).expect("start");
    let first = Commit {
        artifacts: std::slice::from_ref(&artifact),
        apply_pending: true,
        ..ending("t", "a", 1, &result)
    };
    let refused = journal
        .commit_attempt(&first, |_| Err("no key"))
        .expect("no store error");
    assert_eq!(refused, Err("no key"));
    assert!(journal.records("t").expect("records").is_empty());
    assert!(
        journal.artifacts("t").expect("artifacts").is_empty(),
        "rolled back with the record"
    );
    assert!(journal.pending_applies().expect("pending").is_empty());
    assert_eq!(step_statuses(journal, "t")[0], StepStatus::Running);

    commit(journal, &first).expect("commit");
    journal.start_attempt("t", "b", 1, None).expect("start");
    let record = commit(journal, &ending("t", "b", 1, &result)).expect("commit");
    assert_eq!(record.seq, 2);
    assert_eq!(record.body, "{\"prev\":Some(\"hash-1\")}");
    let records = journal.records("t").expect("records");
    let chain: Vec<_> = records
        .iter()
        .map(|r| (r.seq, r.step_id.as_str(), r.hash.as_str()))
        .collect();
    assert_eq!(chain, [(1, "a", "hash-1"), (2, "b", "hash-2")]);
    assert_eq!(records[1], record);
    let pending = journal.pending_applies().expect("pending");
    assert_eq!(pending.len(), 1);
    journal.mark_applied("t", "a").expect("applied");
    assert!(journal.pending_applies().expect("pending").is_empty());
}

pub fn a_pending_apply_names_its_workspace_until_marked_applied(journal: &Journal) {
    let result = ended(StepStatus::Succeeded);
    for (id, workspace) in [("t1", "/w1"), ("t2", "/w2")] {
        journal
            .create_task(&task_in(id, workspace))
            .expect("create");
        tick();
    }
    for (id, attempt) in [("t2", 1), ("t1", 2)] {
        journal
            .start_attempt(id, "a", attempt, None)
            .expect("start");
        let pending = Commit {
            apply_pending: true,
            ..ending(id, "a", attempt, &result)
        };
        commit(journal, &pending).expect("commit");
    }
    let apply = |task_id: &str, attempt, workspace: &str| PendingApply {
        task_id: task_id.into(),
        step_id: "a".into(),
        attempt,
        workspace: workspace.into(),
    };
    assert_eq!(
        journal.pending_applies().expect("pending"),
        [apply("t1", 2, "/w1"), apply("t2", 1, "/w2")],
        "oldest task first"
    );
    journal.mark_applied("t1", "a").expect("applied");
    assert_eq!(
        journal.pending_applies().expect("pending"),
        [apply("t2", 1, "/w2")]
    );
}

pub fn a_signing_key_is_found_once_a_record_is_signed(journal: &Journal) {
    assert_eq!(journal.any_signing_key().expect("key"), None);
    journal.create_task(&task("t")).expect("create");
    assert_eq!(journal.any_signing_key().expect("key"), None);
    run_step(journal, "t", "a", StepStatus::Succeeded);
    assert_eq!(
        journal.any_signing_key().expect("key").as_deref(),
        Some("key")
    );
}

pub fn notes_are_the_note_events_of_one_attempt_in_order(journal: &Journal) {
    journal.create_task(&task("t")).expect("create");
    for message in ["first", "second"] {
        journal
            .append_event(&event("t", EventKind::Note, message))
            .expect("note");
        journal
            .append_event(&event("t", EventKind::Log, "noise"))
            .expect("log");
    }
    let retry = NewEvent {
        attempt: Some(2),
        ..event("t", EventKind::Note, "retried")
    };
    journal.append_event(&retry).expect("note");
    assert_eq!(
        journal.notes("t", "a", 1).expect("notes"),
        ["first", "second"]
    );
    assert_eq!(journal.notes("t", "a", 2).expect("notes"), ["retried"]);
    assert!(journal.notes("t", "b", 1).expect("notes").is_empty());
}

pub fn latest_progress_is_the_newest_progress_event(journal: &Journal) {
    journal.create_task(&task("t")).expect("create");
    assert_eq!(journal.latest_progress("t").expect("progress"), None);
    let half = NewEvent {
        data: Some("{\"done\":1}"),
        ..event("t", EventKind::Progress, "half")
    };
    journal.append_event(&half).expect("progress");
    assert_eq!(
        journal.latest_progress("t").expect("progress"),
        Some(crate::Progress {
            message: "half".into(),
            data: Some("{\"done\":1}".into())
        })
    );
    journal
        .append_event(&event("t", EventKind::Progress, "nearly"))
        .expect("progress");
    journal
        .append_event(&event("t", EventKind::Log, "later"))
        .expect("log");
    assert_eq!(
        journal.latest_progress("t").expect("progress"),
        Some(crate::Progress {
            message: "nearly".into(),
            data: None
        })
    );
}

pub fn a_cancel_request_is_remembered(journal: &Journal) {
    journal.create_task(&task("t")).expect("create");
    journal.create_task(&task("u")).expect("create");
    assert!(!journal.cancel_requested("t").expect("asked"));
    journal.request_cancel("t").expect("cancel");
    assert!(journal.cancel_requested("t").expect("asked"));
    assert!(!journal.cancel_requested("u").expect("asked"));
}

pub fn a_saved_report_is_replaced_by_the_next(journal: &Journal) {
    journal.create_task(&task("t")).expect("create");
    assert_eq!(journal.report("t").expect("report"), None);
    journal.save_report("t", "b1", "s1", "k1").expect("save");
    journal.save_report("t", "b2", "s2", "k2").expect("save");
    assert_eq!(
        journal.report("t").expect("report"),
        Some(crate::SealedReport {
            blake3: "b2".into(),
            signature: "s2".into(),
            key_id: "k2".into()
        })
    );
}

pub fn finishing_skips_the_steps_that_never_ran(journal: &Journal) {
    journal.create_task(&task("t")).expect("create");
    run_step(journal, "t", "a", StepStatus::Succeeded);
    journal
        .finish_task("t", TaskStatus::Cancelled, None)
        .expect("finish");
    assert_eq!(
        step_statuses(journal, "t"),
        [StepStatus::Succeeded, StepStatus::Skipped]
    );
    let found = journal.find_task("t").expect("task");
    assert_eq!(found.status, TaskStatus::Cancelled);
    assert!(found.finished_at.is_some());
    assert_eq!(found.current_step, None);
}

pub fn reopening_a_task_clears_its_end(journal: &Journal) {
    journal.create_task(&task("t")).expect("create");
    run_step(journal, "t", "a", StepStatus::Failed);
    journal
        .finish_task("t", TaskStatus::Failed, None)
        .expect("finish");
    journal.reopen_task("t").expect("reopen");
    let found = journal.find_task("t").expect("task");
    assert_eq!(
        (found.status, found.finished_at),
        (TaskStatus::Running, None)
    );
    assert_eq!(
        step_statuses(journal, "t"),
        [StepStatus::Failed, StepStatus::Skipped],
        "its steps stay as they ended"
    );
}

pub fn latest_product_is_the_last_successful_change_in_the_workspace(journal: &Journal) {
    let changes = [
        ("t1", "/w", StepStatus::Succeeded, Some("01")),
        ("t2", "/w", StepStatus::Succeeded, None),
        ("t3", "/w", StepStatus::Failed, Some("03")),
        ("t4", "/v", StepStatus::Succeeded, Some("04")),
    ];
    for (id, workspace, status, blake3) in changes {
        journal
            .create_task(&task_in(id, workspace))
            .expect("create");
        journal.start_attempt(id, "a", 1, None).expect("start");
        let result = ended(status);
        let made = [file("out/x", blake3)];
        let change = Commit {
            artifacts: &made,
            ..ending(id, "a", 1, &result)
        };
        commit(journal, &change).expect("commit");
    }
    assert_eq!(
        journal.latest_product("/w", "out/x").expect("product"),
        Some(crate::LatestProduct {
            task_id: "t2".into(),
            blake3: None
        }),
        "the deletion by t2; t3 failed"
    );
    assert_eq!(
        journal.latest_product("/v", "out/x").expect("product"),
        Some(crate::LatestProduct {
            task_id: "t4".into(),
            blake3: Some("04".into())
        })
    );
    assert_eq!(journal.latest_product("/w", "out/y").expect("none"), None);
}

pub fn key_value_state_and_checkpoints_round_trip(journal: &Journal) {
    journal.create_task(&task("t1")).expect("create");
    journal.create_task(&task("t2")).expect("create");
    assert_eq!(journal.kv_get("t1", "k").expect("get"), None);
    journal.kv_set("t1", "k", b"v1").expect("set");
    journal.kv_set("t1", "k", b"v2").expect("set");
    assert_eq!(
        journal.kv_get("t1", "k").expect("get"),
        Some(b"v2".to_vec())
    );
    assert_eq!(journal.kv_get("t2", "k").expect("get"), None, "per task");
    assert_eq!(journal.checkpoint("t1", "a").expect("read"), None);
    journal
        .save_checkpoint("t1", "a", b"quarter")
        .expect("checkpoint");
    journal
        .save_checkpoint("t1", "a", b"half")
        .expect("checkpoint");
    assert_eq!(
        journal.checkpoint("t1", "a").expect("read"),
        Some(b"half".to_vec())
    );
    assert_eq!(journal.checkpoint("t1", "b").expect("read"), None);
}

pub fn the_location_names_the_journal_without_credentials(journal: &Journal) {
    let location = journal.location();
    assert!(!location.is_empty());
    assert!(!location.contains('@'), "{location}");
    assert_eq!(journal.location(), location);
}

// ---- The queue: submits, claims, leases and fences ----

pub fn an_idempotency_key_returns_the_task_it_queued(journal: &Journal) {
    let keyed = |key| QueueOptions {
        priority: 3,
        idempotency_key: Some(key),
        ..QueueOptions::default()
    };
    let first = submit(journal, "q1", keyed("k"));
    assert_eq!(
        first,
        Submitted {
            task_id: "q1".into(),
            existing: false
        }
    );
    let again = submit(journal, "q2", keyed("k"));
    assert_eq!(
        again,
        Submitted {
            task_id: "q1".into(),
            existing: true
        }
    );
    assert!(matches!(
        journal.find_task("q2"),
        Err(JournalError::TaskNotFound(_))
    ));
    assert!(!submit(journal, "q3", keyed("other")).existing);

    let queued = journal.find_task("q1").expect("queued");
    assert_eq!(queued.status, TaskStatus::Queued);
    assert!(queued.background);
    assert_eq!((queued.priority, queued.started_at), (3, None));
    assert_eq!(step_statuses(journal, "q1"), [StepStatus::Pending; 2]);
}

pub fn claims_take_the_highest_priority_then_the_oldest(journal: &Journal) {
    for (id, priority) in [("low", 0), ("high-old", 5), ("high-new", 5)] {
        let queue = QueueOptions {
            priority,
            ..QueueOptions::default()
        };
        submit(journal, id, queue);
        tick();
    }
    let lease = claim(journal, "w").expect("a task");
    assert_eq!(
        lease,
        Lease {
            task_id: "high-old".into(),
            owner: "w".into(),
            token: 1
        }
    );
    let running = journal.find_task("high-old").expect("task");
    assert_eq!(running.status, TaskStatus::Running);
    assert_eq!(running.lease_owner.as_deref(), Some("w"));
    assert!(running.lease_expires.expect("expiry") > now_ms() + 30_000);
    assert!(running.started_at.is_some());
    assert_eq!(
        messages(journal, "high-old", EventKind::Lease),
        [claim_message("w", None, 1)]
    );
    assert_eq!(claimed_id(journal, "w").as_deref(), Some("high-new"));
    assert_eq!(claimed_id(journal, "w").as_deref(), Some("low"));
    assert_eq!(claim(journal, "w"), None);
}

pub fn a_task_not_due_yet_is_not_claimed(journal: &Journal) {
    let later = QueueOptions {
        priority: 9,
        not_before: Some(now_ms() + 3_600_000),
        ..QueueOptions::default()
    };
    submit(journal, "later", later);
    assert_eq!(claim(journal, "w"), None);
    assert!(!journal.lane_busy().expect("busy"));
    let due = QueueOptions {
        not_before: Some(now_ms() - 1_000),
        ..QueueOptions::default()
    };
    submit(journal, "due", due);
    assert_eq!(claimed_id(journal, "w").as_deref(), Some("due"));
    assert_eq!(claim(journal, "w"), None);
}

pub fn an_expired_lease_is_reclaimed_with_a_higher_token(journal: &Journal) {
    submit_now(journal, "t");
    let dead = journal.claim("dead", -1_000).expect("claim").expect("t");
    tick();
    submit_now(journal, "waiting");
    let reclaimed = claim(journal, "alive").expect("the expired lease first");
    assert_eq!((reclaimed.task_id.as_str(), reclaimed.token), ("t", 2));
    assert!(reclaimed.token > dead.token);
    let found = journal.find_task("t").expect("task");
    assert_eq!(found.lease_owner.as_deref(), Some("alive"));
    assert_eq!(
        messages(journal, "t", EventKind::Lease),
        [
            claim_message("dead", None, 1),
            claim_message("alive", Some((Some("dead"), 1)), 2)
        ]
    );
    assert_eq!(claimed_id(journal, "other").as_deref(), Some("waiting"));
    assert_eq!(claim(journal, "other"), None, "the new lease is current");
}

pub fn a_heartbeat_extends_only_a_current_lease(journal: &Journal) {
    submit_now(journal, "t");
    let lease = journal.claim("w", 1_000).expect("claim").expect("t");
    assert!(journal.heartbeat(&lease, 600_000).expect("beat"));
    let expires = journal.find_task("t").expect("task").lease_expires;
    assert!(expires.expect("leased") > now_ms() + 300_000);
    journal
        .finish_task("t", TaskStatus::Succeeded, Some(&lease))
        .expect("finish");
    assert!(
        !journal.heartbeat(&lease, 600_000).expect("beat"),
        "the task ended"
    );

    let (stale, current) = taken_over(journal, "u");
    assert!(!journal.heartbeat(&stale, 600_000).expect("beat"));
    assert!(journal.heartbeat(&current, 600_000).expect("beat"));
}

pub fn a_released_task_is_queued_again_for_the_next_claim(journal: &Journal) {
    submit_now(journal, "t");
    let lease = claim(journal, "w").expect("t");
    journal
        .start_attempt("t", "a", 1, Some(&lease))
        .expect("start");
    assert!(journal.release(&lease, "shutting down").expect("release"));
    let found = journal.find_task("t").expect("task");
    assert_eq!(found.status, TaskStatus::Queued);
    assert_eq!(
        (found.lease_owner, found.lease_expires, found.current_step),
        (None, None, None)
    );
    let released = messages(journal, "t", EventKind::Lease);
    assert_eq!(
        released.last(),
        Some(&release_message(&lease, "shutting down"))
    );
    assert!(
        !journal.release(&lease, "again").expect("release"),
        "no longer current"
    );
    let resumed = claim(journal, "v").expect("queued again");
    assert_eq!((resumed.task_id.as_str(), resumed.token), ("t", 2));
    assert!(!journal.release(&lease, "stale").expect("release"));
}

pub fn a_stale_lease_cannot_start_an_attempt(journal: &Journal) {
    let (stale, current) = taken_over(journal, "t");
    assert_lease_lost(
        journal.start_attempt("t", "a", 1, Some(&stale)),
        &stale,
        &current,
    );
    assert_eq!(step_statuses(journal, "t")[0], StepStatus::Pending);
    assert!(journal.dangling_attempts("t").expect("dangling").is_empty());
    journal
        .start_attempt("t", "a", 1, Some(&current))
        .expect("the current lease starts it");
}

pub fn a_stale_lease_cannot_commit_an_attempt(journal: &Journal) {
    submit_now(journal, "t");
    let stale = journal.claim("old", -1_000).expect("claim").expect("t");
    journal
        .start_attempt("t", "a", 1, Some(&stale))
        .expect("start while current");
    let current = claim(journal, "new").expect("the expired lease");
    let result = ended(StepStatus::Succeeded);
    let made = [file("out/x", Some("01"))];
    let late = Commit {
        artifacts: &made,
        apply_pending: true,
        fence: Some(&stale),
        ..ending("t", "a", 1, &result)
    };
    assert_lease_lost(commit(journal, &late), &stale, &current);
    assert!(journal.records("t").expect("records").is_empty());
    assert!(journal.artifacts("t").expect("artifacts").is_empty());
    assert!(journal.pending_applies().expect("pending").is_empty());
    assert_eq!(step_statuses(journal, "t")[0], StepStatus::Running);

    let fenced = Commit {
        fence: Some(&current),
        ..late
    };
    assert_eq!(commit(journal, &fenced).expect("current").seq, 1);
}

pub fn a_stale_lease_cannot_finish_the_task(journal: &Journal) {
    let (stale, current) = taken_over(journal, "t");
    assert_lease_lost(
        journal.finish_task("t", TaskStatus::Failed, Some(&stale)),
        &stale,
        &current,
    );
    let found = journal.find_task("t").expect("task");
    assert_eq!(found.status, TaskStatus::Running);
    assert_eq!(found.lease_owner.as_deref(), Some("new"));
    assert_eq!(step_statuses(journal, "t"), [StepStatus::Pending; 2]);

    journal
        .finish_task("t", TaskStatus::Succeeded, Some(&current))
        .expect("the current lease finishes it");
    let found = journal.find_task("t").expect("task");
    assert_eq!(found.status, TaskStatus::Succeeded);
    assert_eq!((found.lease_owner, found.lease_expires), (None, None));
}

pub fn a_queued_task_can_be_cancelled_until_claimed(journal: &Journal) {
    submit_now(journal, "q");
    assert!(journal.cancel_queued("q").expect("cancel"));
    let found = journal.find_task("q").expect("task");
    assert_eq!(found.status, TaskStatus::Cancelled);
    assert!(found.finished_at.is_some());
    assert!(journal.cancel_requested("q").expect("asked"));
    assert_eq!(step_statuses(journal, "q"), [StepStatus::Skipped; 2]);
    assert_eq!(
        messages(journal, "q", EventKind::Cancel),
        [CANCELLED_WHILE_QUEUED]
    );
    assert!(!journal.cancel_queued("q").expect("twice"));
    assert_eq!(claim(journal, "w"), None);

    submit_now(journal, "r");
    claim(journal, "w").expect("r");
    assert!(!journal.cancel_queued("r").expect("running"));
    assert_eq!(
        journal.find_task("r").expect("task").status,
        TaskStatus::Running
    );
}

pub fn the_lane_is_busy_while_a_task_is_due_or_leased(journal: &Journal) {
    assert!(!journal.lane_busy().expect("busy"));
    journal.create_task(&task("foreground")).expect("create");
    assert!(!journal.lane_busy().expect("busy"), "foreground tasks");
    submit_now(journal, "t");
    assert!(journal.lane_busy().expect("busy"), "queued");
    let lease = claim(journal, "w").expect("t");
    assert!(journal.lane_busy().expect("busy"), "leased");
    journal
        .finish_task("t", TaskStatus::Succeeded, Some(&lease))
        .expect("finish");
    assert!(!journal.lane_busy().expect("busy"), "ended");
}

pub fn tasks_of_one_serial_key_never_run_at_once(journal: &Journal) {
    for id in ["s1", "s2"] {
        let serial = QueueOptions {
            serial_key: Some("nightly"),
            ..QueueOptions::default()
        };
        submit(journal, id, serial);
        tick();
    }
    let first = claim(journal, "w").expect("s1");
    assert_eq!(first.task_id, "s1");
    assert_eq!(claim(journal, "w"), None, "s2 waits for s1");
    journal
        .finish_task("s1", TaskStatus::Succeeded, Some(&first))
        .expect("finish");
    assert_eq!(claimed_id(journal, "w").as_deref(), Some("s2"));
}

pub fn a_submit_wakes_listening_workers(journal: &Journal) {
    expect_wakeup_after(journal, "a submit", || submit_now(journal, "t"));
}

pub fn a_release_wakes_listening_workers(journal: &Journal) {
    submit_now(journal, "t");
    let lease = claim(journal, "w").expect("t");
    expect_wakeup_after(journal, "a release", || {
        assert!(journal.release(&lease, "shutting down").expect("release"));
    });
}

pub fn a_fired_schedule_wakes_listening_workers(journal: &Journal) {
    assert!(journal.add_schedule(&schedule("s")).expect("add"));
    expect_wakeup_after(journal, "a firing", || {
        let queued = fire(
            journal,
            &firing("s", 1_000, 2_000, "f1", Overlap::BufferAll),
        );
        assert_eq!(queued, Some(vec!["f1".into()]));
    });
}

// ---- Schedules ----

pub fn schedules_are_added_once_and_listed_by_name(journal: &Journal) {
    assert!(journal.schedules().expect("none").is_empty());
    let b = schedule("b");
    let a = ScheduleRow {
        catch_up_ms: None,
        overlap: Overlap::Skip,
        ..schedule("a")
    };
    assert!(journal.add_schedule(&b).expect("add"));
    assert!(journal.add_schedule(&a).expect("add"));
    let twice = ScheduleRow {
        cron: "* * * * *".into(),
        ..schedule("a")
    };
    assert!(!journal.add_schedule(&twice).expect("exists"));
    let listed = journal.schedules().expect("schedules");
    assert_eq!(
        serde_json::to_value(listed).expect("json"),
        serde_json::to_value([a, b]).expect("json"),
        "by name, as added, the second add of `a` ignored"
    );
}

pub fn a_paused_schedule_does_not_fire(journal: &Journal) {
    assert!(journal.add_schedule(&schedule("s")).expect("add"));
    assert!(!journal.set_schedule_paused("nope", true, 0).expect("none"));
    assert!(journal.set_schedule_paused("s", true, 0).expect("pause"));
    assert!(the_schedule(journal, "s").paused);
    let paused = firing("s", 1_000, 2_000, "f1", Overlap::AllowAll);
    assert_eq!(fire(journal, &paused), None);
    assert!(journal.schedule_runs("s").expect("runs").is_empty());
    assert!(matches!(
        journal.find_task("f1"),
        Err(JournalError::TaskNotFound(_))
    ));
}

pub fn resuming_a_schedule_skips_the_runs_missed_while_paused(journal: &Journal) {
    assert!(journal.add_schedule(&schedule("s")).expect("add"));
    assert!(journal.set_schedule_paused("s", true, 0).expect("pause"));
    assert!(
        journal
            .set_schedule_paused("s", false, 9_000)
            .expect("resume")
    );
    let resumed = the_schedule(journal, "s");
    assert_eq!((resumed.paused, resumed.considered_until), (false, 9_000));
    assert_eq!(caveats(journal, "s"), [paused_caveat(1_000, 9_000)]);
    assert!(
        journal
            .set_schedule_paused("s", false, 12_000)
            .expect("again")
    );
    assert_eq!(the_schedule(journal, "s").considered_until, 9_000);
    assert_eq!(caveats(journal, "s").len(), 1, "it was not paused");
    let stale = firing("s", 1_000, 2_000, "f1", Overlap::AllowAll);
    assert_eq!(fire(journal, &stale), None, "the missed run is skipped");
}

pub fn a_due_run_fires_once(journal: &Journal) {
    assert!(journal.add_schedule(&schedule("s")).expect("add"));
    let mut first = firing("s", 1_000, 2_000, "f1", Overlap::AllowAll);
    first.caveats.push("the run due at 0 was missed".into());
    assert_eq!(fire(journal, &first), Some(vec!["f1".into()]));
    assert_eq!(
        journal.schedule_runs("s").expect("runs"),
        [run(2_000, Some("f1"), "queued")]
    );
    assert_eq!(the_schedule(journal, "s").considered_until, 2_000);
    assert_eq!(caveats(journal, "s"), ["the run due at 0 was missed"]);
    let fired = journal.find_task("f1").expect("queued");
    assert_eq!(fired.status, TaskStatus::Queued);
    assert_eq!(fired.schedule.as_deref(), Some("s"));

    let again = firing("s", 1_000, 2_000, "f1-again", Overlap::AllowAll);
    assert_eq!(fire(journal, &again), None, "another worker fired it first");
    assert_eq!(journal.schedule_runs("s").expect("runs").len(), 1);
    assert_eq!(journal.recent_tasks(10).expect("tasks").len(), 1);
}

pub fn an_overlapping_run_is_skipped_with_a_caveat(journal: &Journal) {
    assert!(journal.add_schedule(&schedule("s")).expect("add"));
    let first = firing("s", 1_000, 2_000, "f1", Overlap::Skip);
    assert_eq!(fire(journal, &first), Some(vec!["f1".into()]));
    let second = firing("s", 2_000, 3_000, "f2", Overlap::Skip);
    assert_eq!(fire(journal, &second), Some(vec![]));
    assert_eq!(
        journal.schedule_runs("s").expect("runs"),
        [
            run(2_000, Some("f1"), "queued"),
            run(3_000, None, "skipped")
        ]
    );
    let active = "an earlier run is still active (overlap: skip)";
    assert_eq!(caveats(journal, "s"), [skipped_caveat(3_000, active)]);
    let third = firing("s", 3_000, 4_000, "f3", Overlap::Skip);
    fire(journal, &third).expect("fired");
    let newest = journal.schedule_caveats("s", 1).expect("caveats");
    assert_eq!(newest.len(), 1, "the limit");
    assert_eq!(newest[0].message, skipped_caveat(4_000, active));
    assert!(!newest[0].at.is_empty());
}

pub fn removing_a_schedule_forgets_its_runs_and_caveats_not_its_tasks(journal: &Journal) {
    assert!(journal.add_schedule(&schedule("s")).expect("add"));
    assert!(journal.add_schedule(&schedule("t")).expect("add"));
    let mut fired = firing("s", 1_000, 2_000, "f1", Overlap::AllowAll);
    fired.caveats.push("a caveat".into());
    fire(journal, &fired).expect("fired");
    assert!(journal.remove_schedule("s").expect("remove"));
    assert!(!journal.remove_schedule("s").expect("gone"));
    let names: Vec<_> = journal
        .schedules()
        .expect("schedules")
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["t"]);
    assert!(journal.schedule_runs("s").expect("runs").is_empty());
    assert!(caveats(journal, "s").is_empty());
    assert_eq!(
        journal.find_task("f1").expect("kept").status,
        TaskStatus::Queued
    );
}

// ---- Pruning ----

pub fn finished_tasks_before_a_cutoff_come_oldest_first(journal: &Journal) {
    for id in ["t1", "t2", "running"] {
        journal.create_task(&task(id)).expect("create");
    }
    submit_now(journal, "queued");
    journal
        .finish_task("t2", TaskStatus::Failed, None)
        .expect("finish");
    tick();
    journal
        .finish_task("t1", TaskStatus::Succeeded, None)
        .expect("finish");
    let ids = |cutoff: &str| -> Vec<String> {
        let tasks = journal.finished_before(cutoff).expect("finished");
        tasks.into_iter().map(|t| t.id).collect()
    };
    assert_eq!(ids("9999-12-31T00:00:00.000Z"), ["t2", "t1"]);
    assert!(ids("2000-01-01T00:00:00.000Z").is_empty());
    let t1_end = journal.find_task("t1").expect("t1").finished_at;
    assert_eq!(ids(&t1_end.expect("ended")), ["t2"], "strictly before");
}

pub fn deleting_a_task_removes_everything_recorded_about_it(journal: &Journal) {
    for id in ["gone", "kept"] {
        journal.create_task(&task(id)).expect("create");
        journal
            .append_event(&event(id, EventKind::Log, "hello"))
            .expect("log");
        journal.kv_set(id, "k", b"v").expect("kv");
        journal.save_checkpoint(id, "a", b"c").expect("checkpoint");
        journal.start_attempt(id, "a", 1, None).expect("start");
        let result = ended(StepStatus::Succeeded);
        let made = [file("out/x", Some("01"))];
        let change = Commit {
            artifacts: &made,
            apply_pending: true,
            ..ending(id, "a", 1, &result)
        };
        commit(journal, &change).expect("commit");
        journal.start_attempt(id, "b", 1, None).expect("dangling");
        journal.save_report(id, "b3", "sig", "key").expect("report");
        journal
            .finish_task(id, TaskStatus::Succeeded, None)
            .expect("finish");
    }
    journal.delete_task("gone").expect("delete");

    assert!(matches!(
        journal.find_task("gone"),
        Err(JournalError::TaskNotFound(_))
    ));
    assert!(journal.steps("gone").expect("steps").is_empty());
    assert!(journal.events("gone", 0).expect("events").is_empty());
    assert!(journal.records("gone").expect("records").is_empty());
    assert!(journal.artifacts("gone").expect("artifacts").is_empty());
    assert!(
        journal
            .dangling_attempts("gone")
            .expect("attempts")
            .is_empty()
    );
    assert_eq!(journal.kv_get("gone", "k").expect("kv"), None);
    assert_eq!(journal.checkpoint("gone", "a").expect("checkpoint"), None);
    assert_eq!(journal.report("gone").expect("report"), None);
    let pending = journal.pending_applies().expect("pending");
    let owners: Vec<_> = pending.iter().map(|p| p.task_id.as_str()).collect();
    assert_eq!(owners, ["kept"]);

    assert_eq!(journal.steps("kept").expect("steps").len(), 2);
    assert_eq!(journal.records("kept").expect("records").len(), 1);
    assert_eq!(journal.artifacts("kept").expect("artifacts").len(), 1);
    assert!(journal.report("kept").expect("report").is_some());
    assert_eq!(
        journal.kv_get("kept", "k").expect("kv"),
        Some(b"v".to_vec())
    );
}

pub fn deleting_a_fired_task_keeps_its_run_without_it(journal: &Journal) {
    assert!(journal.add_schedule(&schedule("s")).expect("add"));
    let fired = firing("s", 1_000, 2_000, "f1", Overlap::AllowAll);
    fire(journal, &fired).expect("fired");
    assert!(journal.cancel_queued("f1").expect("cancel"));
    journal.delete_task("f1").expect("delete");
    assert_eq!(
        journal.schedule_runs("s").expect("runs"),
        [run(2_000, None, "queued")]
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_suite_lists_every_case_and_calls_every_store_method() {
        super::assert_suite_complete();
    }
}
