//! [`AgentExchangeClient`] and the [`RequestHandler`] it serves requests
//! with (`academy/exchange/client.py::AgentExchangeClient`, the request
//! handling of `academy/runtime.py`, `messages.md` §4.9).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::pending::{PendingRequests, StopCause};
use super::{ClientCore, ListenEnd, delegate_client_methods, listen_loop, reply};
use crate::config::ExchangeClientConfig;
use crate::error::ExchangeError;
use crate::identifier::{AgentId, EntityId};
use crate::message::{
    ActionRequest, ActionResponse, Body, ErrorCode, Message, SerializationStrategy,
    encode_exception,
};
use crate::transport::ExchangeTransport;

/// One action call, as the agent sees it.
#[derive(Debug, Clone)]
pub struct ActionInvocation {
    /// The action (method) name.
    pub name: String,
    /// Positional arguments.
    pub args: Vec<Value>,
    /// Keyword arguments.
    pub kwargs: Map<String, Value>,
    /// Who asked.
    pub caller: EntityId,
    /// The request's tag.
    pub tag: Uuid,
}

/// Why an action failed; becomes a `user-error-response` whose exception
/// reads like Python's (`<Type>: <message>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    /// The agent has no such action (a Python `AttributeError`).
    UnknownAction(String),
    /// The action raised.
    Raised {
        /// Python-style exception type name, e.g. `ValueError`.
        type_name: String,
        /// The message.
        message: String,
    },
}

impl ActionError {
    /// An exception of type `type_name` with `message`.
    pub fn new(type_name: impl Into<String>, message: impl Into<String>) -> Self {
        ActionError::Raised {
            type_name: type_name.into(),
            message: message.into(),
        }
    }

    fn parts(&self, agent: &AgentId) -> (String, String) {
        match self {
            ActionError::UnknownAction(name) => (
                "AttributeError".into(),
                format!("{agent} does not have an action named \"{name}\"."),
            ),
            ActionError::Raised { type_name, message } => (type_name.clone(), message.clone()),
        }
    }
}

impl std::fmt::Display for ActionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ActionError::UnknownAction(n) => write!(f, "AttributeError: no action named {n:?}"),
            ActionError::Raised { type_name, message } => write!(f, "{type_name}: {message}"),
        }
    }
}

impl std::error::Error for ActionError {}

/// The agent behind an [`AgentExchangeClient`]: runs actions.
///
/// Pings, cancels and shutdowns are handled by the client.
///
/// ```
/// use academy_exchange::client::{ActionError, ActionInvocation, RequestHandler};
/// use serde_json::Value;
/// struct Adder;
/// #[async_trait::async_trait]
/// impl RequestHandler for Adder {
///     async fn action(&self, call: ActionInvocation) -> Result<Value, ActionError> {
///         match call.name.as_str() {
///             "add" => {
///                 let sum: i64 = call.args.iter().filter_map(Value::as_i64).sum();
///                 Ok(sum.into())
///             }
///             other => Err(ActionError::UnknownAction(other.into())),
///         }
///     }
/// }
/// ```
#[async_trait]
pub trait RequestHandler: Send + Sync + 'static {
    /// Runs one action. Dropping the future cancels the action.
    async fn action(&self, call: ActionInvocation) -> Result<Value, ActionError>;

    /// Whether a shutdown-request without `terminate` terminates the
    /// mailbox (academy-py `terminate_on_success`, default true).
    fn terminate_on_shutdown(&self) -> bool {
        true
    }

    /// Whether the mailbox is terminated when the listener fails
    /// (academy-py `terminate_on_error`, default true).
    fn terminate_on_error(&self) -> bool {
        true
    }
}

/// Why an agent client stopped serving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentStopReason {
    /// A shutdown-request arrived; `terminated` tells whether the mailbox
    /// was terminated as a consequence.
    Shutdown {
        /// Whether the mailbox was terminated.
        terminated: bool,
    },
    /// The mailbox was terminated (by anyone).
    MailboxTerminated,
    /// Receiving failed; the text is the error. The mailbox was terminated
    /// if the handler's `terminate_on_error` says so.
    ListenerError(String),
    /// [`AgentExchangeClient::close`] was called.
    Closed,
}

