//! In-memory backend (academy-py's `PythonBackend`, `exchange-http-api.md`
//! §11.1): everything lives in the process and is lost on restart.
//!
//! Mailboxes are keyed by (role, uuid). Differences from Python, all keeping
//! the wire format: the check order of send is 403, 404, 419, 413; a request
//! to a terminated mailbox is not tracked (§12.5); unsharing a never-shared
//! mailbox answers 200 (§12.1); termination responses are delivered with
//! server authority (§12.2); `src` must be a mailbox the caller may use
//! (§12.8); retried sends are deduplicated; pending-request tracking is
//! bounded by [`PENDING_LIMIT`].

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use academy_exchange::{AgentStats, EntityId, Header, MailboxStatus, Message, MessageKind, Role};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{
    DEDUP_WINDOW, INFLIGHT_BYTES_LIMIT, INFLIGHT_LIMIT, MailboxBackend, PENDING_LIMIT, Taken,
    mro_matches, stats_from, termination_response,
};
use crate::auth::ClientInfo;
use crate::error::ServerError;

type Key = (Role, Uuid);

fn key(id: &EntityId) -> Key {
    (id.role(), id.uid())
}

/// Most (dest, tag, kind) triples remembered for deduplication.
const DEDUP_LIMIT: usize = 262_144;

/// The in-memory backend.
///
/// ```
/// use academy_exchange_server::backend::memory::MemoryBackend;
/// let backend = MemoryBackend::new(512 * 1024);
/// # let _ = backend;
/// ```
pub struct MemoryBackend {
    state: Mutex<State>,
    size_limit: usize,
}

impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBackend")
            .field("size_limit", &self.size_limit)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    mailboxes: HashMap<Key, Mailbox>,
    outgoing: HashMap<Key, u64>,
    completions: HashMap<Key, u64>,
    dedup: Dedup,
}

struct Mailbox {
    owner: String,
    shares: BTreeSet<String>,
    queue: VecDeque<String>,
    terminated: bool,
    mro: Option<String>,
    pending: Pending,
    heartbeat: Option<SystemTime>,
    notify: Arc<Notify>,
    created: u64,
    /// Last sequence number handed out.
    seq: u64,
    /// Handed-out messages awaiting acknowledgement, oldest first.
    inflight: VecDeque<Taken>,
    /// Bytes of JSON in `inflight` (bounded by [`INFLIGHT_BYTES_LIMIT`]).
    inflight_bytes: usize,
    /// Current receiver generation (see [`MailboxBackend::new_receiver`]).
    generation: u64,
}

/// Requests addressed to one mailbox and not answered yet, bounded.
#[derive(Default)]
struct Pending {
    by_tag: HashMap<Uuid, Header>,
    order: VecDeque<Uuid>,
}

impl Pending {
    fn insert(&mut self, header: Header) {
        let tag = header.tag;
        if self.by_tag.insert(tag, header).is_none() {
            self.order.push_back(tag);
        }
        while self.by_tag.len() > PENDING_LIMIT {
            match self.order.pop_front() {
                Some(old) => {
                    self.by_tag.remove(&old);
                }
                None => break,
            }
        }
        // Answered tags stay in `order` until here; keep it proportional.
        if self.order.len() > 2 * self.by_tag.len() + 1024 {
            let by_tag = &self.by_tag;
            self.order.retain(|t| by_tag.contains_key(t));
        }
    }

    fn remove(&mut self, tag: &Uuid) -> bool {
        self.by_tag.remove(tag).is_some()
    }

    /// Every tracked request, leaving nothing allocated behind.
    fn drain(mut self) -> Vec<Header> {
        self.order = VecDeque::new();
        std::mem::take(&mut self.by_tag).into_values().collect()
    }
}

type DedupKey = (Key, Uuid, MessageKind);

/// A bounded, time-windowed set of recently accepted sends.
#[derive(Default)]
struct Dedup {
    seen: HashMap<DedupKey, Instant>,
    order: VecDeque<(Instant, DedupKey)>,
}

impl Dedup {
    fn expire(&mut self, now: Instant) {
        while let Some((at, k)) = self.order.front() {
            if now.duration_since(*at) < DEDUP_WINDOW && self.seen.len() <= DEDUP_LIMIT {
                break;
            }
            if self.seen.get(k) == Some(at) {
                self.seen.remove(k);
            }
            self.order.pop_front();
        }
    }

