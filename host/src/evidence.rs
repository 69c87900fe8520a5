//! Evidence of what steps produced: blake3 digests, the content-addressed artifact store
//! (`cas/`), and snapshots of write grants that tell which files a step created, modified or
//! deleted.

mod cas;
mod snapshot;

pub use cas::{Cas, CasError};
pub use snapshot::{Change, ChangeKind, Snapshot};

/// The blake3 digest of `bytes`, as lower-case hex.
pub fn digest(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}
