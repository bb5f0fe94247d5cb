//! # academy-exchange
//!
//! The exchange layer of [Academy](https://pypi.org/project/academy-py/) in Rust:
//! entity identifiers, wire-exact messages, the transport and factory traits,
//! user and agent exchange clients, an in-process exchange, and a conformance
//! suite that every backend runs. This crate has no HTTP dependency.

pub mod error;
pub mod identifier;
pub mod message;
pub mod status;

pub use error::{BoxError, ExchangeError};
pub use identifier::{AgentId, EntityId, Role, UserId};
pub use message::{Body, Header, Message, MessageKind};
pub use status::{AgentStats, MailboxStatus};
