//! Staging of a step's writes: each write grant is copied into a staging directory and the
//! guest writes there; afterwards the staged tree is compared with the copy's digests, so a
//! step's changes are known exactly and reach the workspace only after commit.
//!
//! Each change remembers the digest of the file it started from. Before commit, a file whose
//! workspace content no longer has that digest was changed by someone else meanwhile: a
//! conflict, and the step runs again on the new state instead of overwriting it.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use cap_std::fs::Dir;

use super::apply;
use crate::beneath::{self, BeneathError};
use crate::journal::FileChange;
use crate::sandbox::{DirGrant, OpenedDir};

/// One change found in staging.
#[derive(Debug, Clone)]
pub(super) struct StagedChange {
    /// Workspace-relative path.
    pub(super) path: String,
    pub(super) kind: FileChange,
    /// The write grant it was made in, as the guest sees it.
    pub(super) grant: String,
    /// Where the new content is, for created and modified files: the grant's index and the
    /// path below it.
    staged: Option<(usize, PathBuf)>,
    /// blake3 of the file when the step started (none if it did not exist).
    pub(super) base: Option<String>,
}

impl StagedChange {
    /// Whether the workspace file still is what the step started from, read beneath the
    /// workspace; a symlink on the way is refused.
    pub(super) fn still_current(&self, workspace: &Dir) -> Result<bool, BeneathError> {
        let content = beneath::read_file_beneath(workspace, Path::new(&self.path))?;
        Ok(content.map(|c| crate::evidence::digest(&c)) == self.base)
    }
}

/// The staging directories of one attempt.
#[derive(Debug)]
pub(super) struct Staging {
    /// `staging/` in the state directory.
    parent: Dir,
    /// This attempt's directory in it.
    name: OsString,
    dirs: Vec<StagedDir>,
}

/// One write grant, its staging copy and the digests of what was copied.
#[derive(Debug)]
struct StagedDir {
    grant: DirGrant,
    staged: Dir,
    base: BTreeMap<PathBuf, String>,
}

impl Staging {
    /// Copies each write grant (`sources`, opened beneath the workspace; `None` where the
    /// directory does not exist yet) into `parent/name/<n>`, replacing whatever an earlier,
    /// interrupted attempt left there.
    pub(super) fn prepare(
        parent: Dir,
        name: &str,
        write: &[DirGrant],
        sources: &[Option<Dir>],
    ) -> Result<Staging, BeneathError> {
        let name = OsString::from(name);
        let io = |cause| BeneathError::Io {
            path: name.to_string_lossy().into_owned(),
            cause,
        };
        beneath::remove_dir_all(&parent, &name).map_err(io)?;
        let mut dirs = Vec::with_capacity(write.len());
        if write.is_empty() {
            // Nothing to stage: the state directory is left untouched, so the commit's
            // fsync carries no directory changes.
            return Ok(Staging { parent, name, dirs });
        }
        let root = beneath::create_dir_all(&parent, Path::new(&name))?;
        for (index, (grant, source)) in write.iter().zip(sources).enumerate() {
            let staged = beneath::create_dir_all(&root, Path::new(&index.to_string()))?;
            let mut base = BTreeMap::new();
            if let Some(source) = source {
                copy_tree(source, &staged, Path::new(""), &mut base)?;
            }
            dirs.push(StagedDir {
                grant: grant.clone(),
                staged,
                base,
            });
        }
        Ok(Staging { parent, name, dirs })
    }

    /// The staging directories, opened for the guest where it sees its write grants.
    pub(super) fn opened(&self) -> std::io::Result<Vec<OpenedDir>> {
        self.dirs
            .iter()
            .map(|dir| {
                Ok(OpenedDir {
                    dir: dir.staged.try_clone()?,
                    guest: dir.grant.guest.clone(),
                })
            })
            .collect()
    }

