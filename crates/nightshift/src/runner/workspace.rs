//! The workspace of a task, held open as a directory handle, and a step's grants opened
//! beneath it at the moment the step starts: a grant whose directory (or a parent of it)
//! became a symlink since the pipeline was checked is refused, naming the grant and what it
//! became, and the guest is handed the directory that was opened, never a path.

use std::path::{Path, PathBuf};

use cap_std::fs::Dir;

use crate::beneath::{self, BeneathError};
use crate::sandbox::{DirGrant, OpenedDir};

/// A task's workspace: the path it was named by and the directory that path led to when the
/// task (or its resumption) started.
#[derive(Debug)]
pub(super) struct Workspace {
    pub(super) path: PathBuf,
    pub(super) dir: Dir,
}

/// The workspace directory itself could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the workspace {path}: {cause}")]
pub struct WorkspaceError {
    path: PathBuf,
    cause: std::io::Error,
}

impl Workspace {
    /// Opens the workspace `path` names now.
    pub(super) fn open(path: &Path) -> Result<Workspace, WorkspaceError> {
        let dir = beneath::open_root(path).map_err(|cause| WorkspaceError {
            path: path.to_path_buf(),
            cause,
        })?;
        Ok(Workspace {
            path: path.to_path_buf(),
            dir,
        })
    }
}

/// A grant the step may not use (or whose result may not stand).
#[derive(Debug, thiserror::Error)]
pub(super) enum GrantRefused {
    /// Its directory cannot be opened beneath the workspace.
    #[error("{access} grant `{grant}` refused: {cause}")]
    Beneath {
        /// `read` or `write`.
        access: &'static str,
        /// The grant as the guest sees it.
        grant: String,
        /// What its path became (shown in the message, so not a `source`).
        cause: BeneathError,
    },
    /// Its path led to another directory by the time the step ended.
    #[error(
        "read grant `{grant}` refused: it was replaced by another directory while the step ran, so what the step read is not what `{grant}` holds"
    )]
    Replaced {
        /// The grant as the guest sees it.
        grant: String,
    },
}

impl GrantRefused {
    fn new(access: &'static str, grant: &str, cause: BeneathError) -> Self {
        GrantRefused::Beneath {
            access,
            grant: grant.to_owned(),
            cause,
        }
    }
}

/// Opens each read grant beneath the workspace, refusing symlinks on the way.
pub(super) fn open_read(
    workspace: &Workspace,
    grants: &[DirGrant],
) -> Result<Vec<OpenedDir>, GrantRefused> {
    grants
        .iter()
        .map(|grant| {
            let dir = beneath::open_dir(&workspace.dir, Path::new(&grant.guest))
                .map_err(|e| GrantRefused::new("read", &grant.guest, e))?;
            Ok(OpenedDir {
                dir,
                guest: grant.guest.clone(),
            })
        })
        .collect()
}

/// Opens each write grant beneath the workspace, refusing symlinks on the way; `None` for a
/// grant whose directory does not exist yet (the apply creates it).
pub(super) fn open_write(
    workspace: &Workspace,
    grants: &[DirGrant],
) -> Result<Vec<Option<Dir>>, GrantRefused> {
    grants
        .iter()
        .map(
            |grant| match beneath::open_dir(&workspace.dir, Path::new(&grant.guest)) {
                Ok(dir) => Ok(Some(dir)),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(GrantRefused::new("write", &grant.guest, e)),
            },
        )
        .collect()
}

/// Checks, once the step ended, that each read grant still leads beneath the workspace to
/// the directory the guest was given: a grant swapped while the step ran is refused, so a
/// result is never recorded as read from a directory that is not there any more.
pub(super) fn check_read_unchanged(
    workspace: &Workspace,
    opened: &[OpenedDir],
) -> Result<(), GrantRefused> {
    use cap_std::fs::MetadataExt as _;
    for given in opened {
        let now = beneath::open_dir(&workspace.dir, Path::new(&given.guest))
            .map_err(|e| GrantRefused::new("read", &given.guest, e))?;
        let same = match (given.dir.dir_metadata(), now.dir_metadata()) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        };
        if !same {
            return Err(GrantRefused::Replaced {
                grant: given.guest.clone(),
            });
        }
    }
    Ok(())
}
