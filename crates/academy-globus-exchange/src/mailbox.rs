//! The exchange calls shared by the Globus and the plain HTTP transports
//! (`globus-exchange-client.md` §5.1, §5.4, §7.2), over one
//! [`AcademyGlobusClient`] (one pooled HTTP client) and with the error
//! mapping of [`crate::error_map`] applied.

use std::time::Duration;

use academy_exchange::{
    AgentId, AgentStats, AgentType, EntityId, ExchangeError, Message, MessageStream,
};
use academy_globus_client::AcademyGlobusClient;

use crate::error_map::map_error;
use crate::receive::{ReceivePolicy, Receiver};

/// A client of the exchange bound to one mailbox.
#[derive(Clone, Debug)]
pub(crate) struct MailboxClient {
    client: AcademyGlobusClient,
    mailbox_id: EntityId,
    receiver: Receiver,
}

impl MailboxClient {
    pub(crate) fn new(
        client: AcademyGlobusClient,
        mailbox_id: EntityId,
        request_timeout: Duration,
        policy: ReceivePolicy,
    ) -> Self {
        let receiver = Receiver::new(client.clone(), mailbox_id.clone(), request_timeout, policy);
        MailboxClient {
            client,
            mailbox_id,
            receiver,
        }
    }

    pub(crate) fn mailbox_id(&self) -> &EntityId {
        &self.mailbox_id
    }

    /// `POST /mailbox` for a new user mailbox.
    pub(crate) async fn register_user(
        client: &AcademyGlobusClient,
        id: &EntityId,
    ) -> Result<(), ExchangeError> {
        client
            .register_client(id)
            .await
            .map_err(|e| map_error(e, Some(id)))
    }

    /// `POST /mailbox` for a new agent mailbox with its MRO.
    pub(crate) async fn register_agent_mailbox(
        &self,
        id: &AgentId,
        agent: &AgentType,
    ) -> Result<(), ExchangeError> {
        self.client
            .register_agent(id, agent.mro())
            .await
            .map_err(|e| map_error(e, Some(&EntityId::from(id.clone()))))
    }

    pub(crate) async fn discover(
        &self,
        agent: &str,
        allow_subclasses: bool,
    ) -> Result<Vec<AgentId>, ExchangeError> {
        self.client
            .discover(agent, allow_subclasses)
            .await
            .map_err(|e| map_error(e, None))
    }

    pub(crate) async fn send(&self, message: &Message) -> Result<(), ExchangeError> {
        self.client
            .send(message)
            .await
            .map_err(|e| map_error(e, Some(message.dest())))
    }

    /// A no-op for unknown or already terminated mailboxes.
    pub(crate) async fn terminate(&self, uid: &EntityId) -> Result<(), ExchangeError> {
        match self.client.terminate(uid).await {
            Ok(()) => Ok(()),
            Err(e) if matches!(e.http_status(), Some(404 | 419)) => Ok(()),
            Err(e) => Err(map_error(e, Some(uid))),
        }
    }

    pub(crate) async fn heartbeat_status(
        &self,
        uid: &EntityId,
    ) -> Result<Option<f64>, ExchangeError> {
        self.client
            .get_heartbeat(uid)
            .await
            .map_err(|e| map_error(e, Some(uid)))
    }

    pub(crate) async fn update_heartbeat(&self) -> Result<(), ExchangeError> {
        self.client
            .update_heartbeat(&self.mailbox_id)
            .await
            .map_err(|e| map_error(e, Some(&self.mailbox_id)))
    }

    pub(crate) async fn agent_stats(&self, uid: &EntityId) -> Result<AgentStats, ExchangeError> {
        self.client
            .get_agent_stats(uid)
            .await
            .map_err(|e| map_error(e, Some(uid)))
    }

    pub(crate) async fn recv(&self, timeout: Option<Duration>) -> Result<Message, ExchangeError> {
        self.receiver.recv(timeout).await
    }

    pub(crate) fn listen(&self, timeout: Option<Duration>) -> MessageStream {
        self.receiver.listen(timeout)
    }
}
