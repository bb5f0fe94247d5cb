//! Exchange clients (`academy/exchange/client.py`, `globus-exchange-client.md` §6):
//! [`UserExchangeClient`], [`AgentExchangeClient`] and the per-agent
//! [`Handle`], on top of any [`ExchangeTransport`].
//!
//! Both clients heart-beat their own mailbox every
//! `ExchangeClientConfig::heartbeat_interval` and listen to it in a
//! background task that matches responses to waiting calls.

mod agent;
mod handle;
pub(crate) mod pending;
mod user;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::Mutex as AsyncMutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use agent::{
    ActionError, ActionInvocation, AgentExchangeClient, AgentStopReason, RequestHandler,
};
pub use handle::{Handle, response_result};
pub use user::UserExchangeClient;

use crate::config::ExchangeClientConfig;
use crate::error::ExchangeError;
use crate::identifier::EntityId;
use crate::message::{Body, ErrorCode, Message};
use crate::status::MailboxStatus;
use crate::transport::{AgentRegistration, AgentType, ExchangeTransport};
use pending::{Delivery, PendingRequests};

/// Clients spawn background tasks: refuse clearly outside a Tokio runtime.
pub(crate) fn require_runtime() -> Result<(), ExchangeError> {
    tokio::runtime::Handle::try_current()
        .map(|_| ())
        .map_err(|_| {
            ExchangeError::transport_msg("exchange clients must be created inside a Tokio runtime")
        })
}

/// State shared by a client, its background tasks and its handles.
pub(crate) struct ClientCore {
    pub(crate) transport: Arc<dyn ExchangeTransport>,
    pub(crate) id: EntityId,
    pub(crate) config: ExchangeClientConfig,
    pub(crate) pending: Arc<PendingRequests>,
    /// Cancelled on close (or drop): stops the heartbeat and the listener.
    pub(crate) stop: CancellationToken,
    pub(crate) tasks: AsyncMutex<Vec<JoinHandle<()>>>,
    pub(crate) closed: AsyncMutex<bool>,
}

impl Drop for ClientCore {
    fn drop(&mut self) {
        // Background tasks do not hold the core, so dropping the last
        // client/handle without close() still stops them.
        self.stop.cancel();
    }
}

impl ClientCore {
    pub(crate) fn new(transport: Arc<dyn ExchangeTransport>, config: ExchangeClientConfig) -> Self {
        let id = transport.mailbox_id().clone();
        ClientCore {
            transport,
            id,
            config,
            pending: Arc::new(PendingRequests::default()),
            stop: CancellationToken::new(),
            tasks: AsyncMutex::new(Vec::new()),
            closed: AsyncMutex::new(false),
        }
    }

    pub(crate) fn spawn_heartbeat(&self) -> JoinHandle<()> {
        tokio::spawn(heartbeat_loop(
            self.transport.clone(),
            self.config.heartbeat_interval,
            self.stop.clone(),
        ))
    }

    /// Sends a request and waits for its response. `label` is the sending
    /// handle; `cancel_on_drop` sends a cancel-request if the caller gives up.
    pub(crate) async fn request(
        &self,
        dest: EntityId,
        body: Body,
        label: Option<Uuid>,
        cancel_on_drop: bool,
    ) -> Result<Message, ExchangeError> {
        let tag = Uuid::new_v4();
        let rx = self.pending.register(label, tag)?;
        let message = Message::create(self.id.clone(), dest.clone(), body, label, tag);
        let mut guard = CancelGuard {
            armed: cancel_on_drop,
            transport: self.transport.clone(),
            pending: self.pending.clone(),
            src: self.id.clone(),
            dest,
            label,
            tag,
        };
        if let Err(e) = self.transport.send(&message).await {
            guard.armed = false;
            self.pending.forget(label, tag);
            return Err(e);
        }
        let answer = rx.await;
        guard.armed = false;
        match answer {
            Ok(result) => result,
            Err(_) => Err(self
                .pending
                .stopped()
                .map(|c| c.to_error())
                .unwrap_or(ExchangeError::Closed)),
        }
    }

    /// Status derived from the heartbeat age (`globus-exchange-client.md` §6.2).
    pub(crate) async fn status(&self, uid: &EntityId) -> Result<MailboxStatus, ExchangeError> {
        match self.transport.heartbeat_status(uid).await {
            Ok(age) => Ok(MailboxStatus::from_heartbeat_age(
                age,
                self.config.stale_after().as_secs_f64(),
            )),
            Err(ExchangeError::BadEntityId(_)) => Ok(MailboxStatus::Missing),
            Err(ExchangeError::MailboxTerminated(_)) => Ok(MailboxStatus::Terminated),
            Err(e) => Err(e),
        }
    }

