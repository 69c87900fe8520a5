//! Export of step records as in-toto attestations: one Statement v1 per record with the link
//! predicate (v0.3), wrapped in a DSSE envelope signed with the state directory's key, so
//! standard in-toto and DSSE tools can verify them.
//!
//! Subjects are the step's products (digests `blake3`, plus `sha256` computed at export time
//! for tools that only know sha256); a record without products has the record itself as its
//! subject. Materials are the step's inputs; `command` names the component and its params.
//! A record with checks also gets a test-result (v0.1) statement about the same subjects.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::Digest as _;

use super::record::RecordBody;
use super::{Cas, CasError, Signer, canonical_json, hex};
use crate::journal::{Journal, JournalError};

/// The DSSE payload type of in-toto statements.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
const LINK_PREDICATE: &str = "https://in-toto.io/attestation/link/v0.3";
const TEST_RESULT_PREDICATE: &str = "https://in-toto.io/attestation/test-result/v0.1";

/// Errors exporting attestations.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The journal could not be read.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// An artifact is missing or corrupt.
    #[error(transparent)]
    Cas(#[from] CasError),
    /// A record's body is not a record.
    #[error("record {seq} of task {task} cannot be read: {cause}")]
    Record {
        /// The task.
        task: String,
        /// The record.
        seq: u64,
        /// The cause.
        cause: serde_json::Error,
    },
    /// The output directory refused a write.
    #[error("cannot write {path}: {cause}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
}

/// DSSE v1 pre-authentication encoding: `DSSEv1 SP len(type) SP type SP len(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Writes one DSSE envelope per record of `task_id` into `dir`; returns the files written.
pub fn export(
    journal: &Journal,
    cas: &Cas,
    signer: &Signer,
    task_id: &str,
    dir: &Path,
) -> Result<Vec<PathBuf>, ExportError> {
    let task = journal.find_task(task_id)?;
    std::fs::create_dir_all(dir).map_err(|source| ExportError::Write {
        path: dir.to_path_buf(),
        cause: source,
    })?;
    let mut written = Vec::new();
    for row in journal.records(&task.id)? {
        let body: RecordBody =
            serde_json::from_str(&row.body).map_err(|source| ExportError::Record {
                task: task.id.clone(),
                seq: row.seq,
                cause: source,
            })?;
        let link = statement(&body, &row.hash, cas)?;
        let name = format!("{:04}-{}-{}", row.seq, row.step_id, row.attempt);
        written.push(write_envelope(dir, &name, &link, signer)?);
        if let Some(checks) = test_result(&body, &link) {
            written.push(write_envelope(
                dir,
                &format!("{name}-checks"),
                &checks,
                signer,
            )?);
        }
    }
    Ok(written)
}

/// Signs `statement` into a DSSE envelope written to `dir/name.json`.
fn write_envelope(
    dir: &Path,
    name: &str,
    statement: &serde_json::Value,
    signer: &Signer,
) -> Result<PathBuf, ExportError> {
    let payload = canonical_json(statement).into_bytes();
    let signature = signer.sign(&pae(PAYLOAD_TYPE, &payload));
    let envelope = serde_json::json!({
        "payloadType": PAYLOAD_TYPE,
        "payload": STANDARD.encode(&payload),
        "signatures": [{ "keyid": signer.key_id(), "sig": STANDARD.encode(signature) }],
    });
    let path = dir.join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(&envelope).unwrap_or_default();
    std::fs::write(&path, text).map_err(|source| ExportError::Write {
        path: path.clone(),
        cause: source,
    })?;
    Ok(path)
}

/// The checks of a record as a test-result statement about the same subjects, if it made any.
fn test_result(body: &RecordBody, link: &serde_json::Value) -> Option<serde_json::Value> {
    let checks = body.checks.as_array().filter(|c| !c.is_empty())?;
    let named = |passed: bool| -> Vec<&str> {
        checks
            .iter()
            .filter(|c| c["passed"] == passed)
            .filter_map(|c| c["name"].as_str())
            .collect()
    };
    let failed = named(false);
    Some(serde_json::json!({
        "_type": STATEMENT_TYPE,
        "subject": link["subject"],
        "predicateType": TEST_RESULT_PREDICATE,
        "predicate": {
            "result": if failed.is_empty() { "PASSED" } else { "FAILED" },
            "configuration": [{ "name": format!("nightshift-step:{}", body.step), "digest": { "blake3": body.params_digest } }],
            "url": format!("nightshift-record:{}/{}", body.task, body.seq),
            "passedTests": named(true),
            "warnedTests": [],
            "failedTests": failed,
        },
    }))
}

fn statement(
    body: &RecordBody,
    record_hash: &str,
    cas: &Cas,
) -> Result<serde_json::Value, CasError> {
    let mut subject = Vec::new();
    for product in &body.products {
        let Some(digest) = &product.blake3 else {
            continue;
        };
        let content = cas.get(digest)?;
        subject.push(serde_json::json!({
            "name": product.path,
            "digest": { "blake3": digest, "sha256": hex(&sha2::Sha256::digest(&content)) },
        }));
    }
    if subject.is_empty() {
        subject.push(serde_json::json!({
            "name": format!("nightshift-record:{}/{}", body.task, body.seq),
            "digest": { "blake3": record_hash },
        }));
    }
    let materials: Vec<_> = body
        .materials
        .iter()
        .map(|m| serde_json::json!({ "name": m.name, "digest": { "blake3": m.blake3 } }))
        .collect();
    let plugin = &body.plugin;
    Ok(serde_json::json!({
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": LINK_PREDICATE,
        "predicate": {
            "name": body.step,
            "command": [
                format!("{}@blake3:{}", plugin.name.as_deref().unwrap_or(""), plugin.digest.as_deref().unwrap_or("")),
                format!("params@blake3:{}", body.params_digest),
            ],
            "materials": materials,
            "byproducts": {
                "task": body.task,
                "attempt": body.attempt,
                "outcome": body.outcome,
                "record": { "seq": body.seq, "blake3": record_hash },
                "deleted": body.products.iter().filter(|p| p.blake3.is_none()).map(|p| p.path.as_str()).collect::<Vec<_>>(),
            },
            "environment": { "grants": body.grants, "started_at": body.started_at, "finished_at": body.finished_at },
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_specification_vector() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }
}
