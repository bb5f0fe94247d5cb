//! Exchange factories (`academy/exchange/factory.py`, `globus-exchange-client.md` §6.1):
//! the shippable recipe for connecting to one exchange, which mints
//! transports and wraps them into user and agent clients.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::client::{AgentExchangeClient, RequestHandler, UserExchangeClient};
use crate::config::ExchangeClientConfig;
use crate::error::ExchangeError;
use crate::identifier::EntityId;
use crate::transport::{AgentRegistration, ExchangeTransport};

/// Creates transports and clients for one exchange.
///
/// Implementers provide the four required methods; the client
/// constructors are provided and should not be overridden. Factories that
/// can be used from another process implement `Serialize`/`Deserialize`
/// and return their JSON from [`ExchangeFactory::to_json`].
///
/// ```
/// use academy_exchange::{ExchangeFactory, LocalExchangeFactory};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let factory = LocalExchangeFactory::new();
/// let user = factory.create_user_client(Some("alice"), true).await.unwrap();
/// assert_eq!(user.user_id().name(), Some("alice"));
/// user.close().await.unwrap();
/// # });
/// ```
#[async_trait]
pub trait ExchangeFactory: Send + Sync + fmt::Debug {
    /// The exchange kind (`"local"`, `"http"`, `"globus"`, …), equal to the
    /// `exchange_type` of the registrations this factory accepts.
    fn exchange_type(&self) -> &str;

    /// The configuration handed to the clients this factory creates.
    fn config(&self) -> ExchangeClientConfig;

    /// JSON that recreates this factory in another process. Factories that
    /// cannot leave their process (the local exchange) return an error.
    fn to_json(&self) -> Result<String, ExchangeError>;

    /// Reads a registration produced by [`AgentRegistration::to_json`] for this exchange.
    fn registration_from_json(
        &self,
        json: &str,
    ) -> Result<Box<dyn AgentRegistration>, ExchangeError>;

    /// Registers a new user mailbox (`UserId` named `name`) and returns a
    /// transport bound to it.
    async fn create_user_transport(
        &self,
        name: Option<&str>,
    ) -> Result<Arc<dyn ExchangeTransport>, ExchangeError>;

    /// A transport bound to an already registered agent's mailbox. It does
    /// not check that the mailbox exists (the client constructor does).
    async fn create_agent_transport(
        &self,
        registration: &dyn AgentRegistration,
    ) -> Result<Arc<dyn ExchangeTransport>, ExchangeError>;

    /// A new user (mailbox + client). With `start_listener` false, the
    /// client does not receive (responses will never arrive).
    async fn create_user_client(
        &self,
        name: Option<&str>,
        start_listener: bool,
    ) -> Result<UserExchangeClient, ExchangeError> {
        let transport = self.create_user_transport(name).await?;
        UserExchangeClient::new(transport, self.config(), start_listener)
    }

    /// The client of a registered agent, serving requests with `handler`.
    ///
    /// Checks the mailbox with `heartbeat_status` as academy-py 1.0.0 does:
    /// unknown → `BadEntityId`, terminated → `MailboxTerminated`; in both
    /// cases (and any other error) the transport is closed first (academy-py
    /// leaks it on 419, `globus-exchange-client.md` §9.15).
    async fn create_agent_client(
        &self,
        registration: &dyn AgentRegistration,
        handler: Arc<dyn RequestHandler>,
    ) -> Result<AgentExchangeClient, ExchangeError> {
        let transport = self.create_agent_transport(registration).await?;
        let agent_id = EntityId::from(registration.agent_id().clone());
        if transport.mailbox_id() != &agent_id {
            let _ = transport.close().await;
            return Err(ExchangeError::InvalidMessage(format!(
                "transport bound to {} instead of {agent_id}",
                transport.mailbox_id()
            )));
        }
        if let Err(e) = transport.heartbeat_status(&agent_id).await {
            if let Err(ce) = transport.close().await {
                tracing::warn!(error = %ce, "closing the transport after a failed check");
            }
            return Err(e);
        }
        AgentExchangeClient::new(transport, self.config(), handler)
    }
}
