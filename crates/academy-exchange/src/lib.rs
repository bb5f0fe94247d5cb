//! # academy-exchange
//!
//! The exchange layer of [Academy](https://pypi.org/project/academy-py/) in Rust:
//! entity identifiers, wire-exact messages, the transport and factory traits,
//! user and agent exchange clients, an in-process exchange, and a conformance
//! suite that every backend runs. This crate has no HTTP dependency.
//!
//! Layering (`globus-exchange-client.md` §1): an [`ExchangeFactory`] mints
//! [`ExchangeTransport`]s (one per mailbox) and wraps them into a
//! [`UserExchangeClient`] or an [`AgentExchangeClient`]; a [`Handle`]
//! calls one remote agent through a client.

pub mod client;
pub mod config;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod error;
pub mod factory;
pub mod identifier;
pub mod local;
pub mod message;
pub mod status;
pub mod transport;
pub mod wire;

pub use client::{
    ActionError, ActionInvocation, AgentExchangeClient, AgentStopReason, Handle, RequestHandler,
    UserExchangeClient,
};
pub use config::ExchangeClientConfig;
pub use error::{BoxError, ExchangeError};
pub use factory::ExchangeFactory;
pub use identifier::{AgentId, EntityId, Role, UserId};
pub use local::{LocalAgentRegistration, LocalExchange, LocalExchangeFactory};
pub use message::{Body, Header, Message, MessageKind};
pub use status::{AgentStats, MailboxStatus};
pub use transport::{AgentRegistration, AgentType, ExchangeTransport, MessageStream};
