//! Hashing files for evidence, as fast as the machine allows: large files are memory-mapped
//! and hashed on every core (blake3's tree lets one file's chunks be hashed in parallel);
//! many small files are hashed side by side, one per core.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Files at least this large are hashed by all cores at once.
const LARGE: u64 = 1 << 20;

/// The blake3 digest (hex) and size of a file, or why it could not be read.
pub type FileDigest = io::Result<(String, u64)>;

/// The blake3 digest (hex) and size of one file.
pub fn digest_file(path: &Path) -> FileDigest {
    let size = std::fs::metadata(path)?.len();
    let mut hasher = blake3::Hasher::new();
    if size >= LARGE {
        hasher.update_mmap_rayon(path)?;
    } else {
        hasher.update(&std::fs::read(path)?);
    }
    Ok((hasher.finalize().to_hex().to_string(), size))
}

/// The digest and size of each file, in the order given.
pub fn digest_files(paths: &[PathBuf]) -> Vec<FileDigest> {
    let sizes: Vec<u64> = paths
        .iter()
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .collect();
    let results: Vec<Mutex<Option<FileDigest>>> = paths.iter().map(|_| Mutex::new(None)).collect();
    let set = |index: usize, result| {
        if let Ok(mut slot) = results[index].lock() {
            *slot = Some(result);
        }
    };
    // Large files one at a time, each on every core.
    for (index, path) in paths.iter().enumerate() {
        if sizes[index] >= LARGE {
            set(index, digest_file(path));
        }
    }
    // Small files side by side, one per core.
    let next = AtomicUsize::new(0);
    let small = sizes.iter().filter(|&&size| size < LARGE).count();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(small);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = paths.get(index) else {
                        return;
                    };
                    if sizes[index] < LARGE {
                        set(index, digest_file(path));
                    }
                }
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Err(io::Error::other("not hashed")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_blake3_for_small_large_and_missing_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let small = dir.path().join("small");
        let large = dir.path().join("large");
        std::fs::write(&small, b"hello").expect("write");
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&large, &big).expect("write");
        let missing = dir.path().join("missing");
        let results = digest_files(&[small, large, missing]);
        assert_eq!(
            results[0].as_ref().expect("small"),
            &(blake3::hash(b"hello").to_hex().to_string(), 5)
        );
        assert_eq!(
            results[1].as_ref().expect("large"),
            &(blake3::hash(&big).to_hex().to_string(), big.len() as u64)
        );
        assert!(results[2].is_err());
    }
}
