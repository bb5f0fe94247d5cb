//! The in-process reference exchange (`academy/exchange/local.py`,
//! `globus-exchange-client.md` §8): mailboxes, gravestones, request
//! tracking and automatic error responses, all in memory.
//!
//! Semantics follow the hosted exchange server where the two differ
//! (`exchange-http-api.md` §7–§8): a send to a terminated mailbox is
//! refused before it is tracked; the error responses sent on termination
//! bypass tracking and skip requesters that are missing or terminated.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::config::ExchangeClientConfig;
use crate::error::ExchangeError;
use crate::factory::ExchangeFactory;
use crate::identifier::{AgentId, EntityId, UserId};
use crate::message::{Body, ErrorCode, Header, Message, MessageKind};
use crate::status::AgentStats;
use crate::transport::{
    AgentRegistration, AgentType, ExchangeTransport, MessageStream, downcast_registration,
};

/// The `exchange_type` of the local exchange.
pub const LOCAL_EXCHANGE_TYPE: &str = "local";

struct Mailbox {
    queue: VecDeque<Message>,
    terminated: bool,
    agent_type: Option<AgentType>,
    notify: Arc<Notify>,
}

#[derive(Default)]
struct State {
    mailboxes: HashMap<EntityId, Mailbox>,
    /// Agents in registration order (discover answers in that order).
    agents: Vec<AgentId>,
    /// Unanswered requests per destination, by tag.
    requests: HashMap<EntityId, HashMap<Uuid, Header>>,
    completions: HashMap<EntityId, u64>,
    outgoing: HashMap<EntityId, u64>,
    heartbeats: HashMap<EntityId, Instant>,
}

/// One in-memory exchange. Cheap to clone; clones share the state.
///
/// ```
/// use academy_exchange::local::LocalExchange;
/// use academy_exchange::{AgentType, ExchangeTransport};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let exchange = LocalExchange::new();
/// let user = exchange.new_user_transport(Some("alice"));
/// let reg = user.register_agent(&AgentType::new("m.A"), None).await.unwrap();
/// assert_eq!(user.discover("academy.agent.Agent", true).await.unwrap().len(), 1);
/// assert_eq!(reg.exchange_type(), "local");
/// # });
/// ```
#[derive(Clone, Default)]
pub struct LocalExchange {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for LocalExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.lock().mailboxes.len();
        write!(f, "LocalExchange({n} mailboxes)")
    }
}

impl LocalExchange {
    /// An empty exchange.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No invariant spans a panic point inside the critical sections.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A factory for this exchange.
    pub fn factory(&self) -> LocalExchangeFactory {
        LocalExchangeFactory {
            exchange: self.clone(),
            config: ExchangeClientConfig::default(),
        }
    }

    /// Registers a new user mailbox and returns a transport bound to it.
    pub fn new_user_transport(&self, name: Option<&str>) -> LocalExchangeTransport {
        let id = EntityId::from(UserId::new(name.map(str::to_string)));
        self.lock().mailboxes.insert(id.clone(), new_mailbox(None));
        tracing::info!(mailbox = %id, "registered user in local exchange");
        self.transport(id)
    }

    /// A transport bound to `mailbox_id` (which need not exist).
    pub fn transport(&self, mailbox_id: EntityId) -> LocalExchangeTransport {
        LocalExchangeTransport {
            exchange: self.clone(),
            mailbox_id,
        }
    }

    fn recv_now(&self, id: &EntityId) -> Result<Result<Message, Arc<Notify>>, ExchangeError> {
        let mut st = self.lock();
        let mb = st
            .mailboxes
            .get_mut(id)
            .ok_or_else(|| ExchangeError::BadEntityId(id.clone()))?;
        if mb.terminated {
            return Err(ExchangeError::MailboxTerminated(id.clone()));
        }
        Ok(match mb.queue.pop_front() {
            Some(m) => Ok(m),
            None => Err(mb.notify.clone()),
        })
    }

    async fn recv(
        &self,
        id: &EntityId,
        timeout: Option<Duration>,
    ) -> Result<Message, ExchangeError> {
        let wait = async {
            loop {
                match self.recv_now(id)? {
                    Ok(m) => return Ok(m),
                    // `notify_one` keeps a permit when nobody waits, so a
                    // message sent between the check and this await is not missed.
                    Err(notify) => notify.notified().await,
                }
            }
        };
        match timeout {
            None => wait.await,
            Some(t) => tokio::time::timeout(t, wait)
                .await
                .map_err(|_| ExchangeError::Timeout(t))?,
        }
    }

