//! Evidence of what steps did: blake3 digests, the content-addressed artifact store (`cas/`),
//! the signing key, and signed, hash-chained step records.

mod canonical;
mod cas;
mod hashing;
pub mod intoto;
mod keys;
pub mod record;
pub mod verify;

pub use canonical::canonical_json;
pub use cas::{Cas, CasError};
pub use hashing::{FileDigest, digest_file, digest_files};
pub use keys::{KeyError, PublicKey, Signer, decode_hex, hex};

/// The blake3 digest of `bytes`, as lower-case hex.
pub fn digest(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}
