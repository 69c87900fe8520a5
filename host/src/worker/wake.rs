//! Waking idle workers the moment a task is queued: each worker listens on a Unix datagram
//! socket in `<state>/wake/`, and `submit` sends one byte to every socket there. A worker
//! that cannot bind one still finds new tasks by polling.

use std::path::{Path, PathBuf};

use crate::state::StateDir;

/// The socket a worker listens on, removed when dropped.
#[derive(Debug)]
pub(super) struct WakeSocket {
    socket: tokio::net::UnixDatagram,
    path: PathBuf,
}

impl WakeSocket {
    /// Binds the worker's socket; `None` (and polling only) if the platform or the path
    /// length refuses it.
    pub(super) fn bind(state: &StateDir, owner: &str) -> Option<WakeSocket> {
        let dir = wake_dir(state);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            tracing::debug!(dir = %dir.display(), "no wake socket, polling only: {e}");
            return None;
        }
        let path = dir.join(format!("{owner}.sock"));
        let _ = std::fs::remove_file(&path);
        match tokio::net::UnixDatagram::bind(&path) {
            Ok(socket) => Some(WakeSocket { socket, path }),
            Err(e) => {
                tracing::debug!(path = %path.display(), "no wake socket, polling only: {e}");
                None
            }
        }
    }

    /// Waits for a wake-up.
    pub(super) async fn woken(&self) {
        let mut byte = [0u8; 1];
        let _ = self.socket.recv(&mut byte).await;
    }
}

impl Drop for WakeSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn wake_dir(state: &StateDir) -> PathBuf {
    state.root().join("wake")
}

/// Wakes every worker listening on the state directory; removes sockets of workers that
/// died. Best effort: a worker that misses it finds the task at its next poll.
pub fn wake_workers(state: &StateDir) {
    let Ok(entries) = std::fs::read_dir(wake_dir(state)) else {
        return;
    };
    let Ok(sender) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    let _ = sender.set_nonblocking(true);
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "sock") {
            send(&sender, &path);
        }
    }
}

fn send(sender: &std::os::unix::net::UnixDatagram, path: &Path) {
    if let Err(e) = sender.send_to(b"w", path)
        && e.kind() == std::io::ErrorKind::ConnectionRefused
    {
        let _ = std::fs::remove_file(path);
    }
}
