//! The transport protocol (`academy/exchange/transport.py`,
//! `globus-exchange-client.md` §2): [`ExchangeTransport`], one mailbox-bound
//! connection to an exchange, and [`AgentRegistration`], what registering an
//! agent returns and what an agent process needs to connect.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::error::ExchangeError;
use crate::identifier::{AgentId, EntityId};
use crate::message::Message;
use crate::status::{AgentStats, MailboxStatus};

/// Messages received from a mailbox, in arrival order.
///
/// Contract for implementers: the stream yields `Ok(message)` items; an
/// `Err` item is terminal (the stream ends after it): `MailboxTerminated`
/// once the mailbox is terminated, `Timeout` when a per-message timeout
/// elapsed, or a transport error that could not be recovered (transient
/// errors are retried inside the transport).
pub type MessageStream = BoxStream<'static, Result<Message, ExchangeError>>;

/// The fully-qualified name every agent type descends from.
pub const AGENT_BASE_TYPE: &str = "academy.agent.Agent";

/// An agent type, identified by its MRO strings (`exchange-http-api.md` §9):
/// the most-derived fully-qualified name first, ending with
/// `academy.agent.Agent`.
///
/// ```
/// use academy_exchange::AgentType;
/// let t = AgentType::new("mypkg.Adder").with_base("mypkg.Base");
/// assert_eq!(t.mro_string(), "mypkg.Adder,mypkg.Base,academy.agent.Agent");
/// assert!(t.matches("mypkg.Adder", false));
/// assert!(!t.matches("mypkg.Base", false));
/// assert!(t.matches("mypkg.Base", true));
/// let back = AgentType::from_mro_string(&t.mro_string()).unwrap();
/// assert_eq!(back, t);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct AgentType {
    mro: Vec<String>,
}

impl AgentType {
    /// A type whose only base is `academy.agent.Agent`.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        let mut mro = vec![name];
        if mro[0] != AGENT_BASE_TYPE {
            mro.push(AGENT_BASE_TYPE.to_string());
        }
        AgentType { mro }
    }

    /// Inserts a base class just before `academy.agent.Agent` (call in MRO order).
    pub fn with_base(mut self, base: impl Into<String>) -> Self {
        let base = base.into();
        if !self.mro.contains(&base) {
            let at = self.mro.len().saturating_sub(1);
            self.mro.insert(at, base);
        }
        self
    }

    /// A type from its full MRO. Appends `academy.agent.Agent` if missing;
    /// rejects an empty list, empty names and names containing `,`.
    pub fn from_mro<I, S>(mro: I) -> Result<Self, ExchangeError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut mro: Vec<String> = mro.into_iter().map(Into::into).collect();
        if mro.is_empty() {
            return Err(ExchangeError::InvalidMessage(
                "agent type MRO is empty".into(),
            ));
        }
        if let Some(bad) = mro.iter().find(|s| s.is_empty() || s.contains(',')) {
            return Err(ExchangeError::InvalidMessage(format!(
                "invalid agent type name {bad:?}"
            )));
        }
        if mro.last().map(String::as_str) != Some(AGENT_BASE_TYPE) {
            mro.push(AGENT_BASE_TYPE.to_string());
        }
        Ok(AgentType { mro })
    }

    /// Parses the comma-joined wire form sent as `agent` in `POST /mailbox`.
    pub fn from_mro_string(text: &str) -> Result<Self, ExchangeError> {
        Self::from_mro(text.split(',').filter(|s| !s.is_empty()))
    }

    /// The most-derived fully-qualified name (what `discover` is usually asked for).
    pub fn name(&self) -> &str {
        &self.mro[0]
    }

    /// All names, most-derived first.
    pub fn mro(&self) -> &[String] {
        &self.mro
    }

    /// The comma-joined wire form.
    pub fn mro_string(&self) -> String {
        self.mro.join(",")
    }

    /// The discover rule: `query` is the most-derived name, or, when
    /// `allow_subclasses`, any name in the MRO.
    pub fn matches(&self, query: &str, allow_subclasses: bool) -> bool {
        self.mro[0] == query || (allow_subclasses && self.mro.iter().any(|n| n == query))
    }
}

impl TryFrom<Vec<String>> for AgentType {
    type Error = ExchangeError;
    fn try_from(v: Vec<String>) -> Result<Self, Self::Error> {
        AgentType::from_mro(v)
    }
}

impl From<AgentType> for Vec<String> {
    fn from(t: AgentType) -> Self {
        t.mro
    }
}

impl fmt::Display for AgentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What registering an agent returns: enough for the agent's process to
/// connect its own transport (`ExchangeFactory::create_agent_client`).
///
/// Concrete registrations are serde types whose JSON carries
/// `exchange_type`; [`AgentRegistration::to_json`] ships one to another
/// process and `ExchangeFactory::registration_from_json` reads it back.
/// Implementations that hold secrets must redact them in `Debug`.
pub trait AgentRegistration: Send + Sync + fmt::Debug + 'static {
    /// The exchange kind (`"local"`, `"http"`, `"globus"`, …).
    fn exchange_type(&self) -> &str;

    /// The registered agent.
    fn agent_id(&self) -> &AgentId;

    /// The JSON form (includes `exchange_type`).
    fn to_json(&self) -> Result<String, ExchangeError>;

    /// A boxed copy.
    fn clone_box(&self) -> Box<dyn AgentRegistration>;

    /// For downcasting to the concrete type (see [`downcast_registration`]).
    fn as_any(&self) -> &dyn Any;
}