struct AgentState {
    agent_id: AgentId,
    handler: Arc<dyn RequestHandler>,
    running: Mutex<HashMap<Uuid, CancellationToken>>,
}

impl AgentState {
    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, CancellationToken>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An agent's connection to an exchange: serves requests with a
/// [`RequestHandler`] and can call other agents through [`Handle`]s.
///
/// Request handling (`messages.md` §4.9): actions run concurrently, each
/// answered with an action-response, a user-error-response or error code 3
/// when cancelled; pings get a success-response; a cancel-request cancels
/// the running action (success) or gets error code 2; a shutdown-request
/// gets a success-response, then the client stops: running actions are
/// cancelled and the mailbox is terminated if asked (or by default).
/// [`AgentExchangeClient::wait_stopped`] reports why it stopped.
///
/// ```
/// use std::sync::Arc;
/// use academy_exchange::client::{ActionError, ActionInvocation, RequestHandler};
/// use academy_exchange::{AgentStopReason, AgentType, ExchangeFactory, LocalExchangeFactory};
/// use serde_json::{Value, json};
///
/// struct Doubler;
/// #[async_trait::async_trait]
/// impl RequestHandler for Doubler {
///     async fn action(&self, call: ActionInvocation) -> Result<Value, ActionError> {
///         match (call.name.as_str(), call.args.first().and_then(Value::as_i64)) {
///             ("double", Some(n)) => Ok(json!(2 * n)),
///             ("double", None) => Err(ActionError::new("TypeError", "double() needs an int")),
///             (other, _) => Err(ActionError::UnknownAction(other.into())),
///         }
///     }
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let factory = LocalExchangeFactory::new();
/// let user = factory.create_user_client(Some("alice"), true).await.unwrap();
/// let reg = user.register_agent(&AgentType::new("demo.Doubler"), None).await.unwrap();
/// let agent = factory.create_agent_client(&*reg, Arc::new(Doubler)).await.unwrap();
///
/// let handle = user.get_handle(reg.agent_id().clone());
/// assert_eq!(handle.action("double", vec![json!(21)], Default::default()).await.unwrap(), json!(42));
/// handle.shutdown(None).await.unwrap();
/// assert_eq!(agent.wait_stopped().await, AgentStopReason::Shutdown { terminated: true });
/// agent.close().await.unwrap();
/// user.close().await.unwrap();
/// # });
/// ```
///
/// [`Handle`]: crate::client::Handle
#[derive(Clone)]
pub struct AgentExchangeClient {
    core: Arc<ClientCore>,
    state: Arc<AgentState>,
    stopped: watch::Receiver<Option<AgentStopReason>>,
}

impl std::fmt::Debug for AgentExchangeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AgentExchangeClient<{}>", self.state.agent_id)
    }
}

impl AgentExchangeClient {
    /// Wraps a transport bound to an agent mailbox and starts serving.
    /// Use `ExchangeFactory::create_agent_client`, which also checks that
    /// the mailbox exists. Needs a Tokio runtime.
    pub fn new(
        transport: Arc<dyn ExchangeTransport>,
        config: ExchangeClientConfig,
        handler: Arc<dyn RequestHandler>,
    ) -> Result<Self, ExchangeError> {
        super::require_runtime()?;
        let EntityId::Agent(agent_id) = transport.mailbox_id().clone() else {
            return Err(ExchangeError::InvalidMessage(format!(
                "an agent client needs an agent mailbox, not {}",
                transport.mailbox_id()
            )));
        };
        let core = Arc::new(ClientCore::new(transport, config));
        let state = Arc::new(AgentState {
            agent_id,
            handler,
            running: Mutex::new(HashMap::new()),
        });
        let (tx, rx) = watch::channel(None);
        let heartbeat = core.spawn_heartbeat();
        let listener = tokio::spawn(agent_listener(
            core.transport.clone(),
            core.pending.clone(),
            core.stop.clone(),
            state.clone(),
            tx,
        ));
        if let Ok(mut slot) = core.tasks.try_lock() {
            slot.extend([heartbeat, listener]);
        }
        Ok(AgentExchangeClient {
            core,
            state,
            stopped: rx,
        })
    }

