//! The ed25519 signing key of a state directory: created on first use in `keys/` (mode 0600),
//! never regenerated behind the user's back once records exist that it signed.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::Digest as _;

use super::canonical::canonical_json;

const KEY_FILE: &str = "signing.key";

/// Errors loading or creating the signing key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No key exists where one is needed.
    #[error("no signing key at {path}{}", .used.as_ref().map(|k| format!("; the journal holds records signed by key {k}: restore that key file")).unwrap_or_default())]
    Missing {
        /// Where it should be.
        path: PathBuf,
        /// The key id the journal's records were signed with, if any.
        used: Option<String>,
    },
    /// The key file cannot be read or written.
    #[error("signing key {path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// The key file does not hold a key.
    #[error("signing key {path} is malformed: expected 64 hex digits (an ed25519 seed)")]
    Malformed {
        /// The file.
        path: PathBuf,
    },
    /// The operating system gave no randomness for a new key.
    #[error("cannot generate a signing key: {0}")]
    Random(getrandom::Error),
}

/// A loaded signing key.
pub struct Signer {
    key: SigningKey,
    key_id: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A public key that checks signatures.
#[derive(Debug, Clone)]
pub struct PublicKey {
    key: VerifyingKey,
    key_id: String,
}

impl Signer {
    /// Loads the key in `keys_dir`. When there is none: creates one if `signed_with` is `None`
    /// (the journal has no records yet), else refuses, naming the key the records need.
    pub fn load_or_create(keys_dir: &Path, signed_with: Option<&str>) -> Result<Signer, KeyError> {
        let path = keys_dir.join(KEY_FILE);
        match Signer::load(keys_dir) {
            Err(KeyError::Missing { .. }) if signed_with.is_none() => Signer::create(&path),
            Err(KeyError::Missing { path, .. }) => Err(KeyError::Missing {
                path,
                used: signed_with.map(str::to_owned),
            }),
            other => other,
        }
    }

    /// Loads the key in `keys_dir`.
    pub fn load(keys_dir: &Path) -> Result<Signer, KeyError> {
        let path = keys_dir.join(KEY_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeyError::Missing { path, used: None });
            }
            Err(source) => {
                return Err(KeyError::Io {
                    path,
                    cause: source,
                });
            }
        };
        let seed = decode_hex(text.trim())
            .filter(|b| b.len() == 32)
            .ok_or_else(|| KeyError::Malformed { path: path.clone() })?;
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&seed);
        Ok(Signer::from_seed(bytes))
    }

    fn create(path: &Path) -> Result<Signer, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_path_buf(),
            cause: source,
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir).map_err(io)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(KeyError::Random)?;
        // Written whole under a unique name, then linked into place: a process starting at
        // the same moment either wins the link or reads the complete key of the one that did.
        let tmp = dir.join(format!(".{KEY_FILE}.{}", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).map_err(io)?;
        file.write_all(format!("{}\n", hex(&seed)).as_bytes())
            .map_err(io)?;
        file.sync_all().map_err(io)?;
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Signer::load(dir),
            Err(e) => return Err(io(e)),
        }
        tracing::info!(path = %path.display(), "created signing key");
        Ok(Signer::from_seed(seed))
    }

    /// The signer of the key made from `seed`.
    pub(crate) fn from_seed(seed: [u8; 32]) -> Signer {
        let key = SigningKey::from_bytes(&seed);
        let key_id = key_id(&key.verifying_key());
        Signer { key, key_id }
    }

    /// The key's id: sha256 of its canonical public key object (as securesystemslib computes).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Signs `message`, returning the signature.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            key: self.key.verifying_key(),
            key_id: self.key_id.clone(),
        }
    }
}

impl PublicKey {
    /// The key id.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The public key as hex.
    pub fn hex(&self) -> String {
        hex(self.key.as_bytes())
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(bytes) = <[u8; 64]>::try_from(signature) else {
            return false;
        };
        self.key
            .verify(message, &Signature::from_bytes(&bytes))
            .is_ok()
    }

    /// The key as the in-toto / securesystemslib tools read it.
    pub fn to_json(&self) -> serde_json::Value {
        let mut object = key_object(&self.key);
        object["keyid"] = serde_json::Value::String(self.key_id.clone());
        object
    }
}

fn key_object(key: &VerifyingKey) -> serde_json::Value {
    serde_json::json!({ "keytype": "ed25519", "scheme": "ed25519", "keyval": { "public": hex(key.as_bytes()) } })
}

fn key_id(key: &VerifyingKey) -> String {
    hex(&sha2::Sha256::digest(
        canonical_json(&key_object(key)).as_bytes(),
    ))
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    Ok(())
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of lower- or upper-case hex text, if it is hex.
pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_a_private_key_once_and_loads_it_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = dir.path().join("keys");
        let first = Signer::load_or_create(&keys, None).expect("create");
        let again = Signer::load_or_create(&keys, None).expect("load");
        assert_eq!(first.key_id(), again.key_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(keys.join(KEY_FILE))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let signature = first.sign(b"message");
        assert!(again.public_key().verifies(b"message", &signature));
        assert!(!again.public_key().verifies(b"massage", &signature));
    }

    #[test]
    fn a_missing_key_is_not_replaced_when_records_need_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = Signer::load_or_create(dir.path(), Some("abc123")).expect_err("refused");
        assert!(err.to_string().contains("signed by key abc123"), "{err}");
        std::fs::write(dir.path().join(KEY_FILE), "not hex").expect("write");
        assert!(matches!(
            Signer::load(dir.path()),
            Err(KeyError::Malformed { .. })
        ));
    }
}
