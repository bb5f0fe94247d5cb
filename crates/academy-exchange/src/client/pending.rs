//! Matching responses to the requests waiting for them (`globus-exchange-client.md` §6.4,
//! `messages.md` §6.6): the label selects the handle, the tag the call.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use tokio::sync::oneshot;
use uuid::Uuid;

use crate::error::ExchangeError;
use crate::identifier::EntityId;
use crate::message::Message;

/// Where a waiting call's answer comes from.
pub(crate) type ResponseReceiver = oneshot::Receiver<Result<Message, ExchangeError>>;
type ResponseSender = oneshot::Sender<Result<Message, ExchangeError>>;

/// Why the table stopped accepting requests.
#[derive(Debug, Clone)]
pub(crate) enum StopCause {
    /// `close()` was called.
    Closed,
    /// The client's own mailbox was terminated.
    Terminated(EntityId),
    /// The listener failed; the text describes the error.
    Listener(String),
}

impl StopCause {
    pub(crate) fn to_error(&self) -> ExchangeError {
        match self {
            StopCause::Closed => ExchangeError::Closed,
            StopCause::Terminated(id) => ExchangeError::MailboxTerminated(id.clone()),
            StopCause::Listener(text) => {
                ExchangeError::transport_msg(format!("exchange listener stopped: {text}"))
            }
        }
    }
}

/// What happened to an incoming response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Handed to the waiting call (or to a call that gave up, which is fine).
    Matched,
    /// The label belongs to no live handle.
    UnknownLabel,
    /// The label is known but nothing waits for this tag.
    UnknownTag,
}

#[derive(Default)]
struct State {
    stopped: Option<StopCause>,
    labels: HashSet<Uuid>,
    waiting: HashMap<(Option<Uuid>, Uuid), ResponseSender>,
}

/// The pending-request table of one client. Requests without a label
/// (sent by the client itself) are matched by tag alone.
#[derive(Default)]
pub(crate) struct PendingRequests {
    state: Mutex<State>,
}

impl PendingRequests {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-update of
        // plain maps; the data is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn register_label(&self, label: Uuid) {
        self.lock().labels.insert(label);
    }

    /// Forgets a handle and every call it still waits for.
    pub(crate) fn unregister_label(&self, label: Uuid) {
        let mut st = self.lock();
        st.labels.remove(&label);
        st.waiting.retain(|(l, _), _| *l != Some(label));
    }

    /// Waits for the response to `(label, tag)`; fails once the table is stopped.
    pub(crate) fn register(
        &self,
        label: Option<Uuid>,
        tag: Uuid,
    ) -> Result<ResponseReceiver, ExchangeError> {
        let mut st = self.lock();
        if let Some(cause) = &st.stopped {
            return Err(cause.to_error());
        }
        let (tx, rx) = oneshot::channel();
        st.waiting.insert((label, tag), tx);
        Ok(rx)
    }

    pub(crate) fn forget(&self, label: Option<Uuid>, tag: Uuid) {
        self.lock().waiting.remove(&(label, tag));
    }

    pub(crate) fn deliver(&self, response: Message) -> Delivery {
        let key = (response.label(), response.tag());
        let sender = {
            let mut st = self.lock();
            if let Some(label) = key.0
                && !st.labels.contains(&label)
            {
                return Delivery::UnknownLabel;
            }
            match st.waiting.remove(&key) {
                Some(tx) => tx,
                None => return Delivery::UnknownTag,
            }
        };
        // The caller may have given up (cancelled); that is not an error.
        let _ = sender.send(Ok(response));
        Delivery::Matched
    }

    /// Stops accepting requests and fails every waiting call. The first cause wins.
    pub(crate) fn stop(&self, cause: StopCause) {
        let waiting = {
            let mut st = self.lock();
            if st.stopped.is_none() {
                st.stopped = Some(cause);
            }
            std::mem::take(&mut st.waiting)
        };
        let cause = self.stopped().unwrap_or(StopCause::Closed);
        for (_, tx) in waiting {
            let _ = tx.send(Err(cause.to_error()));
        }
    }

    pub(crate) fn stopped(&self) -> Option<StopCause> {
        self.lock().stopped.clone()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identifier::{AgentId, UserId};
    use crate::message::Body;

    fn response(label: Option<Uuid>, tag: Uuid) -> Message {
        Message::create(
            AgentId::new(None).into(),
            UserId::new(None).into(),
            Body::SuccessResponse,
            label,
            tag,
        )
    }

    #[tokio::test]
    async fn label_then_tag_selects_the_waiter() {
        let p = PendingRequests::default();
        let (l1, l2, tag) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        p.register_label(l1);
        p.register_label(l2);
        // Two handles may even use the same tag: the label keeps them apart.
        let mut r1 = p.register(Some(l1), tag).unwrap();
        let r2 = p.register(Some(l2), tag).unwrap();
        assert_eq!(p.deliver(response(Some(l2), tag)), Delivery::Matched);
        assert_eq!(r2.await.unwrap().unwrap().label(), Some(l2));
        assert!(r1.try_recv().is_err());
        assert_eq!(
            p.deliver(response(Some(Uuid::new_v4()), tag)),
            Delivery::UnknownLabel
        );
        assert_eq!(
            p.deliver(response(Some(l1), Uuid::new_v4())),
            Delivery::UnknownTag
        );
        assert_eq!(p.deliver(response(None, tag)), Delivery::UnknownTag);
        assert_eq!(p.deliver(response(Some(l1), tag)), Delivery::Matched);
        assert!(r1.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn stop_fails_waiters_and_new_requests() {
        let p = PendingRequests::default();
        let rx = p.register(None, Uuid::new_v4()).unwrap();
        p.stop(StopCause::Closed);
        assert!(matches!(rx.await.unwrap(), Err(ExchangeError::Closed)));
        assert!(matches!(
            p.register(None, Uuid::new_v4()),
            Err(ExchangeError::Closed)
        ));
        // The first cause is kept.
        p.stop(StopCause::Listener("x".into()));
        assert!(matches!(p.stopped(), Some(StopCause::Closed)));
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn unregistering_a_label_drops_its_waiters() {
        let p = PendingRequests::default();
        let l = Uuid::new_v4();
        p.register_label(l);
        let _rx = p.register(Some(l), Uuid::new_v4()).unwrap();
        let _other = p.register(None, Uuid::new_v4()).unwrap();
        p.unregister_label(l);
        assert_eq!(p.len(), 1);
    }
}
