//! The request bodies and answers of every route ([`super::route`]).
//!
//! Optional fields are left out when `None`, as academy-py's clients do.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::python;
use crate::identifier::parse_uuid;
use crate::{EntityId, MailboxStatus, Message};

/// A request body: its type says which fields must be present, checked in
/// this order before anything else is read (academy-py reports the first
/// missing key).
pub trait Request: serde::de::DeserializeOwned {
    /// The required fields, in academy-py's reading order.
    const REQUIRED: &'static [&'static str];
}

/// The body of the routes that name one mailbox (`GET`/`DELETE /mailbox`,
/// `GET /mailbox/share`, both heartbeat routes, `GET /mailbox/stats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailboxRequest {
    /// The mailbox (double-encoded).
    #[serde(with = "json_string")]
    pub mailbox: EntityId,
}

impl Request for MailboxRequest {
    const REQUIRED: &'static [&'static str] = &["mailbox"];
}

/// `POST /mailbox`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateMailboxRequest {
    /// The mailbox (double-encoded).
    #[serde(with = "json_string")]
    pub mailbox: EntityId,
    /// An agent's MRO, comma-joined, most-derived first, ending with
    /// `academy.agent.Agent`; absent or `null` for a user.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "python::optional_agent"
    )]
    pub agent: Option<String>,
}

impl Request for CreateMailboxRequest {
    const REQUIRED: &'static [&'static str] = &["mailbox"];
}

/// `POST` and `DELETE /mailbox/share`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShareRequest {
    /// The mailbox (double-encoded).
    #[serde(with = "json_string")]
    pub mailbox: EntityId,
    /// The Globus group id.
    #[serde(deserialize_with = "python::group_id")]
    pub group_id: String,
}

impl Request for ShareRequest {
    const REQUIRED: &'static [&'static str] = &["mailbox", "group_id"];
}

/// `PUT /message`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendRequest {
    /// The message (double-encoded).
    #[serde(with = "json_string::message")]
    pub message: Message,
}

impl Request for SendRequest {
    const REQUIRED: &'static [&'static str] = &["message"];
}

/// `GET /message`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecvRequest {
    /// The receiving mailbox (double-encoded).
    #[serde(with = "json_string")]
    pub mailbox: EntityId,
    /// Seconds to wait, `0 < timeout <= listen_timeout_s` (the server's
    /// maximum when absent).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "python::timeout"
    )]
    pub timeout: Option<f64>,
    /// The id of the last message this receiver processed (`0`: none);
    /// absent (or `null`): everything handed out before counts as delivered.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "python::last_id"
    )]
    pub last_id: Option<u64>,
}

impl Request for RecvRequest {
    const REQUIRED: &'static [&'static str] = &["mailbox"];
}

/// `GET /mailbox/listen` (the acknowledgement travels in headers,
/// [`super::header`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListenRequest {
    /// The receiving mailbox (double-encoded).
    #[serde(with = "json_string")]
    pub mailbox: EntityId,
    /// The stream's idle timeout in seconds, as [`RecvRequest::timeout`].
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "python::timeout"
    )]
    pub timeout: Option<f64>,
}

impl Request for ListenRequest {
    const REQUIRED: &'static [&'static str] = &["mailbox"];
}

/// A `timeout` outside `(0, listen_timeout_s]`: 400 with
/// [`super::status::invalid_timeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Invalid timeout (must be less than {max_s} and greater than 0)")]
pub struct TimeoutOutOfRange {
    /// The server's `listen_timeout_s`.
    pub max_s: u64,
}

fn wait(timeout: Option<f64>, max_s: u64) -> Result<Duration, TimeoutOutOfRange> {
    let seconds = timeout.unwrap_or(max_s as f64);
    // Equal to the maximum is accepted, as in academy-py.
    if seconds > 0.0 && seconds <= max_s as f64 {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err(TimeoutOutOfRange { max_s })
    }
}

impl RecvRequest {
    /// The wait this request asks for, given the server's maximum.
    pub fn wait(&self, max_s: u64) -> Result<Duration, TimeoutOutOfRange> {
        wait(self.timeout, max_s)
    }
}

