//! Mailbox storage behind one trait ([`MailboxBackend`]): in memory
//! ([`memory::MemoryBackend`]) or in Redis ([`redis::RedisBackend`]).
//!
//! Both backends apply the same order of checks, chosen where Python's two
//! backends differ (`exchange-http-api.md` §11.3): send is 403 (dest, then
//! src), 404, 419, 413; receive is 403, 404, 419.

pub mod memory;
pub mod redis;

use std::time::{Duration, Instant};

use academy_exchange::message::{Body, ErrorCode, Message};
use academy_exchange::{AgentStats, EntityId, Header, MailboxStatus};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::auth::ClientInfo;
use crate::error::ServerError;

/// How long a (destination, tag, kind) triple is remembered to drop a
/// retried send (the 1.0.0 client retries `PUT /message` after a lost
/// response, `globus-exchange-client.md` §7.3).
pub const DEDUP_WINDOW: Duration = Duration::from_secs(600);

/// At most this many requests are tracked as pending per destination
/// mailbox (in memory); the oldest entry is forgotten first.
pub const PENDING_LIMIT: usize = 65_536;

/// At most this many handed-out messages are remembered per mailbox while
/// they wait for the receiver's acknowledgement; beyond it the oldest entry
/// is forgotten (counted as delivered).
pub const INFLIGHT_LIMIT: usize = 1024;

/// Bytes of message JSON kept in flight per mailbox by the in-memory
/// backend (older entries count as delivered beyond it). A cut connection
/// can only have lost what sat in socket and proxy buffers, a few MiB at
/// most, so this bounds memory without weakening redelivery; it matters
/// for clients that never acknowledge (academy-py), whose in-flight list is
/// otherwise only cleared when they reconnect.
pub const INFLIGHT_BYTES_LIMIT: usize = 8 * 1024 * 1024;

/// A message taken from a queue: its per-mailbox sequence number (the SSE
/// `id:` and the long-poll `id`) and its JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    /// Per-mailbox sequence number, increasing, starting at 1.
    pub seq: u64,
    /// The message's JSON.
    pub json: String,
}