    fn send(&self, message: &Message) -> Result<(), ExchangeError> {
        let mut st = self.lock();
        let dest = message.dest().clone();
        match st.mailboxes.get(&dest) {
            None => return Err(ExchangeError::BadEntityId(dest)),
            Some(mb) if mb.terminated => return Err(ExchangeError::MailboxTerminated(dest)),
            Some(_) => {}
        }
        let src = message.src().clone();
        match message.header.kind {
            MessageKind::Request => {
                st.requests
                    .entry(dest.clone())
                    .or_default()
                    .insert(message.tag(), message.header.clone());
                *st.outgoing.entry(src).or_default() += 1;
            }
            MessageKind::Response => {
                let matched = st
                    .requests
                    .get_mut(&src)
                    .and_then(|m| m.remove(&message.tag()))
                    .is_some();
                if matched {
                    if st.requests.get(&src).is_some_and(HashMap::is_empty) {
                        st.requests.remove(&src);
                    }
                    *st.completions.entry(src).or_default() += 1;
                } else {
                    tracing::warn!(tag = %message.tag(), src = %src, dest = %dest, "response without a tracked request");
                }
            }
        }
        enqueue(&mut st, &dest, message.clone());
        Ok(())
    }

    fn terminate(&self, uid: &EntityId) {
        let mut st = self.lock();
        match st.mailboxes.get(uid) {
            Some(mb) if !mb.terminated => {}
            _ => return,
        }
        let pending = st.requests.remove(uid).unwrap_or_default();
        for header in pending.into_values() {
            let Some(response_header) = header.response_header() else {
                continue;
            };
            let requester = response_header.dest.clone();
            let alive = st.mailboxes.get(&requester).is_some_and(|m| !m.terminated);
            if !alive {
                continue;
            }
            let body = Body::AcademyErrorResponse {
                error_code: ErrorCode::MailboxTerminated,
                mailbox_id: Some(uid.clone()),
            };
            enqueue(&mut st, &requester, Message::new(response_header, &body));
        }
        if let Some(mb) = st.mailboxes.get_mut(uid) {
            mb.terminated = true;
            mb.queue.clear();
            mb.notify.notify_waiters();
            mb.notify.notify_one();
        }
        tracing::info!(mailbox = %uid, "terminated mailbox in local exchange");
    }
}

fn new_mailbox(agent_type: Option<AgentType>) -> Mailbox {
    Mailbox {
        queue: VecDeque::new(),
        terminated: false,
        agent_type,
        notify: Arc::new(Notify::new()),
    }
}

fn enqueue(st: &mut State, dest: &EntityId, message: Message) {
    if let Some(mb) = st.mailboxes.get_mut(dest) {
        mb.queue.push_back(message);
        mb.notify.notify_one();
    }
}

/// A transport bound to one mailbox of a [`LocalExchange`]. `close` is a no-op.
#[derive(Clone)]
pub struct LocalExchangeTransport {
    exchange: LocalExchange,
    mailbox_id: EntityId,
}

impl std::fmt::Debug for LocalExchangeTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LocalExchangeTransport<{}>", self.mailbox_id)
    }
}

#[async_trait]
impl ExchangeTransport for LocalExchangeTransport {
    fn mailbox_id(&self) -> &EntityId {
        &self.mailbox_id
    }

    async fn close(&self) -> Result<(), ExchangeError> {
        Ok(())
    }

    async fn discover(
        &self,
        agent: &str,
        allow_subclasses: bool,
    ) -> Result<Vec<AgentId>, ExchangeError> {
        let st = self.exchange.lock();
        Ok(st
            .agents
            .iter()
            .filter(|aid| {
                st.mailboxes
                    .get(&EntityId::from((*aid).clone()))
                    .is_some_and(|mb| {
                        !mb.terminated
                            && mb
                                .agent_type
                                .as_ref()
                                .is_some_and(|t| t.matches(agent, allow_subclasses))
                    })
            })
            .cloned()
            .collect())
    }

    fn listen(&self, timeout: Option<Duration>) -> MessageStream {
        let exchange = self.exchange.clone();
        let id = self.mailbox_id.clone();
        Box::pin(futures::stream::unfold(
            Some((exchange, id)),
            move |state| async move {
                let (exchange, id) = state?;
                match exchange.recv(&id, timeout).await {
                    Ok(m) => Some((Ok(m), Some((exchange, id)))),
                    Err(e) => Some((Err(e), None)),
                }
            },
        ))
    }

    async fn recv(&self, timeout: Option<Duration>) -> Result<Message, ExchangeError> {
        self.exchange.recv(&self.mailbox_id, timeout).await
    }

    async fn register_agent(
        &self,
        agent: &AgentType,
        name: Option<&str>,
    ) -> Result<Box<dyn AgentRegistration>, ExchangeError> {
        let aid = AgentId::new(name.map(str::to_string));
        {
            let mut st = self.exchange.lock();
            st.mailboxes
                .insert(aid.clone().into(), new_mailbox(Some(agent.clone())));
            st.agents.push(aid.clone());
        }
        Ok(Box::new(LocalAgentRegistration::new(aid)))
    }

    async fn send(&self, message: &Message) -> Result<(), ExchangeError> {
        self.exchange.send(message)
    }

    async fn terminate(&self, uid: &EntityId) -> Result<(), ExchangeError> {
        self.exchange.terminate(uid);
        Ok(())
    }

