//! The content-addressed store: each blob lives once, at `cas/<first two hex>/<digest>`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Errors reading or writing the artifact store.
#[derive(Debug, thiserror::Error)]
pub enum CasError {
    /// A blob could not be written.
    #[error("cannot store artifact {digest} in {path}: {source}")]
    Write {
        /// The blob's digest.
        digest: String,
        /// Where it was going.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A blob could not be read.
    #[error("cannot read artifact {digest} from {path}: {source}")]
    Read {
        /// The blob's digest.
        digest: String,
        /// Where it should be.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A blob's content no longer matches its digest.
    #[error("artifact {path} is corrupt: its content hashes to {actual}, not {digest}")]
    Corrupt {
        /// The expected digest.
        digest: String,
        /// The digest of what is there.
        actual: String,
        /// Where it is.
        path: PathBuf,
    },
}

/// The artifact store in a state directory.
#[derive(Debug, Clone)]
pub struct Cas {
    dir: PathBuf,
}

impl Cas {
    /// The store rooted at `dir` (which exists).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Cas { dir: dir.into() }
    }

    /// Where the blob with `digest` lives.
    pub fn path_of(&self, digest: &str) -> PathBuf {
        let shard = digest.get(..2).unwrap_or("xx");
        self.dir.join(shard).join(digest)
    }

    /// Stores `bytes` and returns their digest. Writing is atomic: a blob is either whole or
    /// absent, whatever happens to the process; it is synced to disk before this returns.
    pub fn put(&self, bytes: &[u8]) -> Result<String, CasError> {
        self.store(bytes, true)
    }

    /// Stores data derived from the journal (a report), which can be rebuilt from it: atomic
    /// like [`Cas::put`], without waiting for the disk.
    pub fn put_derived(&self, bytes: &[u8]) -> Result<String, CasError> {
        self.store(bytes, false)
    }

    fn store(&self, bytes: &[u8], sync: bool) -> Result<String, CasError> {
        let digest = super::digest(bytes);
        let path = self.path_of(&digest);
        if path.exists() {
            return Ok(digest);
        }
        let fail = |source| CasError::Write {
            digest: digest.clone(),
            path: path.clone(),
            source,
        };
        let shard = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(shard).map_err(fail)?;
        let mut tmp = tempfile_in(shard).map_err(fail)?;
        tmp.1.write_all(bytes).map_err(fail)?;
        if sync {
            tmp.1.sync_all().map_err(fail)?;
        }
        std::fs::rename(&tmp.0, &path).map_err(fail)?;
        Ok(digest)
    }

    /// Reads the blob with `digest` and checks that it still hashes to it.
    pub fn get(&self, digest: &str) -> Result<Vec<u8>, CasError> {
        let path = self.path_of(digest);
        let bytes = std::fs::read(&path).map_err(|source| CasError::Read {
            digest: digest.to_owned(),
            path: path.clone(),
            source,
        })?;
        let actual = super::digest(&bytes);
        if actual != digest {
            return Err(CasError::Corrupt {
                digest: digest.to_owned(),
                actual,
                path,
            });
        }
        Ok(bytes)
    }
}

/// A new file with a unique name in `dir`, removed by the rename or left as `.tmp-*` garbage.
fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let name = format!(".tmp-{}", uuid::Uuid::now_v7().simple());
    let path = dir.join(name);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    Ok((path, file))
}