    /// What the step changed in staging since it started, in path order.
    pub(super) fn changes(&self) -> Result<Vec<StagedChange>, BeneathError> {
        let mut changes = Vec::new();
        for (
            index,
            StagedDir {
                grant,
                staged,
                base,
            },
        ) in self.dirs.iter().enumerate()
        {
            let mut paths = BTreeSet::new();
            list_files(staged, Path::new(""), &mut paths)?;
            let original: BTreeSet<PathBuf> = base.keys().cloned().collect();
            for rel in paths.union(&original) {
                let before = base.get(rel).cloned();
                let kind = match (paths.contains(rel), &before) {
                    (true, None) => FileChange::Created,
                    (false, _) => FileChange::Deleted,
                    (true, Some(digest)) => {
                        let now = beneath::read_file_beneath(staged, rel)?;
                        if now.map(|c| crate::evidence::digest(&c)).as_ref() == Some(digest) {
                            continue;
                        }
                        FileChange::Modified
                    }
                };
                let relative = rel.to_string_lossy().replace('\\', "/");
                let path = if grant.guest == "." {
                    relative
                } else {
                    format!("{}/{relative}", grant.guest)
                };
                changes.push(StagedChange {
                    path,
                    kind,
                    grant: grant.guest.clone(),
                    staged: (kind != FileChange::Deleted).then(|| (index, rel.clone())),
                    base: before,
                });
            }
        }
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(changes)
    }

    /// The new content of a created or modified file; `None` for a deletion.
    pub(super) fn content(&self, change: &StagedChange) -> Result<Option<Vec<u8>>, BeneathError> {
        let Some((index, rel)) = &change.staged else {
            return Ok(None);
        };
        let Some(dir) = self.dirs.get(*index) else {
            return Ok(None);
        };
        beneath::read_file_beneath(&dir.staged, rel)
    }

    /// Removes the staging directories.
    pub(super) fn discard(self) {
        if let Err(e) = beneath::remove_dir_all(&self.parent, &self.name) {
            tracing::warn!(name = %self.name.to_string_lossy(), "cannot remove staging directory: {e}");
        }
    }
}

/// Copies `from` into `to`, noting the digest of each file copied under its path below the
/// grant (`rel`). Symlinks are not staged: a guest cannot follow them out of a grant anyway.
fn copy_tree(
    from: &Dir,
    to: &Dir,
    rel: &Path,
    base: &mut BTreeMap<PathBuf, String>,
) -> Result<(), BeneathError> {
    let io = |cause| BeneathError::Io {
        path: rel.to_string_lossy().into_owned(),
        cause,
    };
    for entry in from.entries().map_err(io)? {
        let entry = entry.map_err(io)?;
        let kind = entry.file_type().map_err(io)?;
        let name = entry.file_name();
        let path = rel.join(&name);
        if kind.is_dir() {
            let source = beneath::open_dir(from, Path::new(&name)).map_err(|e| e.within(rel))?;
            let target =
                beneath::create_dir_all(to, Path::new(&name)).map_err(|e| e.within(rel))?;
            copy_tree(&source, &target, &path, base)?;
        } else if kind.is_file() && !apply::is_temporary(&name) {
            let content = match beneath::read_file(from, &name) {
                Ok(Some(content)) => content,
                // Removed or renamed since it was listed (another task applying its
                // changes): it is not part of what this step starts from.
                Ok(None) => continue,
                // Swapped for a symlink since it was listed: not staged, like any symlink.
                Err(BeneathError::Symlink { .. }) => continue,
                Err(e) => return Err(e.within(rel)),
            };
            beneath::write_new(to, &name, &content).map_err(io)?;
            base.insert(path, crate::evidence::digest(&content));
        }
    }
    Ok(())
}

/// The regular files beneath `dir`, relative to it and prefixed with `rel` (symlinks are not
/// followed).
fn list_files(dir: &Dir, rel: &Path, out: &mut BTreeSet<PathBuf>) -> Result<(), BeneathError> {
    let io = |cause| BeneathError::Io {
        path: rel.to_string_lossy().into_owned(),
        cause,
    };
    for entry in dir.entries().map_err(io)? {
        let entry = entry.map_err(io)?;
        let kind = entry.file_type().map_err(io)?;
        let name = entry.file_name();
        let path = rel.join(&name);
        if kind.is_dir() {
            let sub = beneath::open_dir(dir, Path::new(&name)).map_err(|e| e.within(rel))?;
            list_files(&sub, &path, out)?;
        } else if kind.is_file() {
            out.insert(path);
        }
    }
    Ok(())
}
