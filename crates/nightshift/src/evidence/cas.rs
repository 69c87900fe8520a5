//! The content-addressed store: each blob lives once, at `cas/<first two hex>/<digest>`,
//! reached beneath the state directory without following a symlink.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use cap_std::fs::Dir;

use crate::beneath::{self, BeneathError};

/// Errors reading or writing the artifact store.
#[derive(Debug, thiserror::Error)]
pub enum CasError {
    /// A blob could not be written.
    #[error("cannot store artifact {digest} in {path}: {cause}")]
    Write {
        /// The blob's digest.
        digest: String,
        /// Where it was going.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// A blob could not be read.
    #[error("cannot read artifact {digest} from {path}: {cause}")]
    Read {
        /// The blob's digest.
        digest: String,
        /// Where it should be.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// A directory on the way to a blob is not a plain directory any more (a symlink was
    /// planted in the store).
    #[error("artifact store {path}: {cause}")]
    Refused {
        /// The directory.
        path: PathBuf,
        /// What it became (shown in the message, so not a `source`).
        cause: BeneathError,
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
        self.dir.join(shard_of(digest)).join(digest)
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
        let shard = self.shard(&digest, true)?;
        let fail = |source| CasError::Write {
            digest: digest.clone(),
            path: self.path_of(&digest),
            cause: source,
        };
        match shard.symlink_metadata(&digest) {
            Ok(meta) if meta.is_file() => return Ok(digest),
            Ok(_) => {
                return Err(fail(std::io::Error::other(
                    "something other than a file is in its place",
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail(e)),
        }
        let temporary = format!(".tmp-{}", uuid::Uuid::now_v7().simple());
        beneath::write_atomically(
            &shard,
            OsStr::new(&digest),
            OsStr::new(&temporary),
            bytes,
            sync,
        )
        .map_err(fail)?;
        Ok(digest)
    }

    /// Reads the blob with `digest` and checks that it still hashes to it.
    pub fn get(&self, digest: &str) -> Result<Vec<u8>, CasError> {
        let path = self.path_of(digest);
        let read = |source| CasError::Read {
            digest: digest.to_owned(),
            path: path.clone(),
            cause: source,
        };
        let shard = self.shard(digest, false)?;
        let bytes = match beneath::read_file(&shard, OsStr::new(digest)) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Err(read(std::io::ErrorKind::NotFound.into())),
            Err(cause) => {
                return Err(CasError::Refused {
                    path: path.clone(),
                    cause,
                });
            }
        };
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

    /// The shard directory of `digest`, opened beneath the state directory without following
    /// a symlink (created when `create`).
    fn shard(&self, digest: &str, create: bool) -> Result<Dir, CasError> {
        let (state, name) = match (self.dir.parent(), self.dir.file_name()) {
            (Some(state), Some(name)) => (state, Path::new(name)),
            _ => (self.dir.as_path(), Path::new("")),
        };
        let rel = name.join(shard_of(digest));
        let refused = |cause| CasError::Refused {
            path: self.dir.join(shard_of(digest)),
            cause,
        };
        let root = beneath::open_root(state).map_err(|cause| {
            refused(BeneathError::Io {
                path: state.display().to_string(),
                cause,
            })
        })?;
        if create {
            beneath::create_dir_all(&root, &rel).map_err(refused)
        } else {
            beneath::open_dir(&root, &rel).map_err(|e| match e {
                BeneathError::Io { cause, .. } if cause.kind() == std::io::ErrorKind::NotFound => {
                    CasError::Read {
                        digest: digest.to_owned(),
                        path: self.path_of(digest),
                        cause,
                    }
                }
                other => refused(other),
            })
        }
    }
}

/// The shard (first two hex digits) a digest is stored under.
fn shard_of(digest: &str) -> &str {
    digest.get(..2).unwrap_or("xx")
}