impl ListenRequest {
    /// The idle timeout this request asks for, given the server's maximum.
    ///
    /// ```
    /// use academy_exchange::wire::ListenRequest;
    /// use academy_exchange::{EntityId, UserId};
    /// let r = ListenRequest { mailbox: EntityId::from(UserId::new(None)), timeout: Some(0.0) };
    /// assert!(r.wait(60).is_err());
    /// ```
    pub fn wait(&self, max_s: u64) -> Result<Duration, TimeoutOutOfRange> {
        wait(self.timeout, max_s)
    }
}

/// `GET /discover`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoverRequest {
    /// The fully qualified class name looked for (`module.Class`).
    #[serde(deserialize_with = "python::agent")]
    pub agent: String,
    /// Whether agents deriving from it match too (read for truthiness).
    #[serde(deserialize_with = "python::truthy")]
    pub allow_subclasses: bool,
}

impl Request for DiscoverRequest {
    const REQUIRED: &'static [&'static str] = &["agent", "allow_subclasses"];
}

/// Answer of `GET /mailbox`. The server never answers `INACTIVE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusAnswer {
    /// The status.
    pub status: MailboxStatus,
}

/// Answer of `GET /mailbox/share`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharesAnswer {
    /// The group ids, in no particular order.
    pub group_ids: Vec<String>,
}

/// Answer of `GET /message`: the message's JSON (double-encoded, kept as
/// text so the server hands out what it stored without re-encoding) and,
/// from servers with acknowledged delivery, its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageAnswer {
    /// The message's JSON.
    pub message: String,
    /// The delivery id (absent from academy-py's server; a value that is
    /// not a non-negative integer counts as absent: ids only ever enable
    /// acknowledgement, they are never required).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "python::lenient_id"
    )]
    pub id: Option<u64>,
}

impl MessageAnswer {
    /// Parses [`Self::message`].
    pub fn parse(&self) -> Result<Message, crate::ExchangeError> {
        Message::from_json(&self.message)
    }
}

/// Answer of `GET /discover`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoverAnswer {
    /// The matching agents.
    pub agent_ids: AgentIds,
}

/// Agent UUIDs on the wire as **one string**, joined by `,` (`""` when
/// empty), as academy-py's server writes them.
///
/// ```
/// use academy_exchange::wire::AgentIds;
/// let ids: AgentIds = serde_json::from_str("\"\"").unwrap();
/// assert!(ids.0.is_empty());
/// let u = uuid::Uuid::nil();
/// assert_eq!(serde_json::to_string(&AgentIds(vec![u, u])).unwrap(),
///     format!("\"{u},{u}\""));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentIds(pub Vec<Uuid>);

impl Serialize for AgentIds {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut joined = String::with_capacity(self.0.len() * 37);
        for (i, id) in self.0.iter().enumerate() {
            if i > 0 {
                joined.push(',');
            }
            joined.push_str(&id.to_string());
        }
        serializer.serialize_str(&joined)
    }
}

impl<'de> Deserialize<'de> for AgentIds {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| parse_uuid(s).map_err(serde::de::Error::custom))
            .collect::<Result<Vec<_>, _>>()
            .map(AgentIds)
    }
}

/// Answer of `GET /mailbox/heartbeat`: seconds since the last heartbeat,
/// `None` when there never was one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatAnswer {
    /// The age in seconds.
    pub heartbeat: Option<f64>,
}

/// `#[serde(with = "json_string")]`: an identifier written as a JSON
/// string that holds its JSON (academy-py's double encoding).
pub mod json_string {
    use serde::{Deserializer, Serializer};

    use crate::{EntityId, Message};

    /// Writes the identifier's JSON as a string.
    pub fn serialize<S: Serializer>(id: &EntityId, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&id.to_json())
    }

    /// Reads an identifier from a string holding its JSON.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<EntityId, D::Error> {
        let text = super::python::string(deserializer, "mailbox")?;
        text.parse::<EntityId>()
            .map_err(|e| serde::de::Error::custom(format!("'mailbox': {e}")))
    }

    /// `#[serde(with = "json_string::message")]`: the same for a message.
    pub mod message {
        use super::*;

        /// Writes the message's JSON as a string.
        pub fn serialize<S: Serializer>(m: &Message, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_str(&m.to_json())
        }

        /// Reads a message from a string holding its JSON.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Message, D::Error> {
            let text = super::super::python::string(deserializer, "message")?;
            Message::from_json(&text)
                .map_err(|e| serde::de::Error::custom(format!("'message': {e}")))
        }
    }
}
