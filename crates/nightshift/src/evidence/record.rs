//! Step records: what one attempt of a step did, as canonical JSON, hashed with blake3 and
//! signed with ed25519; each names the hash of the record before it, so a task's records form
//! a chain in which any edit, gap, reordering or fork shows.
//!
//! The body's fields (format `nightshift.record/v1`): `format`, `task`, `step`, `attempt`,
//! `seq`, `prev` (the previous record's hash, `null` for the first), `kind`, `plugin`
//! (`name`, `digest`), `params_digest`, `grants`, `started_at`, `finished_at`, `outcome`
//! (`status`, `summary`, `error`), `output_digest`, `materials` (`name`, `blake3`),
//! `products` (`path`, `change`, `blake3`, `bytes`), `checks`, `notes_digest`.
//! `hash = blake3(canonical body)`; `signature = ed25519(hash bytes)`.

use serde::{Deserialize, Serialize};

use super::canonical::canonical_json;
use super::keys::{PublicKey, Signer, decode_hex, hex};
use crate::journal::{ChainHead, RecordRow};

/// The format written into every record.
pub const RECORD_FORMAT: &str = "nightshift.record/v1";

/// A file a step created, modified or deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// Workspace-relative path.
    pub path: String,
    /// `created`, `modified` or `deleted`.
    pub change: String,
    /// blake3 of the new content; `None` when deleted.
    pub blake3: Option<String>,
    /// Size of the new content.
    pub bytes: u64,
}

/// An input of a step, by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Material {
    /// What it is: `component`, `params`, `prior`, `checkpoint`, `stdin`.
    pub name: String,
    /// blake3 of its bytes.
    pub blake3: String,
}

/// The body of a record, before its chain position is known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordBody {
    /// [`RECORD_FORMAT`].
    pub format: String,
    /// The task.
    pub task: String,
    /// The step.
    pub step: String,
    /// The attempt.
    pub attempt: u32,
    /// Position in the chain, from 1.
    pub seq: u64,
    /// The previous record's hash.
    pub prev: Option<String>,
    /// `plugin` or `command`.
    pub kind: String,
    /// The component: `name` and `digest`.
    pub plugin: serde_json::Value,
    /// blake3 of the step's params (or arguments) as canonical JSON.
    pub params_digest: String,
    /// The grants the step ran with.
    pub grants: serde_json::Value,
    /// When the attempt started.
    pub started_at: String,
    /// When it ended.
    pub finished_at: String,
    /// `status`, `summary`, `error`.
    pub outcome: serde_json::Value,
    /// blake3 of the output data, if any.
    pub output_digest: Option<String>,
    /// Its inputs.
    pub materials: Vec<Material>,
    /// What it changed in the workspace (applied only when it succeeded).
    pub products: Vec<Product>,
    /// The checks it made.
    pub checks: serde_json::Value,
    /// blake3 of its notes as a canonical JSON array of strings.
    pub notes_digest: String,
}

impl RecordBody {
    /// Places the body at `head` of its chain, hashes and signs it.
    pub fn seal(
        mut self,
        head: &ChainHead,
        signer: &Signer,
    ) -> Result<RecordRow, serde_json::Error> {
        self.seq = head.seq;
        self.prev = head.prev_hash.clone();
        let body = canonical_json(&serde_json::to_value(&self)?);
        let hash = blake3::hash(body.as_bytes());
        Ok(RecordRow {
            seq: self.seq,
            step_id: self.step,
            attempt: self.attempt,
            hash: hash.to_hex().to_string(),
            signature: hex(&signer.sign(hash.as_bytes())),
            key_id: signer.key_id().to_owned(),
            body,
        })
    }
}

/// What is wrong with one record on its own (chain checks are the verifier's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFault {
    /// The field at fault: `hash`, `signature`, `body`, `key_id`.
    pub field: &'static str,
    /// What it should be.
    pub expected: String,
    /// What it is.
    pub found: String,
}

/// Checks that a stored record's hash is its body's and its signature is `key`'s.
pub fn check_seal(record: &RecordRow, key: &PublicKey) -> Result<RecordBody, RecordFault> {
    let actual = blake3::hash(record.body.as_bytes()).to_hex().to_string();
    if actual != record.hash {
        return Err(RecordFault {
            field: "hash",
            expected: record.hash.clone(),
            found: actual,
        });
    }
    if record.key_id != key.key_id() {
        return Err(RecordFault {
            field: "key_id",
            expected: key.key_id().to_owned(),
            found: record.key_id.clone(),
        });
    }
    let signature = decode_hex(&record.signature).unwrap_or_default();
    let hash_bytes = decode_hex(&record.hash).unwrap_or_default();
    if !key.verifies(&hash_bytes, &signature) {
        return Err(RecordFault {
            field: "signature",
            expected: format!("an ed25519 signature by key {}", key.key_id()),
            found: record.signature.clone(),
        });
    }
    let body: RecordBody = serde_json::from_str(&record.body).map_err(|e| RecordFault {
        field: "body",
        expected: format!("a {RECORD_FORMAT} record"),
        found: e.to_string(),
    })?;
    let canonical = serde_json::to_value(&body)
        .map(|v| canonical_json(&v))
        .unwrap_or_default();
    if canonical != record.body {
        return Err(RecordFault {
            field: "body",
            expected: "canonical JSON".into(),
            found: "another encoding".into(),
        });
    }
    Ok(body)
}

/// blake3 of a JSON value's canonical text.
pub fn digest_json(value: &serde_json::Value) -> String {
    super::digest(canonical_json(value).as_bytes())
}
