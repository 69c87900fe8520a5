//! The state directory: where the journal, the artifact store, plugins and keys live.
//!
//! By default it is the user's state directory (`$XDG_STATE_HOME/nightshift`, else
//! `~/.local/state/nightshift`), so one worker serves every project. Architecture invariant:
//! no guest ever sees it; grants that would cover it are refused by [`crate::manifest`].
//!
//! The journal is `journal.db` inside it, unless the state is a PostgreSQL database: then
//! the directory keeps only the files (artifacts, plugins, keys), and hosts that share the
//! database share it too.

use std::path::{Path, PathBuf};

use crate::journal::StoreLocation;

/// Errors locating or creating the state directory.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Neither `--state`, `NIGHTSHIFT_STATE`, `XDG_STATE_HOME` nor `HOME` is set.
    #[error("no state directory: set --state, NIGHTSHIFT_STATE, XDG_STATE_HOME or HOME")]
    NoLocation,
    /// A directory of the layout could not be created.
    #[error("cannot create state directory {path}: {cause}")]
    Create {
        /// The directory.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// A directory inside the state directory is not one any more (a symlink was planted
    /// there, say).
    #[error("state directory {root}: {cause}")]
    Inside {
        /// The state directory.
        root: PathBuf,
        /// What is wrong inside it (shown in the message, so not a `source`).
        cause: crate::beneath::BeneathError,
    },
    /// A lock file of the state directory could not be locked.
    #[error("cannot lock {path}: {cause}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
}

/// An opened (existing, canonical) state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
    store: StoreLocation,
}

impl StateDir {
    /// Where the state directory is when none is given: `$XDG_STATE_HOME/nightshift`, else
    /// `$HOME/.local/state/nightshift`.
    pub fn default_location() -> Result<PathBuf, StateError> {
        if let Some(xdg) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
            return Ok(PathBuf::from(xdg).join("nightshift"));
        }
        std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .map(|home| PathBuf::from(home).join(".local/state/nightshift"))
            .ok_or(StateError::NoLocation)
    }

    /// Opens the state directory at `root`, creating its layout when missing.
    pub fn open(root: &Path) -> Result<Self, StateError> {
        for dir in [
            root.to_path_buf(),
            root.join("cas"),
            root.join("plugins/cache"),
            root.join("staging"),
            root.join("locks"),
        ] {
            std::fs::create_dir_all(&dir).map_err(|source| StateError::Create {
                path: dir,
                cause: source,
            })?;
        }
        let root = root.canonicalize().map_err(|source| StateError::Create {
            path: root.to_path_buf(),
            cause: source,
        })?;
        let store = StoreLocation::Sqlite(root.join("journal.db"));
        Ok(StateDir { root, store })
    }

    /// Opens the state directory at `root` for its files, with the journal at `store`.
    pub fn open_with_store(root: &Path, store: StoreLocation) -> Result<Self, StateError> {
        let opened = StateDir::open(root)?;
        Ok(StateDir { store, ..opened })
    }

    /// The directory itself (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the journal is.
    pub fn store(&self) -> &StoreLocation {
        &self.store
    }

    /// The content-addressed artifact store.
    pub fn cas_dir(&self) -> PathBuf {
        self.root.join("cas")
    }

    /// Installed plugins, one `<name>.wasm` each.
    pub fn plugins_dir(&self) -> PathBuf {
        self.root.join("plugins")
    }

    /// Precompiled components, keyed by component digest and engine.
    pub fn compile_cache_dir(&self) -> PathBuf {
        self.root.join("plugins/cache")
    }

    /// The signing key.
    pub fn keys_dir(&self) -> PathBuf {
        self.root.join("keys")
    }

    /// Opens `staging/`, where a step attempt's writes are staged until commit, beneath the
    /// state directory (a symlink planted there is refused), and names the directory of the
    /// step `step_id` of `task_id` in it.
    pub fn open_staging(
        &self,
        task_id: &str,
        step_id: &str,
    ) -> Result<(cap_std::fs::Dir, String), StateError> {
        let inside = |cause| StateError::Inside {
            root: self.root.clone(),
            cause,
        };
        let root = crate::beneath::open_root(&self.root).map_err(|source| StateError::Create {
            path: self.root.clone(),
            cause: source,
        })?;
        let staging =
            crate::beneath::create_dir_all(&root, Path::new("staging")).map_err(inside)?;
        Ok((staging, format!("{task_id}-{step_id}")))
    }

    /// Takes the lock that says a process is running `task_id`; `None` if another holds it.
    /// The lock is released when the returned guard is dropped or the process dies.
    pub fn lock_task(&self, task_id: &str) -> Result<Option<TaskLock>, StateError> {
        let path = self.root.join("locks").join(format!("{task_id}.lock"));
        Ok(try_lock_file(&path)?.map(|file| TaskLock { _file: file }))
    }

    /// Takes the lock under which changes are committed to and applied in `workspace`, by any
    /// task of any process; `None` if another holds it. Released when the guard is dropped or
    /// the process dies.
    pub fn try_lock_workspace(
        &self,
        workspace: &Path,
    ) -> Result<Option<WorkspaceLock>, StateError> {
        let key = crate::evidence::digest(workspace.as_os_str().as_encoded_bytes());
        let path = self
            .root
            .join("locks")
            .join(format!("workspace-{}.lock", &key[..32]));
        Ok(try_lock_file(&path)?.map(|file| WorkspaceLock { _file: file }))
    }

    /// Whether a live process runs the task: a foreground process holding its lock, or a
    /// worker holding an unexpired lease.
    pub fn task_is_live(&self, task: &crate::journal::TaskRow) -> bool {
        match task.lease_expires {
            Some(expires) => expires > crate::time_format::now_ms(),
            None => matches!(self.lock_task(&task.id), Ok(None)),
        }
    }
}

/// Held while a process runs a task.
#[derive(Debug)]
pub struct TaskLock {
    _file: std::fs::File,
}

/// Held while a task commits changes to a workspace and applies them.
#[derive(Debug)]
pub struct WorkspaceLock {
    _file: std::fs::File,
}

/// Opens (creating) the lock file at `path` and takes its exclusive lock; `None` if another
/// open file holds it.
fn try_lock_file(path: &Path) -> Result<Option<std::fs::File>, StateError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|source| StateError::Lock {
            path: path.to_path_buf(),
            cause: source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(source)) => Err(StateError::Lock {
            path: path.to_path_buf(),
            cause: source,
        }),
    }
}
