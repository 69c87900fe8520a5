//! Paths reached beneath a directory handle, one component at a time, never through a
//! symlink.
//!
//! The workspace and the state directory are opened once by path (they are what the user
//! named); everything inside them (grants, staged copies, applied files, artifacts) is
//! reached from those handles with `O_NOFOLLOW` at every component. A path swapped for a
//! symlink after it was checked is refused with what it became, never followed, so nothing
//! Nightshift reads or writes can be redirected out of the directory it belongs to.

use std::ffi::OsStr;
use std::io::{self, Read as _, Write as _};
use std::path::{Component, Path, PathBuf};

use cap_fs_ext::{DirExt as _, FollowSymlinks, OpenOptionsFollowExt as _};
use cap_std::fs::{Dir, OpenOptions};

/// Why a path beneath a directory could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum BeneathError {
    /// A component of the path is a symlink.
    #[error("`{path}` is now a symlink to {target}")]
    Symlink {
        /// The path up to and including the symlink.
        path: String,
        /// What the symlink points to.
        target: String,
    },
    /// A component of the path exists but is not a directory.
    #[error("`{path}` is not a directory")]
    NotADirectory {
        /// The path up to and including that component.
        path: String,
    },
    /// The path is absolute or climbs out with `..`.
    #[error("`{path}` leaves the directory it is opened beneath")]
    Escapes {
        /// The path.
        path: String,
    },
    /// The file system refused.
    #[error("cannot open `{path}`: {cause}")]
    Io {
        /// The path up to the component that failed.
        path: String,
        /// The cause (shown in the message, so not a `source`).
        cause: io::Error,
    },
}

impl BeneathError {
    /// The same error with its path taken as relative to `parent`.
    pub fn within(self, parent: &Path) -> Self {
        let prefix = |path: String| shown(&parent.join(path));
        match self {
            BeneathError::Symlink { path, target } => BeneathError::Symlink {
                path: prefix(path),
                target,
            },
            BeneathError::NotADirectory { path } => {
                BeneathError::NotADirectory { path: prefix(path) }
            }
            BeneathError::Escapes { path } => BeneathError::Escapes { path: prefix(path) },
            BeneathError::Io { path, cause } => BeneathError::Io {
                path: prefix(path),
                cause,
            },
        }
    }

    /// Whether the path (or one of its parents) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, BeneathError::Io { cause, .. } if cause.kind() == io::ErrorKind::NotFound)
    }
}

/// Opens a directory the user named, following the path as given: the root of what is then
/// reached beneath it.
pub fn open_root(path: &Path) -> io::Result<Dir> {
    Dir::open_ambient_dir(path, cap_std::ambient_authority())
}

/// Opens the directory `rel` beneath `root`, refusing a symlink at any component.
pub fn open_dir(root: &Dir, rel: &Path) -> Result<Dir, BeneathError> {
    walk(root, rel, false)
}

/// Opens the directory `rel` beneath `root`, creating what is missing, refusing a symlink
/// at any component.
pub fn create_dir_all(root: &Dir, rel: &Path) -> Result<Dir, BeneathError> {
    walk(root, rel, true)
}

fn walk(root: &Dir, rel: &Path, create: bool) -> Result<Dir, BeneathError> {
    let mut dir = root.try_clone().map_err(|cause| BeneathError::Io {
        path: ".".into(),
        cause,
    })?;
    let escapes = |c: &Component<'_>| !matches!(c, Component::Normal(_) | Component::CurDir);
    if rel.components().any(|c| escapes(&c)) {
        return Err(BeneathError::Escapes { path: shown(rel) });
    }
    let mut walked = PathBuf::new();
    for component in rel.components() {
        let Component::Normal(name) = component else {
            continue;
        };
        walked.push(name);
        if create {
            match dir.create_dir(name) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                    return Err(BeneathError::Io {
                        path: shown(&walked),
                        cause: e,
                    });
                }
                _ => {}
            }
        }
        dir = match dir.open_dir_nofollow(name) {
            Ok(next) => next,
            Err(e) => return Err(explain(&dir, name, &walked, e)),
        };
    }
    Ok(dir)
}