    async fn join_tasks(&self) {
        let tasks = std::mem::take(&mut *self.tasks.lock().await);
        for t in tasks {
            if let Err(e) = t.await
                && e.is_panic()
            {
                tracing::error!(client = %self.id, "client background task panicked");
            }
        }
    }
}

/// Sends a cancel-request for an abandoned action (academy-py `Handle.action`).
struct CancelGuard {
    armed: bool,
    transport: Arc<dyn ExchangeTransport>,
    pending: Arc<PendingRequests>,
    src: EntityId,
    dest: EntityId,
    label: Option<Uuid>,
    tag: Uuid,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // The abandoned call stays registered (its receiver is gone), so
        // its late answer is matched and ignored, as in academy-py.
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(tag = %self.tag, "no runtime to send the cancel-request on");
            return;
        };
        let cancel = Message::request(
            self.src.clone(),
            self.dest.clone(),
            Body::CancelRequest {
                target_tag: self.tag,
            },
            self.label,
        );
        // Registered so that its answer is matched rather than reported as
        // unexpected; nobody waits for it.
        let _ = self.pending.register(self.label, cancel.tag());
        let transport = self.transport.clone();
        let pending = self.pending.clone();
        rt.spawn(async move {
            if let Err(e) = transport.send(&cancel).await {
                pending.forget(cancel.label(), cancel.tag());
                tracing::debug!(error = %e, "cancel-request not sent");
            }
        });
    }
}

/// Heart-beats until stopped or the mailbox is terminated. Errors are
/// logged and retried with a doubling delay capped at the interval
/// (academy-py's loop dies on the first error, §9.14).
async fn heartbeat_loop(
    transport: Arc<dyn ExchangeTransport>,
    interval: Duration,
    stop: CancellationToken,
) {
    // A zero interval would spin; keep a floor.
    let interval = interval.max(Duration::from_millis(10));
    let mut retry = Duration::from_millis(100).min(interval);
    loop {
        let wait = match transport.update_heartbeat().await {
            Ok(()) => {
                retry = Duration::from_millis(100).min(interval);
                interval
            }
            Err(ExchangeError::MailboxTerminated(_)) => return,
            Err(e) => {
                tracing::warn!(mailbox = %transport.mailbox_id(), error = %e, retry_in = ?retry, "heartbeat failed");
                let w = retry;
                retry = (retry * 2).min(interval);
                w
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// How the listener loop ended.
pub(crate) enum ListenEnd {
    Stopped,
    Terminated,
    Failed(ExchangeError),
}

/// Receives until stopped; responses go to `pending`, compatible requests
/// to `on_request`, incompatible ones get error code 5.
pub(crate) async fn listen_loop<F, Fut>(
    transport: Arc<dyn ExchangeTransport>,
    pending: Arc<PendingRequests>,
    stop: CancellationToken,
    mut on_request: F,
) -> ListenEnd
where
    F: FnMut(Message) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let me = transport.mailbox_id().clone();
    let mut stream = transport.listen(None);
    loop {
        let item = tokio::select! {
            _ = stop.cancelled() => return ListenEnd::Stopped,
            item = stream.next() => item,
        };
        let message = match item {
            None => return ListenEnd::Failed(ExchangeError::transport_msg("message stream ended")),
            Some(Err(ExchangeError::MailboxTerminated(_))) => return ListenEnd::Terminated,
            Some(Err(e)) => return ListenEnd::Failed(e),
            Some(Ok(m)) => m,
        };
        if message.is_response() {
            match pending.deliver(message.clone()) {
                Delivery::Matched => {}
                Delivery::UnknownLabel => tracing::warn!(
                    client = %me, src = %message.src(), label = ?message.label(),
                    "response for no known handle dropped"
                ),
                Delivery::UnknownTag => tracing::warn!(
                    client = %me, src = %message.src(), tag = %message.tag(),
                    "response to no pending request dropped"
                ),
            }
            continue;
        }
        if !crate::message::is_compatible_version(message.header.protocol_version.as_deref()) {
            tracing::warn!(client = %me, src = %message.src(), version = ?message.header.protocol_version, "request with incompatible protocol version");
            reply(
                &*transport,
                &message,
                Body::AcademyErrorResponse {
                    error_code: ErrorCode::IncompatibleProtocol,
                    mailbox_id: Some(me.clone()),
                },
            )
            .await;
            continue;
        }
        if !on_request(message).await {
            return ListenEnd::Stopped;
        }
    }
}

/// Sends the response to `request`; failures are logged (the requester may be gone).
pub(crate) async fn reply(transport: &dyn ExchangeTransport, request: &Message, body: Body) {
    let response = match request.create_response(body) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "cannot answer a response");
            return;
        }
    };
    match transport.send(&response).await {
        Ok(()) => {}
        Err(ExchangeError::MailboxTerminated(id)) => {
            tracing::warn!(dest = %id, "response not delivered: requester mailbox terminated")
        }
        Err(e) => tracing::error!(dest = %response.dest(), error = %e, "response not delivered"),
    }
}

