//! Waking idle workers the moment a task is queued: each worker listens on a Unix datagram
//! socket in `wake/` beside the journal file, and every submit, release or schedule firing
//! sends one byte to every socket there. A worker that cannot bind one still finds new tasks
//! by polling; a socket whose worker died is removed by the next sender.

use std::os::unix::fs::FileTypeExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use nightshift_journal::QueueWakeups;
use tokio::sync::Notify;

/// The directory of wake sockets for the journal at `journal`.
pub(crate) fn wake_dir(journal: &Path) -> PathBuf {
    journal.parent().unwrap_or(Path::new(".")).join("wake")
}

/// Listens for wake-ups in `dir`, on the current tokio runtime; `None` (and polling only)
/// outside a runtime, or if the platform or the path length refuses the socket. The socket
/// is removed within a second of the last handle being dropped.
pub(crate) fn listen(dir: &Path) -> Option<QueueWakeups> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    if let Err(e) = std::fs::create_dir_all(dir) {
        tracing::debug!(dir = %dir.display(), "no wake socket, polling only: {e}");
        return None;
    }
    if is_symlink(dir) {
        tracing::warn!(dir = %dir.display(), "the wake directory is a symlink; polling only");
        return None;
    }
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("{}-{n}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let socket = {
        let _entered = runtime.enter();
        match tokio::net::UnixDatagram::bind(&path) {
            Ok(socket) => socket,
            Err(e) => {
                tracing::debug!(path = %path.display(), "no wake socket, polling only: {e}");
                return None;
            }
        }
    };
    let notified = Arc::new(Notify::new());
    runtime.spawn(receive(socket, Removed(path), Arc::downgrade(&notified)));
    Some(QueueWakeups::new(notified))
}

/// Removes the socket file when the listener ends, however it ends.
struct Removed(PathBuf);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn receive(socket: tokio::net::UnixDatagram, _removed: Removed, worker: Weak<Notify>) {
    let mut byte = [0u8; 1];
    loop {
        tokio::select! {
            received = socket.recv(&mut byte) => match (received, worker.upgrade()) {
                (Ok(_), Some(notify)) => notify.notify_one(),
                (Err(e), _) => {
                    tracing::debug!("wake socket failed, polling only: {e}");
                    return;
                }
                (Ok(_), None) => return,
            },
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                if worker.strong_count() == 0 {
                    return;
                }
            }
        }
    }
}

/// Wakes every worker listening in `dir`; removes sockets of workers that died. Best
/// effort: a worker that misses it finds the task at its next poll.
pub(crate) fn wake_workers(dir: &Path) {
    if is_symlink(dir) {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let Ok(sender) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    // A blocking sender could stall a commit on a full socket: wake nobody rather than that.
    if sender.set_nonblocking(true).is_err() {
        return;
    }
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_socket())
            && path.extension().is_some_and(|e| e == "sock")
            && let Err(e) = sender.send_to(b"w", &path)
            && e.kind() == std::io::ErrorKind::ConnectionRefused
        {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Whether `path` is a symlink (planted in the state directory, say): wake sockets are
/// neither created nor signalled through one.
fn is_symlink(path: &Path) -> bool {
    path.symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink())
}