    /// The agent's id.
    pub fn agent_id(&self) -> &AgentId {
        &self.state.agent_id
    }

    /// The agent's id as an [`EntityId`].
    pub fn client_id(&self) -> &EntityId {
        &self.core.id
    }

    delegate_client_methods!();

    /// Waits until the client stops serving and says why.
    pub async fn wait_stopped(&self) -> AgentStopReason {
        let mut rx = self.stopped.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(r) => r.clone().unwrap_or(AgentStopReason::Closed),
            Err(_) => AgentStopReason::Closed,
        }
    }

    /// Why the client stopped, if it has.
    pub fn stop_reason(&self) -> Option<AgentStopReason> {
        self.stopped.borrow().clone()
    }

    /// Stops serving (running actions are cancelled and answered with
    /// error code 3), stops the heartbeat and closes the transport. The
    /// mailbox is not terminated. Idempotent.
    pub async fn close(&self) -> Result<(), ExchangeError> {
        let mut closed = self.core.closed.lock().await;
        if *closed {
            return Ok(());
        }
        *closed = true;
        self.core.stop.cancel();
        self.core.join_tasks().await;
        self.core.pending.stop(StopCause::Closed);
        self.core.transport.close().await
    }
}

/// What the listener decided to do after a request.
enum Next {
    Continue,
    Shutdown(Option<bool>),
}

async fn agent_listener(
    transport: Arc<dyn ExchangeTransport>,
    pending: Arc<PendingRequests>,
    stop: CancellationToken,
    state: Arc<AgentState>,
    stopped: watch::Sender<Option<AgentStopReason>>,
) {
    let mut actions: JoinSet<()> = JoinSet::new();
    let mut shutdown: Option<Option<bool>> = None;
    let end = {
        let actions = &mut actions;
        let shutdown = &mut shutdown;
        let transport2 = transport.clone();
        let state2 = state.clone();
        listen_loop(
            transport.clone(),
            pending.clone(),
            stop.clone(),
            move |request| {
                // Reap finished actions so the set does not grow without bound.
                while actions.try_join_next().is_some() {}
                let next = handle_request(&transport2, &state2, actions, request);
                let keep_going = match next {
                    Next::Continue => true,
                    Next::Shutdown(t) => {
                        *shutdown = Some(t);
                        false
                    }
                };
                async move { keep_going }
            },
        )
        .await
    };
    let me = transport.mailbox_id().clone();
    let (reason, terminate) = match (end, shutdown) {
        (ListenEnd::Stopped, Some(override_terminate)) => {
            let t = override_terminate.unwrap_or_else(|| state.handler.terminate_on_shutdown());
            (AgentStopReason::Shutdown { terminated: t }, t)
        }
        (ListenEnd::Stopped, None) => (AgentStopReason::Closed, false),
        (ListenEnd::Terminated, _) => (AgentStopReason::MailboxTerminated, false),
        (ListenEnd::Failed(e), _) => {
            tracing::error!(agent = %me, error = %e, "agent listener failed; stopping the agent");
            (
                AgentStopReason::ListenerError(e.to_string()),
                state.handler.terminate_on_error(),
            )
        }
    };
    // Cancel running actions; each answers with error code 3.
    for token in state.running().values() {
        token.cancel();
    }
    while actions.join_next().await.is_some() {}
    if terminate && let Err(e) = transport.terminate(&me).await {
        tracing::error!(agent = %me, error = %e, "terminating the agent mailbox failed");
    }
    // Stop the heartbeat too: the agent no longer serves.
    stop.cancel();
    match &reason {
        AgentStopReason::MailboxTerminated => pending.stop(StopCause::Terminated(me.clone())),
        AgentStopReason::ListenerError(t) => pending.stop(StopCause::Listener(t.clone())),
        _ => pending.stop(StopCause::Closed),
    }
    tracing::info!(agent = %me, reason = ?reason, "agent client stopped");
    let _ = stopped.send(Some(reason));
}

