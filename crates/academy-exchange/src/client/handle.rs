//! [`Handle`]: calls to one remote agent through a client (`academy/handle.py`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use uuid::Uuid;

use super::ClientCore;
use crate::error::ExchangeError;
use crate::identifier::{AgentId, EntityId};
use crate::message::{
    ActionRequest, Body, ErrorCode, Message, PROTOCOL_VERSION, SerializationStrategy,
    exception_text,
};
use crate::status::{AgentStats, MailboxStatus};

/// Calls actions of one remote agent. Each handle has its own label, so
/// several handles (even to the same agent) share one client's mailbox.
///
/// Cheap to clone; clones share the label. Dropping an `action` future
/// before it completes sends a cancel-request for it, as academy-py does.
///
/// ```no_run
/// # async fn demo(user: academy_exchange::UserExchangeClient, agent: academy_exchange::AgentId)
/// # -> Result<(), academy_exchange::ExchangeError> {
/// use serde_json::json;
/// let handle = user.get_handle(agent);
/// let sum = handle
///     .action("add", vec![json!(1), json!(2)], json!({"scale": 10}).as_object().cloned().unwrap_or_default())
///     .await?;
/// println!("{sum}");
/// handle.shutdown(None).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Handle {
    inner: Arc<HandleInner>,
}

struct HandleInner {
    core: Arc<ClientCore>,
    agent_id: AgentId,
    label: Uuid,
}

impl Drop for HandleInner {
    fn drop(&mut self) {
        self.core.pending.unregister_label(self.label);
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Handle<{}; {}>", self.inner.agent_id, self.inner.label)
    }
}

impl Handle {
    pub(crate) fn new(core: Arc<ClientCore>, agent_id: AgentId) -> Self {
        let label = Uuid::new_v4();
        core.pending.register_label(label);
        Handle {
            inner: Arc::new(HandleInner {
                core,
                agent_id,
                label,
            }),
        }
    }

    /// The remote agent.
    pub fn agent_id(&self) -> &AgentId {
        &self.inner.agent_id
    }

    /// This handle's label (the `label` of every request it sends).
    pub fn label(&self) -> Uuid {
        self.inner.label
    }

    fn dest(&self) -> EntityId {
        EntityId::from(self.inner.agent_id.clone())
    }

    /// Invokes `name(*args, **kwargs)` on the agent with the `json`
    /// strategy and returns the decoded result.
    ///
    /// Errors: the action raised → [`ExchangeError::RemoteAction`] (text of
    /// the remote exception); agent terminated → `MailboxTerminated`;
    /// cancelled remotely → `ErrorResponse { code: ActionCancelled, .. }`.
    pub async fn action(
        &self,
        name: &str,
        args: Vec<Value>,
        kwargs: Map<String, Value>,
    ) -> Result<Value, ExchangeError> {
        let body = Body::ActionRequest(ActionRequest::json(name, &args, &Value::Object(kwargs)));
        let response = self
            .inner
            .core
            .request(self.dest(), body, Some(self.inner.label), true)
            .await?;
        response_result(&response)
    }

    /// Pings the agent; returns the round-trip time.
    pub async fn ping(&self) -> Result<Duration, ExchangeError> {
        let start = Instant::now();
        let response = self
            .inner
            .core
            .request(
                self.dest(),
                Body::PingRequest,
                Some(self.inner.label),
                false,
            )
            .await?;
        response_result(&response)?;
        Ok(start.elapsed())
    }

    /// Pings with a time limit ([`ExchangeError::Timeout`] when it elapses).
    pub async fn ping_timeout(&self, timeout: Duration) -> Result<Duration, ExchangeError> {
        tokio::time::timeout(timeout, self.ping())
            .await
            .map_err(|_| ExchangeError::Timeout(timeout))?
    }

    /// Asks the agent to shut down; `terminate` overrides whether it
    /// terminates its mailbox. Does not wait for the answer (academy-py).
    pub async fn shutdown(&self, terminate: Option<bool>) -> Result<(), ExchangeError> {
        let core = &self.inner.core;
        let message = Message::request(
            core.id.clone(),
            self.dest(),
            Body::ShutdownRequest { terminate },
            Some(self.inner.label),
        );
        // Nobody awaits the answer; registering it keeps it from being
        // reported as unexpected.
        let _ = core.pending.register(Some(self.inner.label), message.tag());
        if let Err(e) = core.transport.send(&message).await {
            core.pending.forget(Some(self.inner.label), message.tag());
            return Err(e);
        }
        Ok(())
    }

    /// The agent's request statistics.
    pub async fn agent_stats(&self) -> Result<AgentStats, ExchangeError> {
        self.inner.core.transport.agent_stats(&self.dest()).await
    }

    /// The agent's status as seen by this client (§6.2).
    pub async fn status(&self) -> Result<MailboxStatus, ExchangeError> {
        self.inner.core.status(&self.dest()).await
    }
}

/// The outcome a response carries: the decoded result of an
/// action-response, `Null` for a success-response, or the error the
/// requester should see (`messages.md` §4.6, §4.7).
pub fn response_result(response: &Message) -> Result<Value, ExchangeError> {
    match response.body()? {
        Body::ActionResponse(r) => r.value(),
        Body::SuccessResponse => Ok(Value::Null),
        Body::AcademyErrorResponse {
            error_code,
            mailbox_id,
        } => Err(match error_code {
            ErrorCode::MailboxTerminated => ExchangeError::MailboxTerminated(
                mailbox_id.unwrap_or_else(|| response.src().clone()),
            ),
            ErrorCode::IncompatibleProtocol => ExchangeError::IncompatibleProtocol {
                remote: None,
                current: PROTOCOL_VERSION.to_string(),
            },
            code => ExchangeError::ErrorResponse {
                code,
                mailbox: mailbox_id,
            },
        }),
        Body::UserErrorResponse {
            serialization,
            exception,
        } => Err(ExchangeError::RemoteAction(match serialization {
            SerializationStrategy::Json => match serialization.decode(&exception) {
                Ok(v) => exception_text(&v)
                    .map(|t| t.trim_end().to_string())
                    .unwrap_or_else(|| v.to_string()),
                Err(_) => exception,
            },
            SerializationStrategy::Pickle => {
                "the agent raised an exception encoded with pickle (not decodable in Rust)".into()
            }
        })),
        other => Err(ExchangeError::InvalidMessage(format!(
            "expected a response body, found {}",
            other.kind()
        ))),
    }
}