/// The storage operations the routes need.
///
/// Every method takes the authenticated caller and performs the permission
/// checks of `exchange-http-api.md` §4 itself.
#[async_trait::async_trait]
pub trait MailboxBackend: Send + Sync + 'static {
    /// `GET /mailbox`: 403, then the status.
    async fn check_mailbox(
        &self,
        client: &ClientInfo,
        id: &EntityId,
    ) -> Result<MailboxStatus, ServerError>;

    /// `POST /mailbox`: 403; creates the mailbox unless it exists (active
    /// or terminated: then nothing changes). `agent` is stored for agents only.
    async fn create_mailbox(
        &self,
        client: &ClientInfo,
        id: &EntityId,
        agent: Option<&str>,
    ) -> Result<(), ServerError>;

    /// `DELETE /mailbox`: 403; terminates and answers every pending request
    /// with server authority. Never fails once the mailbox is terminated.
    async fn terminate(&self, client: &ClientInfo, id: &EntityId) -> Result<(), ServerError>;

    /// `POST /mailbox/share`: 404, 419, 403 (owner and member of `group`).
    async fn share(
        &self,
        client: &ClientInfo,
        id: &EntityId,
        group: &str,
    ) -> Result<(), ServerError>;

    /// `GET /mailbox/share`: 404, 419, 403 (owner).
    async fn shares(&self, client: &ClientInfo, id: &EntityId) -> Result<Vec<String>, ServerError>;

    /// `DELETE /mailbox/share`: 404, 419, 403 (owner); idempotent.
    async fn unshare(
        &self,
        client: &ClientInfo,
        id: &EntityId,
        group: &str,
    ) -> Result<(), ServerError>;

    /// `PUT /message`: 403, 404, 419, 413, then tracking and enqueueing.
    /// `json` is the message's canonical re-serialisation. A repeat of a
    /// (dest, tag, kind) seen within [`DEDUP_WINDOW`] succeeds without
    /// enqueueing again.
    async fn put(
        &self,
        client: &ClientInfo,
        message: &Message,
        json: &str,
    ) -> Result<(), ServerError>;

    /// The checks before a receive or listen: 403, 404, 419 (Redis also
    /// refreshes TTLs).
    async fn check_receive(&self, client: &ClientInfo, id: &EntityId) -> Result<(), ServerError>;

    /// Waits until `deadline` for the head of the queue and removes it,
    /// giving it the next sequence number and recording it in the mailbox's
    /// in-flight list in the same atomic step.
    ///
    /// Cancel-safe while waiting: when `cancel` fires, or at the deadline,
    /// it returns [`ServerError::Timeout`] without taking anything. Once a
    /// message is taken it is returned; callers hand it on (it stays in
    /// flight until [`MailboxBackend::acknowledge`]) or give it back with
    /// [`MailboxBackend::requeue_front`].
    ///
    /// With `generation` `Some(g)` (an acknowledging event stream, see
    /// [`MailboxBackend::new_receiver`]) it takes only while `g` is the
    /// mailbox's current receiver generation, checked atomically with the
    /// pop; a superseded take returns [`ServerError::Timeout`] and takes
    /// nothing.
    async fn take(
        &self,
        id: &EntityId,
        deadline: Instant,
        cancel: &CancellationToken,
        generation: Option<u64>,
    ) -> Result<Taken, ServerError>;

    /// Starts a new receiver generation of the mailbox and returns it: takes
    /// of earlier generations take nothing from now on. Called when an
    /// acknowledging event stream opens, before its acknowledgement, so that
    /// a stream its client has dropped (to reopen it) cannot take a message
    /// meant for the new one.
    async fn new_receiver(&self, id: &EntityId) -> Result<u64, ServerError>;

    /// True when dropping a [`MailboxBackend::take`] future can never lose a
    /// message, i.e. the message is removed and returned within one poll
    /// (no `.await` between the two). Receivers then poll the take inline
    /// instead of in a task of its own, saving a task wake-up per message.
    fn take_is_cancel_safe(&self) -> bool {
        false
    }

    /// Puts a message known not to have been written back at the head of
    /// its queue and out of the in-flight list. Nothing happens when it is
    /// no longer in flight (acknowledged or re-queued meanwhile, or the
    /// mailbox was terminated).
    async fn requeue_front(&self, id: &EntityId, taken: Taken);

    /// The receiver came back having seen everything up to `last_seen`:
    /// in-flight messages with `seq <= last_seen` are delivered and
    /// forgotten, later ones go back to the head of the queue in their
    /// original order. `None` (a client that does not echo ids, such as
    /// academy-py) forgets every in-flight message. Atomic.
    async fn acknowledge(&self, id: &EntityId, last_seen: Option<u64>) -> Result<(), ServerError>;

    /// `GET /discover`: active agents visible to the caller whose MRO matches.
    async fn discover(
        &self,
        client: &ClientInfo,
        agent: &str,
        allow_subclasses: bool,
    ) -> Result<Vec<Uuid>, ServerError>;

    /// `GET /mailbox/heartbeat`: 403, 404, 419, then the age in seconds.
    async fn heartbeat_age(
        &self,
        client: &ClientInfo,
        id: &EntityId,
    ) -> Result<Option<f64>, ServerError>;

    /// `POST /mailbox/heartbeat`: 403, then records "now".
    async fn record_heartbeat(&self, client: &ClientInfo, id: &EntityId)
    -> Result<(), ServerError>;

    /// `GET /mailbox/stats`: 403, then the counters (§8).
    async fn stats(&self, client: &ClientInfo, id: &EntityId) -> Result<AgentStats, ServerError>;
}

/// True when `agent` matches an MRO (§6.10).
pub(crate) fn mro_matches(mro: &str, agent: &str, allow_subclasses: bool) -> bool {
    let mut parts = mro.split(',');
    if parts.next() == Some(agent) {
        return true;
    }
    allow_subclasses && parts.any(|p| p == agent)
}

/// The automatic response to a request pending at a terminated mailbox (§7.2).
pub(crate) fn termination_response(terminated: &EntityId, request: &Header) -> Message {
    Message::create(
        terminated.clone(),
        request.src.clone(),
        Body::AcademyErrorResponse {
            error_code: ErrorCode::MailboxTerminated,
            mailbox_id: Some(terminated.clone()),
        },
        request.label,
        request.tag,
    )
}

/// The statistics of §8 from the raw counters.
pub(crate) fn stats_from(queued: u64, pending: u64, completed: u64, outgoing: u64) -> AgentStats {
    AgentStats {
        incoming: completed + pending,
        outgoing,
        completed,
        in_progress: pending.saturating_sub(queued),
        queued,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mro_matching() {
        let mro = "m.D,m.A,academy.agent.Agent";
        assert!(mro_matches(mro, "m.D", false));
        assert!(!mro_matches(mro, "m.A", false));
        assert!(mro_matches(mro, "m.A", true));
        assert!(!mro_matches(mro, "academy.agent.Agent", false));
        assert!(!mro_matches(mro, "m.X", true));
    }

    #[test]
    fn stats_formula() {
        let s = stats_from(1, 3, 2, 5);
        assert_eq!(
            (s.incoming, s.outgoing, s.completed, s.in_progress, s.queued),
            (5, 5, 2, 2, 1)
        );
    }
}
