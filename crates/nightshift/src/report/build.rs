//! Assembles a [`Report`] from the journal, and seals it: stored in `cas/` and signed.

use std::collections::BTreeMap;

use super::{
    Artifact, Changed, CheckReport, Evidence, Failure, Note, PipelineRef, Report, SCHEMA,
    StepReport,
};
use crate::evidence::record::{ClockMode, RecordBody};
use crate::evidence::verify::verify_task;
use crate::evidence::{Cas, CasError, PublicKey, Signer, canonical_json, hex};
use crate::journal::{
    ArtifactKind, ArtifactRow, EventKind, Journal, JournalError, StepRow, StepStatus, TaskStatus,
};

/// Errors building or sealing a report.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The journal could not be read.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The report could not be stored.
    #[error(transparent)]
    Cas(#[from] CasError),
}

/// Builds the report of `task_id` (an id or unique prefix). `key` checks the evidence (none:
/// the evidence is reported unverified); `live` says whether a process runs the task now,
/// which tells `running` from `interrupted`.
pub fn build(
    journal: &Journal,
    cas: &Cas,
    key: Option<&PublicKey>,
    task_id: &str,
    live: bool,
) -> Result<Report, BuildError> {
    let task = journal.find_task(task_id)?;
    let steps = journal.steps(&task.id)?;
    let artifacts = journal.artifacts(&task.id)?;
    let records = journal.records(&task.id)?;
    let bodies: Vec<RecordBody> = records
        .iter()
        .filter_map(|r| serde_json::from_str(&r.body).ok())
        .collect();

    let status = match task.status {
        TaskStatus::Running if !live => "interrupted".to_owned(),
        other => other.as_str().to_owned(),
    };
    let checks = checks(&steps);
    let failures = failures(&steps);
    let evidence = match key {
        Some(key) => {
            let verification = verify_task(journal, cas, key, &task.id)?;
            Evidence {
                records: records.len(),
                chain_head: records.last().map(|r| r.hash.clone()),
                public_key: Some(key.hex()),
                key_id: Some(key.key_id().to_owned()),
                verified: verification.ok(),
                findings: verification
                    .findings
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            }
        }
        None => Evidence {
            records: records.len(),
            chain_head: records.last().map(|r| r.hash.clone()),
            public_key: None,
            key_id: None,
            verified: false,
            findings: vec!["no signing key to check the records against".into()],
        },
    };
    let events = journal.events(&task.id, 0)?;
    let mut caveats = caveats(&steps, &checks, &artifacts, &bodies, &evidence, &status);
    caveats.extend(
        events
            .iter()
            .filter(|e| e.kind == EventKind::Denied)
            .map(|e| {
                format!(
                    "step `{}`: denied {}",
                    e.step_id.as_deref().unwrap_or("-"),
                    e.message
                )
            }),
    );
    let notes = events
        .into_iter()
        .filter(|e| e.kind == EventKind::Note)
        .map(|e| Note {
            step: e.step_id,
            text: e.message,
        })
        .collect();

    Ok(Report {
        schema: SCHEMA,
        pipeline: PipelineRef {
            name: task.pipeline,
            path: task.pipeline_path,
            digest: task.pipeline_digest,
        },
        workspace: task.workspace,
        status,
        started_at: task.started_at,
        finished_at: task.finished_at,
        steps: steps.iter().map(step_report).collect(),
        changed: changed(&steps, &artifacts),
        artifacts: artifact_list(&steps, &artifacts),
        checks,
        failures,
        caveats,
        evidence,
        notes,
        task_id: task.id,
    })
}

/// Stores the report's canonical JSON in `cas/` and records its digest signed with `signer`.
pub fn seal(
    journal: &Journal,
    cas: &Cas,
    signer: &Signer,
    report: &Report,
) -> Result<String, BuildError> {
    let value = serde_json::to_value(report).unwrap_or_default();
    let digest = cas.put_derived(canonical_json(&value).as_bytes())?;
    let hash = blake3::Hash::from_hex(&digest)
        .map(|h| *h.as_bytes())
        .unwrap_or_default();
    journal.save_report(
        &report.task_id,
        &digest,
        &hex(&signer.sign(&hash)),
        signer.key_id(),
    )?;
    Ok(digest)
}

fn step_report(step: &StepRow) -> StepReport {
    StepReport {
        id: step.step_id.clone(),
        kind: step.kind,
        check: step.is_check,
        plugin: step.plugin.clone(),
        plugin_digest: step.plugin_digest.clone(),
        status: step.status,
        attempts: step.attempts,
        duration_ms: step.duration_ms,
        summary: step.summary.clone(),
        error: step.error.clone(),
        data: step
            .data
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok()),
    }
}

fn checks(steps: &[StepRow]) -> Vec<CheckReport> {
    let mut all = Vec::new();
    for step in steps {
        let parsed: Vec<CheckReport> = step
            .checks
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default();
        all.extend(parsed.into_iter().map(|mut c| {
            c.step = step.step_id.clone();
            c
        }));
    }
    all
}

