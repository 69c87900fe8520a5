//! Verification of a task's evidence: every record's hash and signature, the chain (no gap,
//! no reordering, no fork, nothing missing), every artifact in `cas/`, and the workspace files
//! against what the last records say they are.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::record::{RecordBody, check_seal};
use super::{Cas, CasError, PublicKey};
use crate::journal::{Journal, JournalError, StepStatus};

/// One thing that does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The record at fault (its position in the chain), if one is.
    pub record: Option<u64>,
    /// The step concerned, if one is.
    pub step: Option<String>,
    /// The field or file at fault.
    pub field: String,
    /// What it should be.
    pub expected: String,
    /// What it is.
    pub found: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(record) = self.record {
            write!(f, "record {record}")?;
            if let Some(step) = &self.step {
                write!(f, " (step `{step}`)")?;
            }
            write!(f, ": ")?;
        } else if let Some(step) = &self.step {
            write!(f, "step `{step}`: ")?;
        }
        write!(
            f,
            "{}: expected {}, found {}",
            self.field, self.expected, self.found
        )
    }
}

/// The outcome of verifying one task.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// The task.
    pub task_id: String,
    /// How many records its chain holds.
    pub records: usize,
    /// The hash of the last record.
    pub head: Option<String>,
    /// The key the records were checked against.
    pub key_id: String,
    /// Everything that does not hold; empty when the task verifies.
    pub findings: Vec<Finding>,
}

impl Verification {
    /// Whether everything holds.
    pub fn ok(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Verifies the task `task_id` (an id or unique prefix).
pub fn verify_task(
    journal: &Journal,
    cas: &Cas,
    key: &PublicKey,
    task_id: &str,
) -> Result<Verification, JournalError> {
    let task = journal.find_task(task_id)?;
    let rows = journal.records(&task.id)?;
    let mut findings = Vec::new();
    let mut found =
        |record: Option<u64>, step: Option<&str>, field: &str, expected: String, got: String| {
            findings.push(Finding {
                record,
                step: step.map(str::to_owned),
                field: field.to_owned(),
                expected,
                found: got,
            });
        };

    let mut bodies: Vec<RecordBody> = Vec::new();
    let mut prev_hash: Option<&str> = None;
    for (index, row) in rows.iter().enumerate() {
        let position = index as u64 + 1;
        if row.seq != position {
            found(
                Some(row.seq),
                Some(&row.step_id),
                "seq",
                format!("record {position} (no gap)"),
                format!("record {}", row.seq),
            );
        }
        match check_seal(row, key) {
            Err(fault) => found(
                Some(row.seq),
                Some(&row.step_id),
                fault.field,
                fault.expected,
                fault.found,
            ),
            Ok(body) => {
                if body.seq != row.seq {
                    found(
                        Some(row.seq),
                        Some(&row.step_id),
                        "body.seq",
                        row.seq.to_string(),
                        body.seq.to_string(),
                    );
                }
                if body.task != task.id {
                    found(
                        Some(row.seq),
                        Some(&row.step_id),
                        "body.task",
                        task.id.clone(),
                        body.task.clone(),
                    );
                }
                if body.step != row.step_id || body.attempt != row.attempt {
                    found(
                        Some(row.seq),
                        Some(&row.step_id),
                        "body.step",
                        format!("{} attempt {}", row.step_id, row.attempt),
                        format!("{} attempt {}", body.step, body.attempt),
                    );
                }
                if body.prev.as_deref() != prev_hash {
                    found(
                        Some(row.seq),
                        Some(&row.step_id),
                        "prev",
                        prev_hash.unwrap_or("null (first record)").to_owned(),
                        body.prev.clone().unwrap_or_else(|| "null".into()),
                    );
                }
                bodies.push(body);
            }
        }
        prev_hash = Some(&row.hash);
    }

    // Every attempt that ended has a record, and every succeeded step a succeeded record.
    for step in journal.steps(&task.id)? {
        for attempt in 1..=step.attempts {
            let recorded = bodies
                .iter()
                .any(|b| b.step == step.step_id && b.attempt == attempt);
            let ended = attempt < step.attempts
                || !matches!(step.status, StepStatus::Running | StepStatus::Pending);
            if ended && !recorded {
                found(
                    None,
                    Some(&step.step_id),
                    "records",
                    format!("a record of attempt {attempt}"),
                    "none".into(),
                );
            }
        }
        if step.status == StepStatus::Succeeded {
            let proven = bodies.iter().any(|b| {
                b.step == step.step_id
                    && b.attempt == step.attempts
                    && b.outcome.status == StepStatus::Succeeded
            });
            if !proven {
                found(
                    None,
                    Some(&step.step_id),
                    "status",
                    "a succeeded record behind `succeeded`".into(),
                    "none".into(),
                );
            }
        }
    }

    // Products: stored intact, and the workspace as the last record of each path says.
    let pending: Vec<String> = journal
        .pending_applies()?
        .into_iter()
        .filter(|p| p.task_id == task.id)
        .map(|p| p.step_id)
        .collect();
    let mut last: BTreeMap<&str, (&RecordBody, Option<&str>)> = BTreeMap::new();
    for body in bodies
        .iter()
        .filter(|b| b.outcome.status == StepStatus::Succeeded)
    {
        for product in &body.products {
            if let Some(digest) = &product.blake3 {
                match cas.get(digest) {
                    Ok(_) => {}
                    Err(CasError::Corrupt { actual, .. }) => found(
                        Some(body.seq),
                        Some(&body.step),
                        &format!("cas {}", product.path),
                        digest.clone(),
                        actual,
                    ),
                    Err(e) => found(
                        Some(body.seq),
                        Some(&body.step),
                        &format!("cas {}", product.path),
                        digest.clone(),
                        e.to_string(),
                    ),
                }
            }
            if !pending.contains(&body.step) {
                last.insert(&product.path, (body, product.blake3.as_deref()));
            }
        }
    }
    for step in &pending {
        found(
            None,
            Some(step),
            "workspace",
            "its committed changes applied".into(),
            "not applied yet (resume the task)".into(),
        );
    }
    let workspace = Path::new(&task.workspace);
    let files: Vec<_> = last.keys().map(|path| workspace.join(path)).collect();
    let digests = super::digest_files(&files);
    for ((path, (body, expected)), digest) in last.into_iter().zip(digests) {
        let actual = match digest {
            Ok((digest, _)) => Some(digest),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => Some(format!("unreadable: {e}")),
        };
        if actual.as_deref() != expected && !changed_since(journal, &task, path, actual.as_deref())?
        {
            found(
                Some(body.seq),
                Some(&body.step),
                &format!("workspace {path}"),
                expected.map_or_else(|| "no file (deleted)".to_owned(), |d| format!("blake3 {d}")),
                actual.map_or_else(|| "no file".to_owned(), |d| format!("blake3 {d}")),
            );
        }
    }

    Ok(Verification {
        task_id: task.id,
        records: rows.len(),
        head: rows.last().map(|r| r.hash.clone()),
        key_id: key.key_id().to_owned(),
        findings,
    })
}

/// Whether a later task sharing the workspace committed the file as it is now: then the
/// task's own product was legitimately replaced, not tampered with.
fn changed_since(
    journal: &Journal,
    task: &crate::journal::TaskRow,
    path: &str,
    actual: Option<&str>,
) -> Result<bool, JournalError> {
    Ok(match journal.latest_product(&task.workspace, path)? {
        Some(last) => last.task_id != task.id && last.blake3.as_deref() == actual,
        None => false,
    })
}
