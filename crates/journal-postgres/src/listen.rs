//! `LISTEN` for queued tasks: a connection of its own, on the connections' runtime, that
//! wakes the worker on every `NOTIFY` and once after each (re)connect (a task may have been
//! queued while it was away). It ends when the worker drops its [`QueueWakeups`].

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, Config, NoTls};

use super::session::spawn;
use nightshift_journal::QueueWakeups;

/// Starts listening on `channel`; the wakeups arrive on the returned handle.
pub(super) fn queue_wakeups(config: &Config, channel: &str) -> QueueWakeups {
    let notified = Arc::new(Notify::new());
    spawn(listen(
        config.clone(),
        format!("LISTEN {channel}"),
        Arc::downgrade(&notified),
    ));
    QueueWakeups::new(notified)
}

async fn listen(config: Config, listen: String, worker: Weak<Notify>) {
    while worker.strong_count() > 0 {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let (tx, mut messages) = tokio::sync::mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    while let Some(Ok(message)) =
                        std::future::poll_fn(|cx| connection.poll_message(cx)).await
                    {
                        if matches!(message, AsyncMessage::Notification(_)) && tx.send(()).is_err()
                        {
                            break;
                        }
                    }
                });
                match client.batch_execute(&listen).await {
                    Ok(()) => wake(&worker),
                    Err(e) => tracing::debug!("LISTEN failed: {e}"),
                }
                loop {
                    tokio::select! {
                        message = messages.recv() => match message {
                            Some(()) => wake(&worker),
                            None => break,
                        },
                        () = tokio::time::sleep(Duration::from_secs(1)) => {
                            if worker.strong_count() == 0 {
                                break;
                            }
                        }
                    }
                }
                driver.abort();
            }
            Err(e) => tracing::debug!("cannot connect to LISTEN: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn wake(worker: &Weak<Notify>) {
    if let Some(notify) = worker.upgrade() {
        notify.notify_one();
    }
}
