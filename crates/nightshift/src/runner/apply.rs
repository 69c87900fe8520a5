//! Applies a committed step's changes to the workspace from the artifact store.
//!
//! Each file is written to a temporary name beside its target, synced, then renamed over it,
//! so a file is always either old or new. Applying is idempotent: after a crash, recovery
//! applies the whole step again and the workspace ends as if the first apply had finished.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::evidence::{Cas, CasError};
use crate::failpoint;
use crate::journal::ArtifactRow;

/// Errors applying changes.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The content to write is missing or corrupt in `cas/`.
    #[error(transparent)]
    Cas(#[from] CasError),
    /// The workspace refused a write.
    #[error("cannot apply {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Writes the file artifacts of one attempt into `workspace`.
pub(super) fn apply(
    cas: &Cas,
    workspace: &Path,
    artifacts: &[ArtifactRow],
) -> Result<(), ApplyError> {
    let files: Vec<_> = artifacts.iter().filter(|a| a.kind == "file").collect();
    for (done, artifact) in files.iter().enumerate() {
        if done == 1 {
            failpoint::hit("mid-apply");
        }
        let target = workspace.join(&artifact.name);
        let io = |source| ApplyError::Io {
            path: target.clone(),
            source,
        };
        match &artifact.blake3 {
            Some(digest) => {
                let content = cas.get(digest)?;
                write_atomically(&target, &content).map_err(io)?;
            }
            None => match std::fs::remove_file(&target) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
                _ => {}
            },
        }
    }
    Ok(())
}

/// The suffix of the temporary file a change is written to before it is renamed into place.
const TEMPORARY_SUFFIX: &str = ".nightshift-tmp";

/// Whether a file is a change being applied, not yet in place.
pub(super) fn is_temporary(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().ends_with(TEMPORARY_SUFFIX)
}

fn write_atomically(target: &Path, content: &[u8]) -> std::io::Result<()> {
    let dir = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}{TEMPORARY_SUFFIX}"));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(content)?;
    file.sync_all()?;
    std::fs::rename(&tmp, target)
}
