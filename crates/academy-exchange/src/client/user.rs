//! [`UserExchangeClient`] (`academy/exchange/client.py::UserExchangeClient`).

use std::sync::Arc;

use super::pending::StopCause;
use super::{ClientCore, ListenEnd, delegate_client_methods, listen_loop, reply};
use crate::config::ExchangeClientConfig;
use crate::error::ExchangeError;
use crate::identifier::{EntityId, UserId};
use crate::message::{Body, ErrorCode, Message};
use crate::transport::ExchangeTransport;

/// A user's connection to an exchange: sends requests through [`Handle`]s
/// (or [`UserExchangeClient::request`]) and receives their responses in a
/// background listener. Requests addressed to a user are answered with
/// error code 4 (`INVALID_CLIENT`).
///
/// Cheap to clone. [`UserExchangeClient::close`] stops the listener and
/// the heartbeat, fails waiting calls with [`ExchangeError::Closed`],
/// terminates the user's mailbox and closes the transport.
///
/// ```
/// use academy_exchange::{ExchangeFactory, LocalExchangeFactory, AgentType};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let factory = LocalExchangeFactory::new();
/// let user = factory.create_user_client(None, true).await.unwrap();
/// let reg = user.register_agent(&AgentType::new("demo.Echo"), Some("echo")).await.unwrap();
/// assert_eq!(user.discover("demo.Echo", false).await.unwrap(), vec![reg.agent_id().clone()]);
/// user.close().await.unwrap();
/// # });
/// ```
///
/// [`Handle`]: crate::client::Handle
#[derive(Clone)]
pub struct UserExchangeClient {
    core: Arc<ClientCore>,
    user_id: UserId,
}

impl std::fmt::Debug for UserExchangeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UserExchangeClient<{}>", self.user_id)
    }
}

impl UserExchangeClient {
    /// Wraps a transport bound to a user mailbox. Starts the heartbeat
    /// and, if `start_listener`, the listener. Needs a Tokio runtime.
    pub fn new(
        transport: Arc<dyn ExchangeTransport>,
        config: ExchangeClientConfig,
        start_listener: bool,
    ) -> Result<Self, ExchangeError> {
        super::require_runtime()?;
        let EntityId::User(user_id) = transport.mailbox_id().clone() else {
            return Err(ExchangeError::InvalidMessage(format!(
                "a user client needs a user mailbox, not {}",
                transport.mailbox_id()
            )));
        };
        let core = Arc::new(ClientCore::new(transport, config));
        let mut tasks = vec![core.spawn_heartbeat()];
        if start_listener {
            tasks.push(tokio::spawn(user_listener(
                core.transport.clone(),
                core.pending.clone(),
                core.stop.clone(),
            )));
        }
        if let Ok(mut slot) = core.tasks.try_lock() {
            slot.extend(tasks);
        }
        Ok(UserExchangeClient { core, user_id })
    }

    /// The user's id.
    pub fn user_id(&self) -> &UserId {
        &self.user_id
    }

    /// The user's id as an [`EntityId`].
    pub fn client_id(&self) -> &EntityId {
        &self.core.id
    }

    /// Sends a request (no label) and waits for the matching response.
    /// The response body is returned undecoded; see [`crate::client::response_result`].
    pub async fn request(&self, dest: &EntityId, body: Body) -> Result<Message, ExchangeError> {
        if !body.is_request() {
            return Err(ExchangeError::InvalidMessage(format!(
                "{} is not a request body",
                body.kind()
            )));
        }
        self.core.request(dest.clone(), body, None, false).await
    }

    delegate_client_methods!();

    /// Stops the listener and heartbeat, fails pending calls with
    /// [`ExchangeError::Closed`], terminates the user's mailbox and closes
    /// the transport. Idempotent; concurrent calls wait for the first.
    pub async fn close(&self) -> Result<(), ExchangeError> {
        let mut closed = self.core.closed.lock().await;
        if *closed {
            return Ok(());
        }
        *closed = true;
        self.core.stop.cancel();
        self.core.join_tasks().await;
        self.core.pending.stop(StopCause::Closed);
        let terminated = self.core.transport.terminate(&self.core.id).await;
        if let Err(e) = &terminated {
            tracing::warn!(user = %self.core.id, error = %e, "terminating the user mailbox failed");
        } else {
            tracing::info!(user = %self.core.id, "terminated user mailbox");
        }
        let closed_transport = self.core.transport.close().await;
        terminated.and(closed_transport)
    }
}

async fn user_listener(
    transport: Arc<dyn ExchangeTransport>,
    pending: Arc<super::pending::PendingRequests>,
    stop: tokio_util::sync::CancellationToken,
) {
    let me = transport.mailbox_id().clone();
    let t = transport.clone();
    let end = listen_loop(transport, pending.clone(), stop, |request| {
        let t = t.clone();
        let me = me.clone();
        async move {
            tracing::warn!(user = %me, src = %request.src(), "user client received a request");
            reply(
                &*t,
                &request,
                Body::AcademyErrorResponse {
                    error_code: ErrorCode::InvalidClient,
                    mailbox_id: Some(me),
                },
            )
            .await;
            true
        }
    })
    .await;
    match end {
        ListenEnd::Stopped => {}
        ListenEnd::Terminated => {
            tracing::info!(user = %t.mailbox_id(), "user mailbox terminated; listener stopped");
            pending.stop(StopCause::Terminated(t.mailbox_id().clone()));
        }
        ListenEnd::Failed(e) => {
            tracing::error!(user = %t.mailbox_id(), error = %e, "user listener failed");
            pending.stop(StopCause::Listener(e.to_string()));
        }
    }
}
