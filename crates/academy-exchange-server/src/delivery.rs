//! Handing a message from a queue to a receiver without ever losing it
//! (fix of `exchange-http-api.md` §12.12).
//!
//! The wait runs in a task of its own, so that a receiver that goes away
//! (cancelled long poll, closed SSE stream) only cancels the *wait*; a
//! message already taken for it is put back at the head of its queue. After
//! a message has been handed to the response body, a [`Requeue`] guard puts
//! it back unless the body confirms that it was written.

use std::sync::Arc;
use std::time::{Duration, Instant};

use academy_exchange::EntityId;
use tokio::sync::oneshot;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

use crate::backend::MailboxBackend;
use crate::error::ServerError;

/// What the routes need to receive messages: the backend, the task tracker
/// that shutdown waits for, and the shutdown signal.
#[derive(Clone)]
pub(crate) struct Receiver {
    pub backend: Arc<dyn MailboxBackend>,
    pub tracker: TaskTracker,
    pub shutdown: CancellationToken,
}

/// A pending take: resolves to a message or an error. Dropping it cancels
/// the wait, and a message taken meanwhile goes back to its queue.
pub(crate) struct PendingTake {
    rx: oneshot::Receiver<Result<String, ServerError>>,
    _cancel: DropGuard,
}

impl PendingTake {
    /// Waits for the outcome.
    pub async fn wait(&mut self) -> Result<String, ServerError> {
        match (&mut self.rx).await {
            Ok(result) => result,
            Err(_) => Err(ServerError::Internal("receive task ended".into())),
        }
    }
}

impl Receiver {
    /// Starts waiting up to `timeout` for the head of `id`'s queue. A server
    /// shutdown ends the wait as a timeout.
    pub fn start_take(&self, id: &EntityId, timeout: Duration) -> PendingTake {
        let (tx, rx) = oneshot::channel();
        let cancel = self.shutdown.child_token();
        let task_cancel = cancel.clone();
        let backend = self.backend.clone();
        let id = id.clone();
        let deadline = Instant::now() + timeout;
        self.tracker.spawn(async move {
            let result = backend.take(&id, deadline, &task_cancel).await;
            if let Err(Ok(json)) = tx.send(result) {
                tracing::debug!(mailbox = %id.uid(), "receiver left; message returned to queue");
                backend.requeue_front(&id, json).await;
            }
        });
        PendingTake {
            rx,
            _cancel: cancel.drop_guard(),
        }
    }

    /// A guard that gives `json` back to `id`'s queue unless confirmed.
    pub fn guard(&self, id: &EntityId, json: String) -> Requeue {
        Requeue {
            receiver: self.clone(),
            id: id.clone(),
            json: Some(json),
        }
    }
}

/// Puts a message back at the head of its queue when dropped unconfirmed.
pub(crate) struct Requeue {
    receiver: Receiver,
    id: EntityId,
    json: Option<String>,
}

impl Requeue {
    /// The message text.
    pub fn json(&self) -> &str {
        self.json.as_deref().unwrap_or_default()
    }

    /// The message was written: keep it delivered.
    pub fn confirm(mut self) {
        self.json = None;
    }
}

impl Drop for Requeue {
    fn drop(&mut self) {
        let Some(json) = self.json.take() else {
            return;
        };
        let backend = self.receiver.backend.clone();
        let id = self.id.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(_) => {
                self.receiver.tracker.spawn(async move {
                    tracing::debug!(mailbox = %id.uid(), "response not written; message returned to queue");
                    backend.requeue_front(&id, json).await;
                });
            }
            Err(_) => {
                tracing::error!(mailbox = %id.uid(), "no runtime to return an undelivered message");
            }
        }
    }
}