fn handle_request(
    transport: &Arc<dyn ExchangeTransport>,
    state: &Arc<AgentState>,
    actions: &mut JoinSet<()>,
    request: Message,
) -> Next {
    let body = match request.body() {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(agent = %state.agent_id, src = %request.src(), error = %e, "invalid request body");
            let t = transport.clone();
            let exception = encode_exception("ValueError", &format!("invalid request: {e}"));
            actions.spawn(async move {
                reply(
                    &*t,
                    &request,
                    Body::UserErrorResponse {
                        serialization: SerializationStrategy::Json,
                        exception,
                    },
                )
                .await;
            });
            return Next::Continue;
        }
    };
    match body {
        Body::ActionRequest(action) => {
            let token = CancellationToken::new();
            state.running().insert(request.tag(), token.clone());
            actions.spawn(run_action(
                transport.clone(),
                state.clone(),
                request,
                action,
                token,
            ));
            Next::Continue
        }
        Body::PingRequest => {
            let t = transport.clone();
            actions.spawn(async move { reply(&*t, &request, Body::SuccessResponse).await });
            Next::Continue
        }
        Body::CancelRequest { target_tag } => {
            let found = state.running().remove(&target_tag);
            let body = match found {
                Some(token) => {
                    token.cancel();
                    Body::SuccessResponse
                }
                None => Body::AcademyErrorResponse {
                    error_code: ErrorCode::ActionInvalidState,
                    mailbox_id: None,
                },
            };
            let t = transport.clone();
            actions.spawn(async move { reply(&*t, &request, body).await });
            Next::Continue
        }
        Body::ShutdownRequest { terminate } => {
            // Answered before stopping, as the runtime does, so that the
            // answer precedes a possible termination of the mailbox.
            let t = transport.clone();
            actions.spawn(async move { reply(&*t, &request, Body::SuccessResponse).await });
            Next::Shutdown(terminate)
        }
        other => {
            tracing::warn!(
                kind = other.kind(),
                "request header with a response body ignored"
            );
            Next::Continue
        }
    }
}

enum Outcome {
    Cancelled,
    Done(Result<Value, ActionError>),
}

async fn run_action(
    transport: Arc<dyn ExchangeTransport>,
    state: Arc<AgentState>,
    request: Message,
    action: ActionRequest,
    token: CancellationToken,
) {
    let args = action.args();
    let kwargs = action.kwargs();
    let outcome = match (args, kwargs) {
        (Ok(args), Ok(kwargs)) => {
            let call = ActionInvocation {
                name: action.action.clone(),
                args,
                kwargs,
                caller: request.src().clone(),
                tag: request.tag(),
            };
            let handler = state.handler.clone();
            tokio::select! {
                biased;
                _ = token.cancelled() => Outcome::Cancelled,
                r = handler.action(call) => Outcome::Done(r),
            }
        }
        (Err(e), _) | (_, Err(e)) => Outcome::Done(Err(ActionError::new(
            "TypeError",
            format!("cannot decode the arguments of {:?}: {e}", action.action),
        ))),
    };
    state.running().remove(&request.tag());
    let body = match outcome {
        Outcome::Cancelled => Body::AcademyErrorResponse {
            error_code: ErrorCode::ActionCancelled,
            mailbox_id: None,
        },
        Outcome::Done(Ok(value)) => match action.result_strategy() {
            SerializationStrategy::Json => Body::ActionResponse(ActionResponse::json(&value)),
            // academy-py would never answer; we report the failure instead.
            SerializationStrategy::Pickle => user_error(
                &action,
                "SerializationError",
                "the result cannot be encoded with the pickle strategy by a Rust agent; request json",
            ),
        },
        Outcome::Done(Err(e)) => {
            let (type_name, message) = e.parts(&state.agent_id);
            user_error(&action, &type_name, &message)
        }
    };
    reply(&*transport, &request, body).await;
}

/// A user-error-response in the requested exception strategy; json when
/// pickle was requested, since Rust cannot pickle (the field says so).
fn user_error(action: &ActionRequest, type_name: &str, message: &str) -> Body {
    if action.exception_strategy() == SerializationStrategy::Pickle {
        tracing::debug!("pickle exception strategy requested; answering with json");
    }
    Body::UserErrorResponse {
        serialization: SerializationStrategy::Json,
        exception: encode_exception(type_name, message),
    }
}
