//! Handing a message from a queue to a receiver without ever losing it
//! (fix of `exchange-http-api.md` §12.12).
//!
//! A taken message stays in its mailbox's in-flight list (see
//! [`MailboxBackend::take`]) until the receiver acknowledges it by coming
//! back with the last id it saw ([`MailboxBackend::acknowledge`]). On top of
//! that, when the server *knows* a message was not written, it goes back to
//! the head of its queue at once: the wait runs in a task of its own (or,
//! for backends whose take is cancel-safe, in place), so a receiver that
//! goes away (cancelled long poll, closed SSE stream) only cancels the
//! *wait* and a message already taken for it is put back; after
//! a message has been handed to the response body, a [`Requeue`] guard puts
//! it back unless the body was polled past it (a body dropped before that
//! ended with a write error or a closed connection, before the event's final
//! bytes were written).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use academy_exchange::EntityId;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

use crate::backend::{MailboxBackend, Taken};
use crate::error::ServerError;

/// What the routes need to receive messages: the backend, the task tracker
/// that shutdown waits for, and the shutdown signal.
#[derive(Clone)]
pub(crate) struct Receiver {
    pub backend: Arc<dyn MailboxBackend>,
    pub tracker: TaskTracker,
    pub shutdown: CancellationToken,
    /// How many receives are waiting right now (see
    /// [`crate::ServerHandle::waiting_receivers`]).
    pub waiting: Arc<watch::Sender<usize>>,
}

/// Counts one waiting receive for as long as it lives.
struct Waiting(Arc<watch::Sender<usize>>);

impl Waiting {
    fn new(counter: &Arc<watch::Sender<usize>>) -> Self {
        counter.send_modify(|n| *n += 1);
        Waiting(counter.clone())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// A pending take: resolves to a message or an error. Dropping it cancels
/// the wait, and a message taken meanwhile goes back to its queue.
pub(crate) struct PendingTake {
    kind: TakeKind,
    _cancel: DropGuard,
    _waiting: Waiting,
}

type TakeFuture = Pin<Box<dyn Future<Output = Result<Taken, ServerError>> + Send>>;

enum TakeKind {
    /// The wait runs in its own task, which puts back a message taken for a
    /// receiver that left.
    Task(oneshot::Receiver<Result<Taken, ServerError>>),
    /// The backend's take is cancel-safe: polled in place, one wake-up less.
    Inline(TakeFuture),
}

impl PendingTake {
    /// Waits for the outcome. Cancel-safe: calling it again after a
    /// cancelled call resumes the same take.
    pub async fn wait(&mut self) -> Result<Taken, ServerError> {
        match &mut self.kind {
            TakeKind::Task(rx) => match rx.await {
                Ok(result) => result,
                Err(_) => Err(ServerError::Internal("receive task ended".into())),
            },
            TakeKind::Inline(fut) => fut.await,
        }
    }
}

impl Receiver {
    /// Starts waiting up to `timeout` for the head of `id`'s queue. A server
    /// shutdown ends the wait as a timeout.
    /// `generation`: the receiver generation of an acknowledging event
    /// stream (see [`MailboxBackend::new_receiver`]), `None` otherwise.
    pub fn start_take(
        &self,
        id: &EntityId,
        timeout: Duration,
        generation: Option<u64>,
    ) -> PendingTake {
        let (tx, rx) = oneshot::channel();
        let cancel = self.shutdown.child_token();
        let task_cancel = cancel.clone();
        let backend = self.backend.clone();
        let id = id.clone();
        let deadline = Instant::now() + timeout;
        if backend.take_is_cancel_safe() {
            let fut = async move { backend.take(&id, deadline, &task_cancel, generation).await };
            return PendingTake {
                kind: TakeKind::Inline(Box::pin(fut)),
                _cancel: cancel.drop_guard(),
                _waiting: Waiting::new(&self.waiting),
            };
        }
        self.tracker.spawn(async move {
            let result = backend.take(&id, deadline, &task_cancel, generation).await;
            if let Err(Ok(taken)) = tx.send(result) {
                tracing::debug!(mailbox = %id.uid(), "receiver left; message returned to queue");
                backend.requeue_front(&id, taken).await;
            }
        });
        PendingTake {
            kind: TakeKind::Task(rx),
            _cancel: cancel.drop_guard(),
            _waiting: Waiting::new(&self.waiting),
        }
    }

    /// A guard that gives `taken` back to `id`'s queue unless confirmed.
    pub fn guard(&self, id: &EntityId, taken: Taken) -> Requeue {
        Requeue {
            receiver: self.clone(),
            id: id.clone(),
            taken: Some(taken),
        }
    }
}

/// Puts a message back at the head of its queue when dropped unconfirmed.
pub(crate) struct Requeue {
    receiver: Receiver,
    id: EntityId,
    taken: Option<Taken>,
}

impl Requeue {
    /// The message text.
    pub fn json(&self) -> &str {
        self.taken
            .as_ref()
            .map(|t| t.json.as_str())
            .unwrap_or_default()
    }

    /// The message's sequence number.
    pub fn seq(&self) -> u64 {
        self.taken.as_ref().map(|t| t.seq).unwrap_or_default()
    }

    /// The message was handed to the connection: it stays in flight until
    /// the receiver acknowledges it.
    pub fn confirm(mut self) {
        self.taken = None;
    }
}

impl Drop for Requeue {
    fn drop(&mut self) {
        let Some(json) = self.taken.take() else {
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