impl Clone for Box<dyn AgentRegistration> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// The concrete registration type a factory expects, or a clear error.
pub fn downcast_registration<T: AgentRegistration>(
    registration: &dyn AgentRegistration,
) -> Result<&T, ExchangeError> {
    registration.as_any().downcast_ref::<T>().ok_or_else(|| {
        ExchangeError::InvalidMessage(format!(
            "registration for exchange type {:?} does not belong to this exchange",
            registration.exchange_type()
        ))
    })
}

/// Implements [`AgentRegistration`] for a serde registration type that has an
/// `agent_id: AgentId` field: its JSON is the serde form, it clones itself,
/// and its exchange type is the given constant.
///
/// ```
/// use academy_exchange::{AgentId, AgentRegistration, impl_agent_registration};
/// #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
/// struct MyRegistration { agent_id: AgentId, exchange_type: String }
/// impl_agent_registration!(MyRegistration, "mine");
/// let r = MyRegistration { agent_id: AgentId::new(None), exchange_type: "mine".into() };
/// assert_eq!(r.exchange_type(), "mine");
/// ```
#[macro_export]
macro_rules! impl_agent_registration {
    ($ty:ty, $exchange_type:expr) => {
        impl $crate::AgentRegistration for $ty {
            fn exchange_type(&self) -> &str {
                $exchange_type
            }
            fn agent_id(&self) -> &$crate::AgentId {
                &self.agent_id
            }
            fn to_json(&self) -> ::std::result::Result<String, $crate::ExchangeError> {
                ::serde_json::to_string(self)
                    .map_err(|e| $crate::ExchangeError::Serialization(e.to_string()))
            }
            fn clone_box(&self) -> ::std::boxed::Box<dyn $crate::AgentRegistration> {
                ::std::boxed::Box::new(::std::clone::Clone::clone(self))
            }
            fn as_any(&self) -> &dyn ::std::any::Any {
                self
            }
        }
    };
}

/// Reads a registration's JSON and checks that its `exchange_type` is
/// `expected`, so a registration shipped for another exchange is refused
/// with a clear error.
pub fn registration_from_json<T>(
    json: &str,
    expected: &str,
    exchange_type: impl Fn(&T) -> &str,
) -> Result<T, ExchangeError>
where
    T: serde::de::DeserializeOwned,
{
    let reg: T = serde_json::from_str(json)
        .map_err(|e| ExchangeError::Serialization(format!("{expected} registration JSON: {e}")))?;
    let found = exchange_type(&reg);
    if found != expected {
        return Err(ExchangeError::InvalidMessage(format!(
            "expected exchange_type {expected:?}, found {found:?}"
        )));
    }
    Ok(reg)
}

/// A connection to an exchange bound to one mailbox (`globus-exchange-client.md` §2).
///
/// Only one receiver per mailbox is supported. Implementations must be
/// cheap to share (`Arc<dyn ExchangeTransport>`): clients call them from a
/// listener task, a heartbeat task and user code at once.
///
/// Error contract (every backend, checked by the conformance suite):
/// unknown mailbox → [`ExchangeError::BadEntityId`], terminated mailbox →
/// [`ExchangeError::MailboxTerminated`], elapsed timeout →
/// [`ExchangeError::Timeout`].
#[async_trait]
pub trait ExchangeTransport: Send + Sync + fmt::Debug {
    /// The bound mailbox.
    fn mailbox_id(&self) -> &EntityId;

    /// Releases resources. Does **not** terminate the mailbox. Idempotent.
    async fn close(&self) -> Result<(), ExchangeError>;

    /// Active agents whose type is `agent` (a fully-qualified name), or a
    /// subclass of it when `allow_subclasses`. Terminated agents are excluded.
    async fn discover(
        &self,
        agent: &str,
        allow_subclasses: bool,
    ) -> Result<Vec<AgentId>, ExchangeError>;

    /// The bound mailbox's messages as a stream (see [`MessageStream`]);
    /// `timeout` bounds the wait for each message.
    fn listen(&self, timeout: Option<Duration>) -> MessageStream;

    /// The next message of the bound mailbox; `None` waits for ever.
    async fn recv(&self, timeout: Option<Duration>) -> Result<Message, ExchangeError>;

    /// Creates a mailbox for a new agent of type `agent`.
    async fn register_agent(
        &self,
        agent: &AgentType,
        name: Option<&str>,
    ) -> Result<Box<dyn AgentRegistration>, ExchangeError>;