fn failures(steps: &[StepRow]) -> Vec<Failure> {
    steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.status == StepStatus::Failed)
        .map(|(index, step)| Failure {
            step: step.step_id.clone(),
            attempts: step.attempts,
            error: step.error.clone().unwrap_or_default(),
            unverified: steps[index + 1..]
                .iter()
                .filter(|s| s.status == StepStatus::Skipped)
                .map(|s| {
                    let what = if s.is_check { "check step" } else { "step" };
                    format!("{what} `{}` never ran", s.step_id)
                })
                .collect(),
        })
        .collect()
}

/// The file changes of the attempts that counted: the last, succeeded attempt of each step.
fn counted<'a>(
    steps: &'a [StepRow],
    artifacts: &'a [ArtifactRow],
) -> impl Iterator<Item = &'a ArtifactRow> {
    artifacts.iter().filter(|a| {
        steps.iter().any(|s| {
            s.step_id == a.step_id && s.attempts == a.attempt && s.status == StepStatus::Succeeded
        }) || a.kind != ArtifactKind::File
    })
}

fn changed(steps: &[StepRow], artifacts: &[ArtifactRow]) -> Vec<Changed> {
    counted(steps, artifacts)
        .filter(|a| a.kind == ArtifactKind::File)
        .filter_map(|a| {
            Some(Changed {
                path: a.name.clone(),
                change: a.change?,
                blake3: a.blake3.clone(),
                bytes: a.bytes,
                step: a.step_id.clone(),
            })
        })
        .collect()
}

fn artifact_list(steps: &[StepRow], artifacts: &[ArtifactRow]) -> Vec<Artifact> {
    counted(steps, artifacts)
        .filter(|a| a.blake3.is_some())
        .map(|a| Artifact {
            step: a.step_id.clone(),
            name: a.name.clone(),
            kind: a.kind,
            cas: a
                .blake3
                .as_ref()
                .map(|d| format!("cas/{}/{d}", &d[..2.min(d.len())])),
            workspace: (a.kind == ArtifactKind::File).then(|| a.name.clone()),
            blake3: a.blake3.clone(),
            bytes: a.bytes,
        })
        .collect()
}

fn caveats(
    steps: &[StepRow],
    checks: &[CheckReport],
    artifacts: &[ArtifactRow],
    bodies: &[RecordBody],
    evidence: &Evidence,
    status: &str,
) -> Vec<String> {
    let mut caveats = Vec::new();
    if status == "interrupted" {
        caveats.push(
            "the task was interrupted and has not finished; resume it with `nightshift resume`"
                .to_owned(),
        );
    }
    for step in steps {
        let id = &step.step_id;
        if step.attempts > 1 {
            caveats.push(format!("step `{id}` took {} attempts", step.attempts));
        }
        for body in bodies
            .iter()
            .filter(|b| &b.step == id && b.outcome.status == StepStatus::Interrupted)
        {
            caveats.push(format!(
                "step `{id}`: attempt {} was interrupted when its process stopped",
                body.attempt
            ));
        }
        if let Some(error) = &step.error
            && error.contains("timeout")
        {
            caveats.push(format!("step `{id}`: {error}"));
        }
        if step.status == StepStatus::Skipped {
            caveats.push(format!(
                "step `{id}` never ran: an earlier step did not succeed"
            ));
        }
        let declared: Vec<String> = step
            .caveats
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default();
        caveats.extend(declared.into_iter().map(|c| format!("step `{id}`: {c}")));
    }
    let ran: Vec<String> = steps
        .iter()
        .filter(|s| {
            bodies.iter().any(|b| {
                b.step == s.step_id
                    && b.attempt == s.attempts
                    && b.grants
                        .as_ref()
                        .is_some_and(|g| g.clocks.mode == ClockMode::Real)
            })
        })
        .map(|s| format!("`{}`", s.step_id))
        .collect();
    if !ran.is_empty() {
        let (steps, their) = if ran.len() == 1 {
            ("step", "its output")
        } else {
            ("steps", "their outputs")
        };
        caveats.push(format!(
            "{steps} {} ran with the host's real clocks and randomness: a replay may not reproduce {their} byte for byte",
            ran.join(", ")
        ));
    }
    for check in checks.iter().filter(|c| !c.passed) {
        caveats.push(format!(
            "step `{}`: check `{}` failed: {}",
            check.step, check.name, check.detail
        ));
    }
    let caps: BTreeMap<(&str, u32), u64> = bodies
        .iter()
        .filter_map(|b| {
            Some((
                (b.step.as_str(), b.attempt),
                b.grants.as_ref()?.output_bytes,
            ))
        })
        .collect();
    for artifact in artifacts
        .iter()
        .filter(|a| matches!(a.kind, ArtifactKind::Stdout | ArtifactKind::Stderr))
    {
        if caps
            .get(&(artifact.step_id.as_str(), artifact.attempt))
            .is_some_and(|cap| artifact.bytes >= *cap)
        {
            caveats.push(format!(
                "step `{}`: {} reached its cap of {} bytes and was cut",
                artifact.step_id, artifact.kind, artifact.bytes
            ));
        }
    }
    if !evidence.verified {
        caveats.push(format!(
            "the evidence does not verify: {}",
            evidence.findings.join("; ")
        ));
    }
    caveats
}
