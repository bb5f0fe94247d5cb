//! The one error type of the exchange layer.

use std::time::Duration;

use crate::identifier::{EntityId, Role};
use crate::message::ErrorCode;

/// A boxed error from a lower layer (HTTP client, Redis, I/O…).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors raised by transports, exchange clients and message decoding.
///
/// The variants mirror academy-py's exception types (`academy/exception.py`)
/// so that callers can match on them whatever the backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError {
    /// The mailbox is unknown to the exchange (HTTP 404).
    #[error("Unknown identifier {}.", .0.uid())]
    BadEntityId(EntityId),

    /// The mailbox was terminated (HTTP 419, error code 0).
    #[error("Mailbox for {} has been terminated.", .0.uid())]
    MailboxTerminated(EntityId),

    /// The caller may not use that mailbox (HTTP 403).
    #[error("forbidden: {0}")]
    Forbidden(String),

    /// The caller is not authenticated (HTTP 401), or its credentials cannot be renewed.
    #[error("unauthorized: {0}")]
    Unauthorized(String),

    /// The message is larger than the exchange accepts (HTTP 413).
    #[error("Message of size {size} bytes is larger than limit {limit}.")]
    MessageTooLarge {
        /// Size of the message in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },

    /// Nothing arrived within the allowed time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),

    /// The peer speaks an incompatible protocol version (error code 5).
    #[error("incompatible network protocol: remote {remote:?}, current {current}")]
    IncompatibleProtocol {
        /// The remote version, if known.
        remote: Option<String>,
        /// Our version.
        current: String,
    },

    /// A message or identifier failed validation.
    #[error("invalid message: {0}")]
    InvalidMessage(String),

    /// A value could not be encoded or decoded with a serialization strategy.
    #[error("serialization error: {0}")]
    Serialization(String),

    /// A response carried an academy error code other than "terminated".
    #[error("remote error {code:?} from {mailbox:?}")]
    ErrorResponse {
        /// The error code.
        code: ErrorCode,
        /// The mailbox the error refers to.
        mailbox: Option<EntityId>,
    },

    /// The action raised an exception in the agent (`user-error-response`).
    #[error("remote action failed: {0}")]
    RemoteAction(String),

    /// The agent is inactive and the handle rejects actions on inactive agents.
    #[error(
        "Agent {0} is inactive; handle is configured to reject actions when agent is inactive."
    )]
    AgentInactive(EntityId),

    /// The client was closed while the operation was pending.
    #[error("exchange client closed")]
    Closed,

    /// The transport failed (connection, protocol, server error).
    #[error("transport error: {message}")]
    Transport {
        /// What was being done.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
}

impl ExchangeError {
    /// A transport error wrapping `source`.
    pub fn transport(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        ExchangeError::Transport {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A transport error without an underlying cause.
    pub fn transport_msg(message: impl Into<String>) -> Self {
        ExchangeError::Transport {
            message: message.into(),
            source: None,
        }
    }

    /// True when this is a mailbox-terminated error for an agent.
    pub fn is_agent_terminated(&self) -> bool {
        matches!(self, ExchangeError::MailboxTerminated(id) if id.role() == Role::Agent)
    }

    /// True when this is a mailbox-terminated error for a user.
    pub fn is_user_terminated(&self) -> bool {
        matches!(self, ExchangeError::MailboxTerminated(id) if id.role() == Role::User)
    }
}
