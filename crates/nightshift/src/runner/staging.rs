//! Staging of a step's writes: each write grant is copied into a staging directory and the
//! guest writes there; afterwards the staged tree is compared with the copy's digests, so a
//! step's changes are known exactly and reach the workspace only after commit.
//!
//! Each change remembers the digest of the file it started from. Before commit, a file whose
//! workspace content no longer has that digest was changed by someone else meanwhile: a
//! conflict, and the step runs again on the new state instead of overwriting it.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use super::apply;
use crate::sandbox::{DirGrant, Grants};

/// What happened to a file during a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ChangeKind {
    /// The file did not exist before the step.
    Created,
    /// The file existed and its content changed.
    Modified,
    /// The file existed before the step and does not after it.
    Deleted,
}

impl ChangeKind {
    /// The word records and reports use.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Modified => "modified",
            ChangeKind::Deleted => "deleted",
        }
    }
}

/// One change found in staging.
#[derive(Debug, Clone)]
pub(super) struct StagedChange {
    /// Workspace-relative path.
    pub(super) path: String,
    pub(super) kind: ChangeKind,
    /// The new content, for created and modified files.
    pub(super) staged: Option<PathBuf>,
    /// The file in the workspace.
    pub(super) original: PathBuf,
    /// blake3 of the file when the step started (none if it did not exist).
    pub(super) base: Option<String>,
}

impl StagedChange {
    /// Whether the workspace file still is what the step started from.
    pub(super) fn still_current(&self) -> io::Result<bool> {
        Ok(digest_file(&self.original)? == self.base)
    }
}

/// The staging directories of one attempt.
#[derive(Debug)]
pub(super) struct Staging {
    root: PathBuf,
    dirs: Vec<StagedDir>,
}

/// One write grant, its staging copy and the digests of what was copied.
#[derive(Debug)]
struct StagedDir {
    grant: DirGrant,
    staged: PathBuf,
    base: BTreeMap<PathBuf, String>,
}

impl Staging {
    /// Copies each write grant into `root/<n>` (replacing whatever an earlier, interrupted
    /// attempt left there).
    pub(super) fn prepare(root: &Path, write: &[DirGrant]) -> io::Result<Staging> {
        remove_dir_if_exists(root)?;
        let mut dirs = Vec::with_capacity(write.len());
        for (index, grant) in write.iter().enumerate() {
            let staged = root.join(index.to_string());
            std::fs::create_dir_all(&staged)?;
            let mut base = BTreeMap::new();
            if grant.host.is_dir() {
                copy_tree(&grant.host, &staged, Path::new(""), &mut base)?;
            }
            dirs.push(StagedDir {
                grant: grant.clone(),
                staged,
                base,
            });
        }
        Ok(Staging {
            root: root.to_path_buf(),
            dirs,
        })
    }

    /// The grants with each write grant pointing at its staging directory.
    pub(super) fn redirect(&self, grants: &Grants) -> Grants {
        let mut staged = grants.clone();
        staged.write = self
            .dirs
            .iter()
            .map(|dir| DirGrant {
                host: dir.staged.clone(),
                guest: dir.grant.guest.clone(),
            })
            .collect();
        staged
    }

    /// What the step changed in staging since it started, in path order.
    pub(super) fn changes(&self) -> io::Result<Vec<StagedChange>> {
        let mut changes = Vec::new();
        for StagedDir {
            grant,
            staged,
            base,
        } in &self.dirs
        {
            let mut paths = BTreeSet::new();
            list_files(staged, Path::new(""), &mut paths)?;
            let original: BTreeSet<PathBuf> = base.keys().cloned().collect();
            for rel in paths.union(&original) {
                let new = staged.join(rel);
                let before = base.get(rel).cloned();
                let kind = match (paths.contains(rel), &before) {
                    (true, None) => ChangeKind::Created,
                    (false, _) => ChangeKind::Deleted,
                    (true, Some(digest)) if digest_file(&new)?.as_ref() == Some(digest) => {
                        continue;
                    }
                    (true, Some(_)) => ChangeKind::Modified,
                };
                let relative = rel.to_string_lossy().replace('\\', "/");
                let path = if grant.guest == "." {
                    relative
                } else {
                    format!("{}/{relative}", grant.guest)
                };
                let staged = (kind != ChangeKind::Deleted).then_some(new);
                changes.push(StagedChange {
                    path,
                    kind,
                    staged,
                    original: grant.host.join(rel),
                    base: before,
                });
            }
        }
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(changes)
    }

    /// Removes the staging directories.
    pub(super) fn discard(self) {
        if let Err(e) = remove_dir_if_exists(&self.root) {
            tracing::warn!(path = %self.root.display(), "cannot remove staging directory: {e}");
        }
    }
}

pub(super) fn remove_dir_if_exists(dir: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Copies `from` into `to`, noting the digest of each file copied under its path below the
/// grant (`rel`).
fn copy_tree(
    from: &Path,
    to: &Path,
    rel: &Path,
    base: &mut BTreeMap<PathBuf, String>,
) -> io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        let path = rel.join(entry.file_name());
        if kind.is_dir() {
            std::fs::create_dir_all(&target)?;
            copy_tree(&entry.path(), &target, &path, base)?;
        } else if kind.is_file() && !apply::is_temporary(&entry.file_name()) {
            let content = match std::fs::read(entry.path()) {
                Ok(content) => content,
                // Removed or renamed since it was listed (another task applying its
                // changes): it is not part of what this step starts from.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            std::fs::write(&target, &content)?;
            base.insert(path, crate::evidence::digest(&content));
        }
        // Symlinks are not staged: a guest cannot follow them out of a grant anyway.
    }
    Ok(())
}

fn list_files(root: &Path, rel: &Path, out: &mut BTreeSet<PathBuf>) -> io::Result<()> {
    for entry in std::fs::read_dir(root.join(rel))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = rel.join(entry.file_name());
        if kind.is_dir() {
            list_files(root, &path, out)?;
        } else if kind.is_file() {
            out.insert(path);
        }
    }
    Ok(())
}

/// blake3 of a file's content; `None` if there is no file.
fn digest_file(path: &Path) -> io::Result<Option<String>> {
    match std::fs::read(path) {
        Ok(content) => Ok(Some(crate::evidence::digest(&content))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}
