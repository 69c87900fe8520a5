//! Staging of a step's writes: each write grant is copied into a staging directory and the
//! guest writes there; afterwards the staged tree is compared with the real one, byte for
//! byte, so a step's changes are known exactly and reach the workspace only after commit.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

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
}

/// The staging directories of one attempt.
#[derive(Debug)]
pub(super) struct Staging {
    root: PathBuf,
    dirs: Vec<(DirGrant, PathBuf)>,
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
            if grant.host.is_dir() {
                copy_tree(&grant.host, &staged)?;
            }
            dirs.push((grant.clone(), staged));
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
            .map(|(grant, dir)| DirGrant {
                host: dir.clone(),
                guest: grant.guest.clone(),
            })
            .collect();
        staged
    }

    /// What differs between staging and the workspace, in path order.
    pub(super) fn changes(&self) -> io::Result<Vec<StagedChange>> {
        let mut changes = Vec::new();
        for (grant, staged) in &self.dirs {
            let mut paths = BTreeSet::new();
            list_files(staged, Path::new(""), &mut paths)?;
            let mut original = BTreeSet::new();
            if grant.host.is_dir() {
                list_files(&grant.host, Path::new(""), &mut original)?;
            }
            for rel in paths.union(&original) {
                let new = staged.join(rel);
                let old = grant.host.join(rel);
                let kind = match (paths.contains(rel), original.contains(rel)) {
                    (true, false) => ChangeKind::Created,
                    (false, true) => ChangeKind::Deleted,
                    _ if same_content(&old, &new)? => continue,
                    _ => ChangeKind::Modified,
                };
                let relative = rel.to_string_lossy().replace('\\', "/");
                let path = if grant.guest == "." {
                    relative
                } else {
                    format!("{}/{relative}", grant.guest)
                };
                let staged = (kind != ChangeKind::Deleted).then_some(new);
                changes.push(StagedChange { path, kind, staged });
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

fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            std::fs::create_dir_all(&target)?;
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
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

fn same_content(a: &Path, b: &Path) -> io::Result<bool> {
    if std::fs::metadata(a)?.len() != std::fs::metadata(b)?.len() {
        return Ok(false);
    }
    Ok(std::fs::read(a)? == std::fs::read(b)?)
}