/// Names what `name` in `dir` became when opening it as a directory failed with `error`.
fn explain(dir: &Dir, name: &OsStr, walked: &Path, error: io::Error) -> BeneathError {
    let path = shown(walked);
    match dir.symlink_metadata(name) {
        Ok(meta) if meta.file_type().is_symlink() => BeneathError::Symlink {
            path,
            target: dir
                .read_link_contents(name)
                .map_or_else(|e| format!("(unreadable: {e})"), |t| shown(&t)),
        },
        Ok(meta) if !meta.is_dir() => BeneathError::NotADirectory { path },
        _ => BeneathError::Io { path, cause: error },
    }
}

/// Reads the regular file `name` in `dir` without following a symlink; `None` if there is
/// none. A symlink there is refused.
pub fn read_file(dir: &Dir, name: &OsStr) -> Result<Option<Vec<u8>>, BeneathError> {
    let mut options = OpenOptions::new();
    options.read(true).follow(FollowSymlinks::No);
    let mut file = match dir.open_with(name, &options) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(explain_file(dir, name, e)),
    };
    let mut content = Vec::new();
    file.read_to_end(&mut content)
        .map_err(|e| explain_file(dir, name, e))?;
    Ok(Some(content))
}

/// Reads the regular file `rel` beneath `root`, refusing a symlink at any component; `None`
/// if it (or a parent directory) does not exist.
pub fn read_file_beneath(root: &Dir, rel: &Path) -> Result<Option<Vec<u8>>, BeneathError> {
    let Some((parent, name)) = split(rel) else {
        return Err(BeneathError::Escapes { path: shown(rel) });
    };
    let dir = match open_dir(root, parent) {
        Ok(dir) => dir,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    read_file(&dir, name).map_err(|e| e.within(parent))
}

/// Names what the file `name` in `dir` became when reading it failed with `error`.
fn explain_file(dir: &Dir, name: &OsStr, error: io::Error) -> BeneathError {
    match explain(dir, name, Path::new(name), error) {
        // A directory where a file was expected: the I/O error says so.
        BeneathError::NotADirectory { path } => BeneathError::Io {
            path,
            cause: io::Error::other("not a regular file"),
        },
        other => other,
    }
}

/// Writes `content` to `name` in `dir` atomically: into a new temporary file beside it
/// (never through a link), synced when `sync`, then renamed over `name`. A symlink at `name`
/// is replaced as a link; what it pointed to is untouched.
pub fn write_atomically(
    dir: &Dir,
    name: &OsStr,
    temporary: &OsStr,
    content: &[u8],
    sync: bool,
) -> io::Result<()> {
    // A leftover of an interrupted write (or a planted link) is removed, not followed.
    match dir.remove_file_or_symlink(temporary) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut options = OpenOptions::new();
    options
        .write(true)
        .create_new(true)
        .follow(FollowSymlinks::No);
    let mut file = dir.open_with(temporary, &options)?;
    file.write_all(content)?;
    if sync {
        file.sync_all()?;
    }
    dir.rename(temporary, dir, name)
}

/// Creates the file `name` in `dir` with `content`; fails if anything (a symlink too) is
/// already there.
pub fn write_new(dir: &Dir, name: &OsStr, content: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options
        .write(true)
        .create_new(true)
        .follow(FollowSymlinks::No);
    dir.open_with(name, &options)?.write_all(content)
}

/// Removes the file (or symlink) `name` in `dir`, never what a symlink points to; a missing
/// file is fine.
pub fn remove_file(dir: &Dir, name: &OsStr) -> io::Result<()> {
    match dir.remove_file_or_symlink(name) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Removes the directory `name` in `dir` and everything in it (symlinks are removed, not
/// followed); a missing directory is fine.
pub fn remove_dir_all(dir: &Dir, name: &OsStr) -> io::Result<()> {
    match dir.symlink_metadata(name) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(meta) if meta.is_dir() => dir.remove_dir_all(name),
        Ok(_) => dir.remove_file_or_symlink(name),
    }
}

/// The parent directory of a relative path (empty for a bare name) and its last component.
pub fn split(rel: &Path) -> Option<(&Path, &OsStr)> {
    Some((rel.parent().unwrap_or(Path::new("")), rel.file_name()?))
}

fn shown(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> (tempfile::TempDir, Dir) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = open_root(tmp.path()).expect("open");
        (tmp, dir)
    }

    #[test]
    fn a_symlink_at_any_component_is_refused_naming_it_and_its_target() {
        let (tmp, root) = root();
        let outside = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(tmp.path().join("a/b")).expect("mkdir");
        std::os::unix::fs::symlink(outside.path(), tmp.path().join("a/link")).expect("link");
        std::os::unix::fs::symlink(outside.path(), tmp.path().join("top")).expect("link");

        assert!(open_dir(&root, Path::new("a/b")).is_ok());
        for (rel, at) in [
            ("a/link", "a/link"),
            ("a/link/x", "a/link"),
            ("top/b", "top"),
        ] {
            for create in [false, true] {
                let error = walk(&root, Path::new(rel), create).expect_err(rel);
                match &error {
                    BeneathError::Symlink { path, target } => {
                        assert_eq!(path, at);
                        assert_eq!(target, &shown(outside.path()));
                    }
                    other => panic!("{rel}: {other}"),
                }
            }
        }
        assert!(
            std::fs::read_dir(outside.path())
                .expect("read")
                .next()
                .is_none()
        );
    }

    #[test]
    fn climbing_out_is_refused_and_missing_directories_are_created() {
        let (tmp, root) = root();
        for rel in ["../x", "/etc", "a/../../x"] {
            assert!(
                matches!(
                    open_dir(&root, Path::new(rel)),
                    Err(BeneathError::Escapes { .. })
                ),
                "{rel}"
            );
        }
        assert!(
            open_dir(&root, Path::new("new/dir"))
                .expect_err("missing")
                .is_not_found()
        );
        create_dir_all(&root, Path::new("new/dir")).expect("create");
        assert!(tmp.path().join("new/dir").is_dir());
    }

    #[test]
    fn files_are_read_and_replaced_without_following_a_symlink() {
        let (tmp, root) = root();
        let outside = tempfile::tempdir().expect("tempdir");
        let secret = outside.path().join("secret.txt");
        std::fs::write(&secret, "secret").expect("write");
        std::os::unix::fs::symlink(&secret, tmp.path().join("link.txt")).expect("link");
        std::fs::write(tmp.path().join("plain.txt"), "plain").expect("write");

        let read = |name: &str| read_file(&root, OsStr::new(name));
        assert_eq!(
            read("plain.txt").expect("read").as_deref(),
            Some(&b"plain"[..])
        );
        assert_eq!(read("missing.txt").expect("read"), None);
        assert!(matches!(
            read("link.txt"),
            Err(BeneathError::Symlink { .. })
        ));

        let name = OsStr::new("link.txt");
        let temporary = OsStr::new(".link.txt.tmp");
        std::os::unix::fs::symlink(&secret, tmp.path().join(temporary)).expect("link");
        write_atomically(&root, name, temporary, b"new", true).expect("write");
        assert_eq!(std::fs::read(&secret).expect("read"), b"secret");
        assert_eq!(std::fs::read(tmp.path().join(name)).expect("read"), b"new");
        assert!(!tmp.path().join("link.txt").is_symlink());

        std::os::unix::fs::symlink(&secret, tmp.path().join("gone.txt")).expect("link");
        remove_file(&root, OsStr::new("gone.txt")).expect("remove");
        assert!(secret.exists());
    }
}