/// Delegations shared by both clients.
macro_rules! delegate_client_methods {
    () => {
        /// The exchange transport this client uses.
        pub fn transport(&self) -> &std::sync::Arc<dyn crate::transport::ExchangeTransport> {
            &self.core.transport
        }

        /// The client configuration.
        pub fn config(&self) -> crate::config::ExchangeClientConfig {
            self.core.config
        }

        /// A handle to call `agent` through this client.
        pub fn get_handle(&self, agent: crate::identifier::AgentId) -> crate::client::Handle {
            crate::client::Handle::new(self.core.clone(), agent)
        }

        /// Active agents of type `agent` (fully-qualified name).
        pub async fn discover(
            &self,
            agent: &str,
            allow_subclasses: bool,
        ) -> Result<Vec<crate::identifier::AgentId>, crate::error::ExchangeError> {
            self.core.transport.discover(agent, allow_subclasses).await
        }

        /// Registers a new agent.
        pub async fn register_agent(
            &self,
            agent: &crate::transport::AgentType,
            name: Option<&str>,
        ) -> Result<Box<dyn crate::transport::AgentRegistration>, crate::error::ExchangeError> {
            let r = self.core.transport.register_agent(agent, name).await?;
            tracing::info!(agent = %r.agent_id(), "registered agent");
            Ok(r)
        }

        /// Registers several agents (batch when the transport supports it).
        pub async fn register_agents(
            &self,
            agents: &[(crate::transport::AgentType, Option<String>)],
        ) -> Result<Vec<Box<dyn crate::transport::AgentRegistration>>, crate::error::ExchangeError> {
            crate::client::register_agents(&*self.core.transport, agents).await
        }

        /// Sends a message as is.
        pub async fn send(&self, message: &crate::message::Message) -> Result<(), crate::error::ExchangeError> {
            self.core.transport.send(message).await
        }

        /// `MISSING`, `TERMINATED`, or `ACTIVE`/`INACTIVE` from the heartbeat
        /// age against this client's `stale_after()` (§6.2).
        pub async fn status(
            &self,
            uid: &crate::identifier::EntityId,
        ) -> Result<crate::status::MailboxStatus, crate::error::ExchangeError> {
            self.core.status(uid).await
        }

        /// Terminates a mailbox (no-op if unknown).
        pub async fn terminate(&self, uid: &crate::identifier::EntityId) -> Result<(), crate::error::ExchangeError> {
            self.core.transport.terminate(uid).await
        }

        /// Seconds since the mailbox's last heartbeat.
        pub async fn heartbeat_status(
            &self,
            uid: &crate::identifier::EntityId,
        ) -> Result<Option<f64>, crate::error::ExchangeError> {
            self.core.transport.heartbeat_status(uid).await
        }

        /// Records a heartbeat for this client's mailbox now.
        pub async fn update_heartbeat(&self) -> Result<(), crate::error::ExchangeError> {
            self.core.transport.update_heartbeat().await
        }

        /// Request statistics of a mailbox.
        pub async fn agent_stats(
            &self,
            uid: &crate::identifier::EntityId,
        ) -> Result<crate::status::AgentStats, crate::error::ExchangeError> {
            self.core.transport.agent_stats(uid).await
        }
    };
}
pub(crate) use delegate_client_methods;

pub(crate) async fn register_agents(
    transport: &dyn ExchangeTransport,
    agents: &[(AgentType, Option<String>)],
) -> Result<Vec<Box<dyn AgentRegistration>>, ExchangeError> {
    let regs = transport.register_agents(agents).await?;
    for r in &regs {
        tracing::info!(agent = %r.agent_id(), "registered agent");
    }
    Ok(regs)
}
