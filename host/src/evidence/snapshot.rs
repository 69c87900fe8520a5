//! Snapshots of the directories a step may write, and the changes between two of them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What happened to a file during a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// The file did not exist before the step.
    Created,
    /// The file existed and its size or modification time changed.
    Modified,
    /// The file existed before the step and does not after it.
    Deleted,
}

impl ChangeKind {
    /// The word the journal and reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Modified => "modified",
            ChangeKind::Deleted => "deleted",
        }
    }
}

/// One changed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The file on the host.
    pub host_path: PathBuf,
    /// The path relative to the workspace, with `/` separators.
    pub path: String,
    /// What happened to it.
    pub kind: ChangeKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    host_path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
}

/// The files under a set of directories, with their sizes and modification times.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    files: BTreeMap<String, Stamp>,
}

impl Snapshot {
    /// Walks each `(host directory, workspace-relative path)` pair. Unreadable entries are
    /// skipped: a snapshot describes what the host can see.
    pub fn take<'a>(dirs: impl IntoIterator<Item = (&'a Path, &'a str)>) -> Snapshot {
        let mut snapshot = Snapshot::default();
        for (host, relative) in dirs {
            snapshot.walk(host, relative);
        }
        snapshot
    }

    fn walk(&mut self, dir: &Path, relative: &str) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if relative == "." || relative.is_empty() {
                name
            } else {
                format!("{relative}/{name}")
            };
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                self.walk(&entry.path(), &rel);
            } else if meta.is_file() {
                self.files.insert(
                    rel,
                    Stamp {
                        host_path: entry.path(),
                        len: meta.len(),
                        modified: meta.modified().ok(),
                    },
                );
            }
        }
    }

    /// What changed from `self` (before a step) to `after`, in path order.
    pub fn changes(&self, after: &Snapshot) -> Vec<Change> {
        let mut changes = Vec::new();
        for (path, stamp) in &after.files {
            let kind = match self.files.get(path) {
                None => ChangeKind::Created,
                Some(before) if before.len != stamp.len || before.modified != stamp.modified => {
                    ChangeKind::Modified
                }
                Some(_) => continue,
            };
            changes.push(Change {
                host_path: stamp.host_path.clone(),
                path: path.clone(),
                kind,
            });
        }
        for (path, stamp) in &self.files {
            if !after.files.contains_key(path) {
                changes.push(Change {
                    host_path: stamp.host_path.clone(),
                    path: path.clone(),
                    kind: ChangeKind::Deleted,
                });
            }
        }
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_created_modified_and_deleted_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("keep"), "same").expect("write");
        std::fs::write(dir.path().join("edit"), "old").expect("write");
        std::fs::write(dir.path().join("gone"), "bye").expect("write");
        let before = Snapshot::take([(dir.path(), "out")]);
        std::fs::write(dir.path().join("edit"), "newer").expect("write");
        std::fs::remove_file(dir.path().join("gone")).expect("remove");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("sub/new"), "hi").expect("write");
        let after = Snapshot::take([(dir.path(), "out")]);

        let seen: Vec<_> = before
            .changes(&after)
            .into_iter()
            .map(|c| (c.path, c.kind))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("out/edit".to_owned(), ChangeKind::Modified),
                ("out/gone".to_owned(), ChangeKind::Deleted),
                ("out/sub/new".to_owned(), ChangeKind::Created),
            ]
        );
    }
}