    fn contains(&mut self, k: &DedupKey, now: Instant) -> bool {
        self.expire(now);
        self.seen.contains_key(k)
    }

    fn insert(&mut self, k: DedupKey, now: Instant) {
        self.seen.insert(k, now);
        self.order.push_back((now, k));
        self.expire(now);
    }
}

impl MemoryBackend {
    /// A backend with a message size limit in bytes.
    pub fn new(size_limit: usize) -> Self {
        MemoryBackend {
            state: Mutex::new(State::default()),
            size_limit,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated
        // in a way that matters more than refusing service; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn perm(state: &State, client: &ClientInfo, k: &Key) -> bool {
    match state.mailboxes.get(k) {
        None => true,
        Some(m) => m.owner == client.client_id || client.shares_any(&m.shares),
    }
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Delivers a message without permission checks; false when the
/// destination is missing or terminated.
fn deliver(state: &mut State, dest: &Key, json: String) -> bool {
    match state.mailboxes.get_mut(dest) {
        Some(m) if !m.terminated => {
            m.queue.push_back(json);
            m.notify.notify_waiters();
            true
        }
        _ => false,
    }
}

#[async_trait::async_trait]
impl MailboxBackend for MemoryBackend {
    async fn check_mailbox(
        &self,
        client: &ClientInfo,
        id: &EntityId,
    ) -> Result<MailboxStatus, ServerError> {
        let state = self.lock();
        let k = key(id);
        if !perm(&state, client, &k) {
            return Err(ServerError::Forbidden);
        }
        Ok(match state.mailboxes.get(&k) {
            None => MailboxStatus::Missing,
            Some(m) if m.terminated => MailboxStatus::Terminated,
            Some(_) => MailboxStatus::Active,
        })
    }

    async fn create_mailbox(
        &self,
        client: &ClientInfo,
        id: &EntityId,
        agent: Option<&str>,
    ) -> Result<(), ServerError> {
        let mut state = self.lock();
        let k = key(id);
        if !perm(&state, client, &k) {
            return Err(ServerError::Forbidden);
        }
        let created = state.mailboxes.len() as u64;
        state.mailboxes.entry(k).or_insert_with(|| Mailbox {
            owner: client.client_id.clone(),
            shares: BTreeSet::new(),
            queue: VecDeque::new(),
            terminated: false,
            mro: agent.filter(|_| id.is_agent()).map(str::to_string),
            pending: Pending::default(),
            heartbeat: None,
            notify: Arc::new(Notify::new()),
            created,
            seq: 0,
            inflight: VecDeque::new(),
            inflight_bytes: 0,
            generation: 0,
        });
        Ok(())
    }

    async fn terminate(&self, client: &ClientInfo, id: &EntityId) -> Result<(), ServerError> {
        let mut state = self.lock();
        let k = key(id);
        if !perm(&state, client, &k) {
            return Err(ServerError::Forbidden);
        }
        let pending = match state.mailboxes.get_mut(&k) {
            None => return Ok(()),
            Some(m) => {
                // Gravestones live for the process: release the containers'
                // capacity, not only their contents.
                m.terminated = true;
                m.queue = VecDeque::new();
                m.inflight = VecDeque::new();
                m.inflight_bytes = 0;
                m.seq = 0;
                m.notify.notify_waiters();
                std::mem::take(&mut m.pending).drain()
            }
        };
        let count = pending.len();
        for request in pending {
            let response = termination_response(id, &request);
            deliver(&mut state, &key(&request.src), response.to_json());
        }
        tracing::info!(mailbox = %id.uid(), answered = count, "mailbox terminated");
        Ok(())
    }

    async fn share(
        &self,
        client: &ClientInfo,
        id: &EntityId,
        group: &str,
    ) -> Result<(), ServerError> {
        let mut state = self.lock();
        let m = state
            .mailboxes
            .get_mut(&key(id))
            .ok_or(ServerError::NotFound)?;
        if m.terminated {
            return Err(ServerError::Terminated);
        }
        if m.owner != client.client_id || !client.in_group(group) {
            return Err(ServerError::Forbidden);
        }
        m.shares.insert(group.to_string());
        Ok(())
    }

    async fn shares(&self, client: &ClientInfo, id: &EntityId) -> Result<Vec<String>, ServerError> {
        let state = self.lock();
        let m = state.mailboxes.get(&key(id)).ok_or(ServerError::NotFound)?;
        if m.terminated {
            return Err(ServerError::Terminated);
        }
        if m.owner != client.client_id {
            return Err(ServerError::Forbidden);
        }
        Ok(m.shares.iter().cloned().collect())
    }

    async fn unshare(
        &self,
        client: &ClientInfo,
        id: &EntityId,
        group: &str,
    ) -> Result<(), ServerError> {
        let mut state = self.lock();
        let m = state
            .mailboxes
            .get_mut(&key(id))
            .ok_or(ServerError::NotFound)?;
        if m.terminated {
            return Err(ServerError::Terminated);
        }
        if m.owner != client.client_id {
            return Err(ServerError::Forbidden);
        }
        m.shares.remove(group);
        Ok(())
    }

    async fn put(
        &self,
        client: &ClientInfo,
        message: &Message,
        json: &str,
    ) -> Result<(), ServerError> {
        let mut state = self.lock();
        let dest = key(message.dest());
        let src = key(message.src());
        if !perm(&state, client, &dest) || !perm(&state, client, &src) {
            return Err(ServerError::Forbidden);
        }
        match state.mailboxes.get(&dest) {
            None => return Err(ServerError::NotFound),
            Some(m) if m.terminated => return Err(ServerError::Terminated),
            Some(_) => {}
        }
        if json.len() > self.size_limit {
            return Err(ServerError::TooLarge {
                size: json.len(),
                limit: self.size_limit,
            });
        }
        let now = Instant::now();
        let dedup_key = (dest, message.tag(), message.header.kind);
        if state.dedup.contains(&dedup_key, now) {
            tracing::info!(tag = %message.tag(), dest = %dest.1, "duplicate send dropped");
            return Ok(());
        }
        state.dedup.insert(dedup_key, now);
        match message.header.kind {
            MessageKind::Request => {
                if let Some(m) = state.mailboxes.get_mut(&dest) {
                    m.pending.insert(message.header.clone());
                }
                *state.outgoing.entry(src).or_default() += 1;
            }
            MessageKind::Response => {
                let matched = state
                    .mailboxes
                    .get_mut(&src)
                    .is_some_and(|m| m.pending.remove(&message.tag()));
                if matched {
                    *state.completions.entry(src).or_default() += 1;
                } else {
                    tracing::debug!(tag = %message.tag(), "response matches no tracked request");
                }
            }
        }
        deliver(&mut state, &dest, json.to_string());
        Ok(())
    }

    async fn check_receive(&self, client: &ClientInfo, id: &EntityId) -> Result<(), ServerError> {
        let state = self.lock();
        let k = key(id);
        if !perm(&state, client, &k) {
            return Err(ServerError::Forbidden);
        }
        match state.mailboxes.get(&k) {
            None => Err(ServerError::NotFound),
            Some(m) if m.terminated => Err(ServerError::Terminated),
            Some(_) => Ok(()),
        }
    }

    async fn take(
        &self,
        id: &EntityId,
        deadline: Instant,
        cancel: &CancellationToken,
        generation: Option<u64>,
    ) -> Result<Taken, ServerError> {
        let k = key(id);
        loop {
            let notify = {
                let mut state = self.lock();
                let m = state.mailboxes.get_mut(&k).ok_or(ServerError::NotFound)?;
                if m.terminated {
                    return Err(ServerError::Terminated);
                }
                if generation.is_some_and(|g| g != m.generation) {
                    return Err(ServerError::Timeout);
                }
                if let Some(json) = m.queue.pop_front() {
                    m.seq += 1;
                    let taken = Taken { seq: m.seq, json };
                    m.inflight_bytes += taken.json.len();
                    m.inflight.push_back(taken.clone());
                    while m.inflight.len() > INFLIGHT_LIMIT
                        || (m.inflight_bytes > INFLIGHT_BYTES_LIMIT && m.inflight.len() > 1)
                    {
                        if let Some(old) = m.inflight.pop_front() {
                            m.inflight_bytes -= old.json.len();
                        }
                    }
                    return Ok(taken);
                }
                m.notify.clone()
            };
            let notified = notify.notified();
            tokio::pin!(notified);
            // Register before re-checking so a put in between is not missed.
            notified.as_mut().enable();
            {
                let state = self.lock();
                if let Some(m) = state.mailboxes.get(&k)
                    && (m.terminated || !m.queue.is_empty())
                {
                    continue;
                }
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(deadline.into()) => return Err(ServerError::Timeout),
                _ = cancel.cancelled() => return Err(ServerError::Timeout),
            }
        }
    }

    fn take_is_cancel_safe(&self) -> bool {
        // `take` pops and returns under one lock, with no await in between.
        true
    }

    async fn new_receiver(&self, id: &EntityId) -> Result<u64, ServerError> {
        let mut state = self.lock();
        let m = state
            .mailboxes
            .get_mut(&key(id))
            .ok_or(ServerError::NotFound)?;
        m.generation += 1;
        // Superseded takes end now instead of at their next message.
        m.notify.notify_waiters();
        Ok(m.generation)
    }

    async fn requeue_front(&self, id: &EntityId, taken: Taken) {
        let mut state = self.lock();
        match state.mailboxes.get_mut(&key(id)) {
            Some(m) if !m.terminated => {
                let Some(at) = m.inflight.iter().position(|t| t.seq == taken.seq) else {
                    tracing::debug!(mailbox = %id.uid(), seq = taken.seq, "message no longer in flight");
                    return;
                };
                if let Some(t) = m.inflight.remove(at) {
                    m.inflight_bytes -= t.json.len();
                }
                m.queue.push_front(taken.json);
                m.notify.notify_waiters();
            }
            _ => {
                tracing::info!(mailbox = %id.uid(), "undelivered message dropped: mailbox terminated")
            }
        }
    }

    async fn acknowledge(&self, id: &EntityId, last_seen: Option<u64>) -> Result<(), ServerError> {
        let mut state = self.lock();
        let Some(m) = state.mailboxes.get_mut(&key(id)) else {
            return Ok(());
        };
        let inflight = std::mem::take(&mut m.inflight);
        m.inflight_bytes = 0;
        let Some(last) = last_seen else {
            return Ok(());
        };
        if m.terminated {
            return Ok(());
        }
        let mut resend = 0usize;
        for taken in inflight.into_iter().rev().filter(|t| t.seq > last) {
            m.queue.push_front(taken.json);
            resend += 1;
        }
        if resend > 0 {
            tracing::info!(mailbox = %id.uid(), last_seen = last, resend, "unacknowledged messages re-queued");
            m.notify.notify_waiters();
        }
        Ok(())
    }

    async fn discover(
        &self,
        client: &ClientInfo,
        agent: &str,
        allow_subclasses: bool,
    ) -> Result<Vec<Uuid>, ServerError> {
        let state = self.lock();
        let mut found: Vec<(u64, Uuid)> = state
            .mailboxes
            .iter()
            .filter(|(_, m)| !m.terminated)
            .filter(|(_, m)| {
                m.mro
                    .as_deref()
                    .is_some_and(|mro| mro_matches(mro, agent, allow_subclasses))
            })
            .filter(|(_, m)| m.owner == client.client_id || client.shares_any(&m.shares))
            .map(|((_, uid), m)| (m.created, *uid))
            .collect();
        found.sort_unstable();
        Ok(found.into_iter().map(|(_, u)| u).collect())
    }

    async fn heartbeat_age(
        &self,
        client: &ClientInfo,
        id: &EntityId,
    ) -> Result<Option<f64>, ServerError> {
        let state = self.lock();
        let k = key(id);
        if !perm(&state, client, &k) {
            return Err(ServerError::Forbidden);
        }
        let m = state.mailboxes.get(&k).ok_or(ServerError::NotFound)?;
        if m.terminated {
            return Err(ServerError::Terminated);
        }
        Ok(m.heartbeat.map(|at| {
            let at = at
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            (now_s() - at).max(0.0)
        }))
    }

    async fn record_heartbeat(
        &self,
        client: &ClientInfo,
        id: &EntityId,
    ) -> Result<(), ServerError> {
        let mut state = self.lock();
        let k = key(id);
        if !perm(&state, client, &k) {
            return Err(ServerError::Forbidden);
        }
        // Only existing mailboxes keep a heartbeat: unknown ids would grow
        // the map without bound (§12.13); the answer is 200 either way.
        if let Some(m) = state.mailboxes.get_mut(&k) {
            m.heartbeat = Some(SystemTime::now());
        }
        Ok(())
    }

    async fn stats(&self, client: &ClientInfo, id: &EntityId) -> Result<AgentStats, ServerError> {
        let state = self.lock();
        let k = key(id);
        if !perm(&state, client, &k) {
            return Err(ServerError::Forbidden);
        }
        let (queued, pending) = state
            .mailboxes
            .get(&k)
            .map(|m| (m.queue.len() as u64, m.pending.by_tag.len() as u64))
            .unwrap_or((0, 0));
        let completed = state.completions.get(&k).copied().unwrap_or(0);
        let outgoing = state.outgoing.get(&k).copied().unwrap_or(0);
        Ok(stats_from(queued, pending, completed, outgoing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use academy_exchange::message::Body;
    use academy_exchange::{AgentId, UserId};
    use std::time::Duration;

    fn alice() -> ClientInfo {
        ClientInfo {
            client_id: "alice".into(),
            groups: BTreeSet::new(),
        }
    }

    #[tokio::test]
    async fn dedup_by_dest_tag_kind() {
        tokio::time::timeout(Duration::from_secs(5), async {
            let b = MemoryBackend::new(1 << 20);
            let c = alice();
            let user: EntityId = UserId::new(None).into();
            let agent: EntityId = AgentId::new(None).into();
            b.create_mailbox(&c, &user, None).await.unwrap();
            b.create_mailbox(&c, &agent, Some("m.A,academy.agent.Agent"))
                .await
                .unwrap();
            let req = Message::request(user.clone(), agent.clone(), Body::PingRequest, None);
            b.put(&c, &req, &req.to_json()).await.unwrap();
            b.put(&c, &req, &req.to_json()).await.unwrap();
            assert_eq!(b.stats(&c, &agent).await.unwrap().queued, 1);
            let resp = req.create_response(Body::SuccessResponse).unwrap();
            b.put(&c, &resp, &resp.to_json()).await.unwrap();
            let s = b.stats(&c, &agent).await.unwrap();
            assert_eq!((s.completed, s.incoming), (1, 1));
            assert_eq!(b.stats(&c, &user).await.unwrap().queued, 1);
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn terminate_answers_pending_and_wakes_waiters() {
        tokio::time::timeout(Duration::from_secs(5), async {
            let b = Arc::new(MemoryBackend::new(1 << 20));
            let c = alice();
            let user: EntityId = UserId::new(None).into();
            let agent: EntityId = AgentId::new(None).into();
            b.create_mailbox(&c, &user, None).await.unwrap();
            b.create_mailbox(&c, &agent, None).await.unwrap();
            let req = Message::request(user.clone(), agent.clone(), Body::PingRequest, None);
            b.put(&c, &req, &req.to_json()).await.unwrap();
            // Drain the agent queue, then wait on the empty queue.
            let cancel = CancellationToken::new();
            let far = Instant::now() + Duration::from_secs(30);
            assert_eq!(
                b.take(&agent, far, &cancel, None).await.unwrap().json,
                req.to_json()
            );
            let waiter = {
                let b = b.clone();
                let agent = agent.clone();
                tokio::spawn(
                    async move { b.take(&agent, far, &CancellationToken::new(), None).await },
                )
            };
            tokio::task::yield_now().await;
            b.terminate(&c, &agent).await.unwrap();
            assert!(matches!(
                waiter.await.unwrap(),
                Err(ServerError::Terminated)
            ));
            let json = b.take(&user, far, &cancel, None).await.unwrap().json;
            let m = Message::from_json(&json).unwrap();
            assert_eq!(m.tag(), req.tag());
            assert!(matches!(
                m.body().unwrap(),
                Body::AcademyErrorResponse { mailbox_id: Some(ref id), .. } if *id == agent
            ));
            // Terminating again is a no-op that succeeds.
            b.terminate(&c, &agent).await.unwrap();
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn terminate_clears_in_flight_and_seq() {
        tokio::time::timeout(Duration::from_secs(5), async {
            let b = MemoryBackend::new(1 << 20);
            let c = alice();
            let user: EntityId = UserId::new(None).into();
            b.create_mailbox(&c, &user, None).await.unwrap();
            let m = Message::request(user.clone(), user.clone(), Body::PingRequest, None);
            b.put(&c, &m, &m.to_json()).await.unwrap();
            let far = Instant::now() + Duration::from_secs(30);
            let taken = b
                .take(&user, far, &CancellationToken::new(), None)
                .await
                .unwrap();
            assert_eq!(taken.seq, 1);
            {
                let state = b.lock();
                assert_eq!(state.mailboxes[&key(&user)].inflight.len(), 1);
            }
            b.terminate(&c, &user).await.unwrap();
            let state = b.lock();
            let mb = &state.mailboxes[&key(&user)];
            assert!(mb.inflight.is_empty());
            assert_eq!(mb.seq, 0);
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn in_flight_is_bounded_by_bytes() {
        tokio::time::timeout(Duration::from_secs(10), async {
            let b = MemoryBackend::new(1 << 20);
            let c = alice();
            let user: EntityId = UserId::new(None).into();
            b.create_mailbox(&c, &user, None).await.unwrap();
            // Stored text is opaque to the backend: 512 KiB per message.
            let big = "x".repeat(512 * 1024);
            let far = Instant::now() + Duration::from_secs(30);
            let cancel = CancellationToken::new();
            for _ in 0..40 {
                b.put(
                    &c,
                    &Message::request(user.clone(), user.clone(), Body::PingRequest, None),
                    &big,
                )
                .await
                .unwrap();
                b.take(&user, far, &cancel, None).await.unwrap();
            }
            let state = b.lock();
            let mb = &state.mailboxes[&key(&user)];
            assert!(
                mb.inflight_bytes <= INFLIGHT_BYTES_LIMIT,
                "{}",
                mb.inflight_bytes
            );
            assert_eq!(
                mb.inflight_bytes,
                mb.inflight.iter().map(|t| t.json.len()).sum::<usize>()
            );
            assert_eq!(mb.inflight.len(), INFLIGHT_BYTES_LIMIT / big.len());
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn requeue_front_only_while_in_flight() {
        tokio::time::timeout(Duration::from_secs(5), async {
            let b = MemoryBackend::new(1 << 20);
            let c = alice();
            let user: EntityId = UserId::new(None).into();
            b.create_mailbox(&c, &user, None).await.unwrap();
            let m = Message::request(user.clone(), user.clone(), Body::PingRequest, None);
            b.put(&c, &m, &m.to_json()).await.unwrap();
            let far = Instant::now() + Duration::from_secs(30);
            let cancel = CancellationToken::new();
            let taken = b.take(&user, far, &cancel, None).await.unwrap();
            // Acknowledged first: a late "not written" must not resend it.
            b.acknowledge(&user, Some(taken.seq)).await.unwrap();
            b.requeue_front(&user, taken).await;
            assert_eq!(b.stats(&c, &user).await.unwrap().queued, 0);
            // Not acknowledged: it goes back, and leaves the in-flight list.
            b.put(&c, &m.create_response(Body::SuccessResponse).unwrap(), "x")
                .await
                .unwrap();
            let taken = b.take(&user, far, &cancel, None).await.unwrap();
            b.requeue_front(&user, taken.clone()).await;
            assert_eq!(b.stats(&c, &user).await.unwrap().queued, 1);
            b.acknowledge(&user, Some(0)).await.unwrap();
            assert_eq!(b.stats(&c, &user).await.unwrap().queued, 1);
        })
        .await
        .unwrap();
    }

    #[test]
    fn pending_is_bounded() {
        let mut p = Pending::default();
        let u: EntityId = UserId::new(None).into();
        let a: EntityId = AgentId::new(None).into();
        for _ in 0..PENDING_LIMIT + 10 {
            let h = Header::new(
                u.clone(),
                a.clone(),
                Uuid::new_v4(),
                None,
                MessageKind::Request,
            );
            p.insert(h);
        }
        assert_eq!(p.by_tag.len(), PENDING_LIMIT);
        assert!(p.order.len() <= 2 * PENDING_LIMIT + 1024);
    }
}
