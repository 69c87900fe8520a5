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
use crate::journal::{ChainHead, ComponentKind, FileChange, RecordRow, StepResult, StepStatus};

/// The format written into every record.
pub const RECORD_FORMAT: &str = "nightshift.record/v1";

/// A file a step created, modified or deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// Workspace-relative path.
    pub path: String,
    /// How the step changed it.
    pub change: FileChange,
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

/// The component a record's step ran: `name` (as the pipeline wrote it) and `digest`; both
/// `null` in the record of an interrupted attempt whose step row is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentRef {
    /// The reference the pipeline gave.
    pub name: Option<String>,
    /// blake3 of the component.
    pub digest: Option<String>,
}

/// How the attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordOutcome {
    /// `succeeded`, `failed` or `interrupted`.
    pub status: StepStatus,
    /// The plugin's summary line.
    pub summary: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

/// The grants a step ran with, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordGrants {
    /// Real clocks, or virtual ones with their seed.
    pub clocks: RecordClocks,
    /// Fuel, if bounded.
    pub fuel: Option<u64>,
    /// Bytes the step could add to its write grants.
    pub write_bytes: u64,
    /// Bytes of logs, notes and progress it could send.
    pub log_bytes: u64,
    /// Bytes of output data it could return.
    pub data_bytes: u64,
    /// Directories it could read (as the guest saw them).
    pub read: Vec<String>,
    /// Directories it could write.
    pub write: Vec<String>,
    /// Environment variables it was given.
    pub env: Vec<String>,
    /// Hosts it could reach.
    pub network: Vec<String>,
    /// Linear memory it could hold.
    pub memory_bytes: u64,
    /// Wall-clock time it had.
    pub timeout_ms: u64,
    /// Bytes kept of each of stdout and stderr.
    pub output_bytes: u64,
}

/// The clocks a step saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordClocks {
    /// Real or virtual.
    pub mode: ClockMode,
    /// The seed of the virtual clocks and randomness, in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
}

/// Which clocks a step saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClockMode {
    /// The host's clocks and randomness.
    Real,
    /// Virtual clocks and seeded randomness (deterministic mode).
    Virtual,
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
    /// What kind of component the step ran.
    pub kind: ComponentKind,
    /// The component: `name` and `digest`.
    pub plugin: ComponentRef,
    /// blake3 of the step's params (or arguments) as canonical JSON.
    pub params_digest: String,
    /// The grants the step ran with; `null` for an interrupted attempt.
    pub grants: Option<RecordGrants>,
    /// When the attempt started.
    pub started_at: String,
    /// When it ended.
    pub finished_at: String,
    /// `status`, `summary`, `error`.
    pub outcome: RecordOutcome,
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

/// What one attempt of a step did: everything its record says but its place in the chain.
#[derive(Debug, Clone)]
pub struct AttemptFacts<'a> {
    /// The task.
    pub task: &'a str,
    /// The step.
    pub step: &'a str,
    /// The attempt.
    pub attempt: u32,
    /// What kind of component the step ran.
    pub kind: ComponentKind,
    /// The component.
    pub plugin: ComponentRef,
    /// blake3 of the step's params as canonical JSON; empty when they are unknown.
    pub params_digest: String,
    /// The grants it ran with; `None` for an interrupted attempt.
    pub grants: Option<RecordGrants>,
    /// When the attempt started.
    pub started_at: String,
    /// How it ended, as the journal records it.
    pub result: &'a StepResult,
    /// Its inputs.
    pub materials: Vec<Material>,
    /// What it changed in the workspace.
    pub products: Vec<Product>,
    /// The notes it wrote.
    pub notes: Vec<String>,
}