    async fn heartbeat_status(&self, uid: &EntityId) -> Result<Option<f64>, ExchangeError> {
        let st = self.exchange.lock();
        match st.mailboxes.get(uid) {
            None => Err(ExchangeError::BadEntityId(uid.clone())),
            Some(mb) if mb.terminated => Err(ExchangeError::MailboxTerminated(uid.clone())),
            Some(_) => Ok(st.heartbeats.get(uid).map(|t| t.elapsed().as_secs_f64())),
        }
    }

    async fn update_heartbeat(&self) -> Result<(), ExchangeError> {
        self.exchange
            .lock()
            .heartbeats
            .insert(self.mailbox_id.clone(), Instant::now());
        Ok(())
    }

    async fn agent_stats(&self, uid: &EntityId) -> Result<AgentStats, ExchangeError> {
        let st = self.exchange.lock();
        let queued = st.mailboxes.get(uid).map_or(0, |m| m.queue.len() as u64);
        let pending = st.requests.get(uid).map_or(0, |m| m.len() as u64);
        let completed = st.completions.get(uid).copied().unwrap_or(0);
        let outgoing = st.outgoing.get(uid).copied().unwrap_or(0);
        Ok(AgentStats {
            incoming: completed + pending,
            outgoing,
            completed,
            in_progress: pending.saturating_sub(queued),
            queued,
        })
    }
}

/// Registration of an agent in a [`LocalExchange`]:
/// `{"agent_id": {…}, "exchange_type": "local"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalAgentRegistration {
    /// The registered agent.
    pub agent_id: AgentId,
    /// Always `"local"`.
    #[serde(default = "local_type", deserialize_with = "de_local_type")]
    pub exchange_type: String,
}

fn local_type() -> String {
    LOCAL_EXCHANGE_TYPE.to_string()
}

fn de_local_type<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s != LOCAL_EXCHANGE_TYPE {
        return Err(serde::de::Error::custom(format!(
            "expected exchange_type \"local\", found {s:?}"
        )));
    }
    Ok(s)
}

impl LocalAgentRegistration {
    /// The registration of `agent_id`.
    pub fn new(agent_id: AgentId) -> Self {
        LocalAgentRegistration {
            agent_id,
            exchange_type: local_type(),
        }
    }
}

crate::impl_agent_registration!(LocalAgentRegistration, LOCAL_EXCHANGE_TYPE);

/// Factory of a [`LocalExchange`]. Clones share the exchange.
///
/// It cannot be shipped to another process (the state lives in this one):
/// [`ExchangeFactory::to_json`] returns an error, as academy-py refuses to
/// pickle it. Its registrations still serialise.
#[derive(Debug, Clone, Default)]
pub struct LocalExchangeFactory {
    exchange: LocalExchange,
    config: ExchangeClientConfig,
}

impl LocalExchangeFactory {
    /// A factory of a new, empty exchange.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same exchange with another client configuration.
    pub fn with_config(mut self, config: ExchangeClientConfig) -> Self {
        self.config = config;
        self
    }

    /// The exchange.
    pub fn exchange(&self) -> &LocalExchange {
        &self.exchange
    }
}

#[async_trait]
impl ExchangeFactory for LocalExchangeFactory {
    fn exchange_type(&self) -> &str {
        LOCAL_EXCHANGE_TYPE
    }

    fn config(&self) -> ExchangeClientConfig {
        self.config
    }

    fn to_json(&self) -> Result<String, ExchangeError> {
        Err(ExchangeError::Serialization(
            "a local exchange lives in one process; its factory cannot be serialised".into(),
        ))
    }

    fn registration_from_json(
        &self,
        json: &str,
    ) -> Result<Box<dyn AgentRegistration>, ExchangeError> {
        let r: LocalAgentRegistration = serde_json::from_str(json)
            .map_err(|e| ExchangeError::InvalidMessage(format!("local registration: {e}")))?;
        Ok(Box::new(r))
    }

    async fn create_user_transport(
        &self,
        name: Option<&str>,
    ) -> Result<Arc<dyn ExchangeTransport>, ExchangeError> {
        Ok(Arc::new(self.exchange.new_user_transport(name)))
    }

    async fn create_agent_transport(
        &self,
        registration: &dyn AgentRegistration,
    ) -> Result<Arc<dyn ExchangeTransport>, ExchangeError> {
        let r = downcast_registration::<LocalAgentRegistration>(registration)?;
        Ok(Arc::new(self.exchange.transport(r.agent_id.clone().into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn registration_round_trips_and_rejects_other_types() {
        let f = LocalExchangeFactory::new();
        let r = LocalAgentRegistration::new(AgentId::new(Some("a".into())));
        let json = r.to_json().unwrap();
        assert!(json.ends_with(r#""exchange_type":"local"}"#), "{json}");
        let back = f.registration_from_json(&json).unwrap();
        assert_eq!(back.agent_id(), &r.agent_id);
        let wrong = json.replace("\"local\"", "\"http\"");
        assert!(f.registration_from_json(&wrong).is_err());
        assert!(f.to_json().is_err());
    }
}