    /// Registers several agents; results in input order. The default
    /// registers one by one and, if one fails, terminates the ones already
    /// created before returning the error (academy-py's client fallback).
    async fn register_agents(
        &self,
        agents: &[(AgentType, Option<String>)],
    ) -> Result<Vec<Box<dyn AgentRegistration>>, ExchangeError> {
        let mut done: Vec<Box<dyn AgentRegistration>> = Vec::with_capacity(agents.len());
        for (agent, name) in agents {
            match self.register_agent(agent, name.as_deref()).await {
                Ok(r) => done.push(r),
                Err(e) => {
                    for r in &done {
                        let id = EntityId::from(r.agent_id().clone());
                        if let Err(te) = self.terminate(&id).await {
                            tracing::warn!(mailbox = %id, error = %te, "rollback of batch registration failed");
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok(done)
    }

    /// Delivers `message` to `message.dest`.
    async fn send(&self, message: &Message) -> Result<(), ExchangeError>;

    /// The exchange's view of a mailbox: `Missing`, `Active` or `Terminated`
    /// (never `Inactive`; clients derive that from heartbeats, §6.2).
    ///
    /// The default asks [`ExchangeTransport::heartbeat_status`].
    async fn status(&self, uid: &EntityId) -> Result<MailboxStatus, ExchangeError> {
        match self.heartbeat_status(uid).await {
            Ok(_) => Ok(MailboxStatus::Active),
            Err(ExchangeError::BadEntityId(_)) => Ok(MailboxStatus::Missing),
            Err(ExchangeError::MailboxTerminated(_)) => Ok(MailboxStatus::Terminated),
            Err(e) => Err(e),
        }
    }

    /// Terminates a mailbox: pending requests to it are answered with error
    /// code 0, its listeners and senders to it get `MailboxTerminated`.
    /// A no-op for an unknown or already terminated mailbox.
    async fn terminate(&self, uid: &EntityId) -> Result<(), ExchangeError>;

    /// Seconds since the mailbox's last heartbeat, `None` if it never beat.
    async fn heartbeat_status(&self, uid: &EntityId) -> Result<Option<f64>, ExchangeError>;

    /// Records a heartbeat for the bound mailbox.
    async fn update_heartbeat(&self) -> Result<(), ExchangeError>;

    /// Request statistics of a mailbox.
    async fn agent_stats(&self, uid: &EntityId) -> Result<AgentStats, ExchangeError>;
}

#[async_trait]
impl<T: ExchangeTransport + ?Sized> ExchangeTransport for Arc<T> {
    fn mailbox_id(&self) -> &EntityId {
        (**self).mailbox_id()
    }
    async fn close(&self) -> Result<(), ExchangeError> {
        (**self).close().await
    }
    async fn discover(
        &self,
        agent: &str,
        allow_subclasses: bool,
    ) -> Result<Vec<AgentId>, ExchangeError> {
        (**self).discover(agent, allow_subclasses).await
    }
    fn listen(&self, timeout: Option<Duration>) -> MessageStream {
        (**self).listen(timeout)
    }
    async fn recv(&self, timeout: Option<Duration>) -> Result<Message, ExchangeError> {
        (**self).recv(timeout).await
    }
    async fn register_agent(
        &self,
        agent: &AgentType,
        name: Option<&str>,
    ) -> Result<Box<dyn AgentRegistration>, ExchangeError> {
        (**self).register_agent(agent, name).await
    }
    async fn register_agents(
        &self,
        agents: &[(AgentType, Option<String>)],
    ) -> Result<Vec<Box<dyn AgentRegistration>>, ExchangeError> {
        (**self).register_agents(agents).await
    }
    async fn send(&self, message: &Message) -> Result<(), ExchangeError> {
        (**self).send(message).await
    }
    async fn status(&self, uid: &EntityId) -> Result<MailboxStatus, ExchangeError> {
        (**self).status(uid).await
    }
    async fn terminate(&self, uid: &EntityId) -> Result<(), ExchangeError> {
        (**self).terminate(uid).await
    }
    async fn heartbeat_status(&self, uid: &EntityId) -> Result<Option<f64>, ExchangeError> {
        (**self).heartbeat_status(uid).await
    }
    async fn update_heartbeat(&self) -> Result<(), ExchangeError> {
        (**self).update_heartbeat().await
    }
    async fn agent_stats(&self, uid: &EntityId) -> Result<AgentStats, ExchangeError> {
        (**self).agent_stats(uid).await
    }
}

/// A [`MessageStream`] built from repeated [`ExchangeTransport::recv`]
/// calls, ending after the first error. Handy for transports whose
/// receive primitive is a single long poll.
pub fn listen_with_recv(
    transport: Arc<dyn ExchangeTransport>,
    timeout: Option<Duration>,
) -> MessageStream {
    Box::pin(futures::stream::unfold(
        Some(transport),
        move |state| async move {
            let transport = state?;
            match transport.recv(timeout).await {
                Ok(m) => Some((Ok(m), Some(transport))),
                Err(e) => Some((Err(e), None)),
            }
        },
    ))
}