impl RecordBody {
    /// The body recording `facts`, ending now; [`RecordBody::seal`] places it in its chain.
    pub fn of_attempt(facts: AttemptFacts<'_>) -> RecordBody {
        let result = facts.result;
        RecordBody {
            format: RECORD_FORMAT.into(),
            task: facts.task.to_owned(),
            step: facts.step.to_owned(),
            attempt: facts.attempt,
            seq: 0,
            prev: None,
            kind: facts.kind,
            plugin: facts.plugin,
            params_digest: facts.params_digest,
            grants: facts.grants,
            started_at: facts.started_at,
            finished_at: crate::time_format::now(),
            outcome: RecordOutcome {
                status: result.status,
                summary: result.summary.clone(),
                error: result.error.clone(),
            },
            output_digest: result.data.as_deref().map(|d| super::digest(d.as_bytes())),
            materials: facts.materials,
            products: facts.products,
            checks: result
                .checks
                .as_deref()
                .and_then(|c| serde_json::from_str(c).ok())
                .unwrap_or_else(|| serde_json::json!([])),
            notes_digest: digest_json(&serde_json::Value::from(facts.notes)),
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    /// A record with every field set, as the runner writes one.
    fn known_body() -> RecordBody {
        RecordBody {
            format: RECORD_FORMAT.into(),
            task: "0190aa".into(),
            step: "scan".into(),
            attempt: 2,
            seq: 0,
            prev: None,
            kind: ComponentKind::Plugin,
            plugin: ComponentRef {
                name: Some("file-stats".into()),
                digest: Some("ab".repeat(32)),
            },
            params_digest: "cd".repeat(32),
            grants: Some(RecordGrants {
                clocks: RecordClocks {
                    mode: ClockMode::Virtual,
                    seed: Some("01".repeat(32)),
                },
                fuel: None,
                write_bytes: 1 << 30,
                log_bytes: 1 << 20,
                data_bytes: 1 << 20,
                read: vec![".".into()],
                write: vec!["out".into()],
                env: vec!["LANG".into()],
                network: Vec::new(),
                memory_bytes: 256 << 20,
                timeout_ms: 300_000,
                output_bytes: 1 << 20,
            }),
            started_at: "2026-12-02T01:00:00.000Z".into(),
            finished_at: "2026-12-02T01:00:01.500Z".into(),
            outcome: RecordOutcome {
                status: StepStatus::Succeeded,
                summary: Some("3 files".into()),
                error: None,
            },
            output_digest: Some("ef".repeat(32)),
            materials: vec![Material {
                name: "component".into(),
                blake3: "ab".repeat(32),
            }],
            products: vec![Product {
                path: "out/a.txt".into(),
                change: FileChange::Created,
                blake3: Some("12".repeat(32)),
                bytes: 5,
            }],
            checks: serde_json::json!([{"name": "ok", "passed": true, "detail": "fine"}]),
            notes_digest: "34".repeat(32),
        }
    }

    /// The signed format must not change by accident: these bytes, this hash and this
    /// signature are what a `nightshift.record/v1` record of `known_body` is.
    #[test]
    fn the_canonical_bytes_of_a_known_record_are_pinned() {
        let head = ChainHead {
            seq: 3,
            prev_hash: Some("56".repeat(32)),
        };
        let signer = Signer::from_seed([7; 32]);
        let row = known_body().seal(&head, &signer).expect("seal");
        let expected = concat!(
            r#"{"attempt":2,"checks":[{"detail":"fine","name":"ok","passed":true}],"#,
            r#""finished_at":"2026-12-02T01:00:01.500Z","format":"nightshift.record/v1","#,
            r#""grants":{"clocks":{"mode":"virtual","seed":"0101010101010101010101010101010101010101010101010101010101010101"},"#,
            r#""data_bytes":1048576,"env":["LANG"],"fuel":null,"log_bytes":1048576,"memory_bytes":268435456,"#,
            r#""network":[],"output_bytes":1048576,"read":["."],"timeout_ms":300000,"write":["out"],"#,
            r#""write_bytes":1073741824},"kind":"plugin","#,
            r#""materials":[{"blake3":"abababababababababababababababababababababababababababababababab","name":"component"}],"#,
            r#""notes_digest":"3434343434343434343434343434343434343434343434343434343434343434","#,
            r#""outcome":{"error":null,"status":"succeeded","summary":"3 files"},"#,
            r#""output_digest":"efefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefef","#,
            r#""params_digest":"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","#,
            r#""plugin":{"digest":"abababababababababababababababababababababababababababababababab","name":"file-stats"},"#,
            r#""prev":"5656565656565656565656565656565656565656565656565656565656565656","#,
            r#""products":[{"blake3":"1212121212121212121212121212121212121212121212121212121212121212","bytes":5,"change":"created","path":"out/a.txt"}],"#,
            r#""seq":3,"started_at":"2026-12-02T01:00:00.000Z","step":"scan","task":"0190aa"}"#
        );
        assert_eq!(row.body, expected);
        assert_eq!(
            row.hash,
            blake3::hash(expected.as_bytes()).to_hex().to_string()
        );
        assert_eq!(row.hash, PINNED_HASH, "the hash of the pinned body changed");
        assert_eq!(
            row.signature, PINNED_SIGNATURE,
            "ed25519 signatures are deterministic"
        );
        assert_eq!(
            check_seal(&row, &signer.public_key()).expect("verifies"),
            RecordBody {
                seq: 3,
                prev: head.prev_hash.clone(),
                ..known_body()
            }
        );
    }

    /// An interrupted attempt's record: no grants, no component when its step row is gone.
    #[test]
    fn an_interrupted_record_keeps_its_nulls() {
        let body = RecordBody {
            plugin: ComponentRef {
                name: None,
                digest: None,
            },
            grants: None,
            outcome: RecordOutcome {
                status: StepStatus::Interrupted,
                summary: None,
                error: Some("its process stopped".into()),
            },
            ..known_body()
        };
        let text = canonical_json(&serde_json::to_value(&body).expect("encode"));
        assert!(text.contains(r#""grants":null"#), "{text}");
        assert!(
            text.contains(r#""plugin":{"digest":null,"name":null}"#),
            "{text}"
        );
    }

    const PINNED_HASH: &str = "fe5704af02b78f8759ee42357768b7b48e65a1e6ea5723a9c88d8eb7ff276ec4";
    const PINNED_SIGNATURE: &str = "58a6a5c114f42685f9247393bc67db9c3ba2806c7642dc62b1fe2e5fc6f0730642e6babdac6a750fd779178f3519c235f16a806c439eea618c319546710c3d09";
}
