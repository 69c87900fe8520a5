//! Applies a committed step's changes to the workspace from the artifact store.
//!
//! Each file is written to a temporary name beside its target, synced, then renamed over it,
//! so a file is always either old or new. Applying is idempotent: after a crash, recovery
//! applies the whole step again and the workspace ends as if the first apply had finished.
//! Every directory on the way is opened beneath the workspace handle without following a
//! symlink: a directory that became a symlink since the step started is refused, and a file
//! that became one is replaced as a link, never written through.

use std::ffi::OsString;
use std::path::Path;

use cap_std::fs::Dir;

use crate::beneath::{self, BeneathError};
use crate::evidence::{Cas, CasError};
use crate::failpoint;
use crate::journal::{ArtifactKind, ArtifactRow};

/// Errors applying changes.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The content to write is missing or corrupt in `cas/`.
    #[error(transparent)]
    Cas(#[from] CasError),
    /// The workspace refused a write, or a directory on the way is no longer one.
    #[error("cannot apply {path}: {cause}")]
    Workspace {
        /// The file, relative to the workspace.
        path: String,
        /// The cause (shown in the message, so not a `source`).
        cause: BeneathError,
    },
}

/// Writes the file artifacts of one attempt into the workspace `dir`.
pub(super) fn apply(
    cas: &Cas,
    workspace: &Dir,
    artifacts: &[ArtifactRow],
) -> Result<(), ApplyError> {
    let files: Vec<_> = artifacts
        .iter()
        .filter(|a| a.kind == ArtifactKind::File)
        .collect();
    for (done, artifact) in files.iter().enumerate() {
        if done == 1 {
            failpoint::hit("mid-apply");
        }
        let refused = |cause| ApplyError::Workspace {
            path: artifact.name.clone(),
            cause,
        };
        let rel = Path::new(&artifact.name);
        let (parent, name) = beneath::split(rel).ok_or_else(|| {
            refused(BeneathError::Escapes {
                path: artifact.name.clone(),
            })
        })?;
        let io = |cause| {
            refused(BeneathError::Io {
                path: artifact.name.clone(),
                cause,
            })
        };
        match &artifact.blake3 {
            Some(digest) => {
                let content = cas.get(digest)?;
                let dir = beneath::create_dir_all(workspace, parent).map_err(refused)?;
                beneath::write_atomically(&dir, name, &temporary(name), &content, true)
                    .map_err(io)?;
            }
            None => match beneath::open_dir(workspace, parent) {
                Ok(dir) => beneath::remove_file(&dir, name).map_err(io)?,
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(refused(e)),
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

/// The temporary name beside `name`.
fn temporary(name: &std::ffi::OsStr) -> OsString {
    let mut temporary = OsString::from(".");
    temporary.push(name);
    temporary.push(TEMPORARY_SUFFIX);
    temporary
}
