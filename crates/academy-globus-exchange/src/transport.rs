//! [`GlobusExchangeTransport`] (`globus-exchange-client.md` §5): the
//! exchange API with Globus Auth tokens renewed transparently, and agent
//! registration as Globus Auth clients.
//!
//! Native async: one [`AcademyGlobusClient`] (one pooled HTTP client) per
//! transport, no thread pool. Differences from academy-py, wire unchanged:
//! * an expired or revoked access token answered with 403 is renewed and
//!   the request sent again once (§9.5); a refresh token that is itself
//!   rejected surfaces as `Unauthorized` telling the user to log in again;
//! * receiving streams with reconnection (see [`crate::receive`] docs);
//! * a failed batch registration deletes the Globus clients and mailboxes
//!   it created;
//! * `close()` deletes the Globus clients only of agents that are
//!   terminated (or unknown to the exchange), leaving running agents able
//!   to renew their tokens, is idempotent, and goes on after a failure
//!   (§9.4).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use academy_exchange::{
    AgentId, AgentRegistration, AgentStats, AgentType, EntityId, ExchangeError, ExchangeTransport,
    Message, MessageStream, UserId,
};
use academy_globus_client::auth_client::{CreateClient, CreateScope};
use academy_globus_client::authorizer::Authorizer;
use academy_globus_client::config::{AUTH_RESOURCE_SERVER, MANAGE_PROJECTS_SCOPE};
use academy_globus_client::{
    AcademyGlobusClient, AuthClient, AuthClientConfig, ExchangeClientConfig, RetryPolicy, Secret,
};
use async_trait::async_trait;
use futures::future::join_all;
use url::Url;
use uuid::Uuid;

use crate::app::{AppAuthorizer, GlobusApp};
use crate::error_map::map_error;
use crate::mailbox::MailboxClient;
use crate::receive::ReceivePolicy;
use crate::registration::GlobusAgentRegistration;

/// Where a transport's exchange tokens come from.
#[derive(Debug, Clone)]
pub enum GlobusCredentials {
    /// A [`GlobusApp`] (user or headless launcher); can register agents.
    App(Arc<GlobusApp>),
    /// A ready authorizer (agent side); cannot register agents.
    Authorizer(Arc<dyn Authorizer>),
}

/// Endpoints and identifiers of a Globus exchange deployment.
#[derive(Debug, Clone)]
pub struct GlobusExchangeOptions {
    /// Exchange base URL.
    pub exchange_url: Url,
    /// Globus Auth settings (agent-side grants and client management).
    pub auth: AuthClientConfig,
    /// The exchange's client id, which is its resource server.
    pub exchange_client_id: String,
    /// The id (UUID) of the exchange scope, the dependency of agents' `launch` scopes.
    pub exchange_scope_id: String,
    /// Longest wait asked of the server per receive request.
    pub request_timeout: Duration,
    /// Retry policy of the exchange calls.
    pub retry: RetryPolicy,
    /// Reaction of receivers to transient failures.
    pub receive: ReceivePolicy,
}

impl GlobusExchangeOptions {
    /// The exchange scope string.
    pub fn exchange_scope(&self) -> String {
        academy_globus_client::config::exchange_scope(&self.exchange_client_id)
    }

    fn exchange_client(
        &self,
        authorizer: Arc<dyn Authorizer>,
    ) -> Result<AcademyGlobusClient, ExchangeError> {
        let mut config =
            ExchangeClientConfig::new(self.exchange_url.clone()).with_authorizer(authorizer);
        config.retry = self.retry.clone();
        AcademyGlobusClient::new(config).map_err(|e| map_error(e, None))
    }
}

#[derive(Debug, Clone)]
struct ChildAgent {
    agent_id: AgentId,
    client_id: String,
}

/// A transport to the Globus-authenticated exchange.
///
/// ```no_run
/// # async fn demo() -> Result<(), academy_exchange::ExchangeError> {
/// use std::sync::Arc;
/// use academy_exchange::{AgentType, ExchangeTransport};
/// use academy_globus_exchange::{GlobusApp, GlobusAppConfig, GlobusCredentials, GlobusExchangeFactory, GlobusExchangeTransport};
/// let factory = GlobusExchangeFactory::new("b0c1d2e3-f4a5-4b6c-8d7e-8f9a0b1c2d01", "https://exchange.academy-agents.org/v1".parse().unwrap());
/// let app = Arc::new(GlobusApp::client(GlobusAppConfig::from_env()?, "client-id", "secret".into())?);
/// let transport = GlobusExchangeTransport::new(
///     &factory.project_id, GlobusCredentials::App(app), None, Some("me"), factory.options()?).await?;
/// let registration = transport.register_agent(&AgentType::new("mypkg.Adder"), Some("adder")).await?;
/// # let _ = registration; Ok(()) }
/// ```
pub struct GlobusExchangeTransport {
    mailbox: MailboxClient,
    project_id: String,
    options: GlobusExchangeOptions,
    app: Option<Arc<GlobusApp>>,
    children: Mutex<Vec<ChildAgent>>,
    management: tokio::sync::OnceCell<AuthClient>,
}

impl std::fmt::Debug for GlobusExchangeTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobusExchangeTransport")
            .field("mailbox_id", self.mailbox.mailbox_id())
            .field("project_id", &self.project_id)
            .field("exchange_url", &self.options.exchange_url.as_str())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A Globus client prepared for one agent (phase 1).
struct Prepared {
    agent_id: AgentId,
    client_id: String,
    client_uuid: Uuid,
    secret: Secret,
    scope: String,
}

impl GlobusExchangeTransport {
    /// Connects to the exchange: binds to `mailbox_id`, or registers a new
    /// user mailbox named `name` when it is `None`.
    pub async fn new(
        project_id: &str,
        credentials: GlobusCredentials,
        mailbox_id: Option<EntityId>,
        name: Option<&str>,
        options: GlobusExchangeOptions,
    ) -> Result<Self, ExchangeError> {
        let (authorizer, app): (Arc<dyn Authorizer>, _) = match credentials {
            GlobusCredentials::App(app) => {
                app.add_scope_requirements(&options.exchange_client_id, [options.exchange_scope()]);
                // Logs in now if needed; requests then follow the app's
                // current authorizer, so a later login repairs this transport.
                app.authorizer(&options.exchange_client_id).await?;
                let a = AppAuthorizer::new(app.clone(), options.exchange_client_id.clone());
                (Arc::new(a), Some(app))
            }
            GlobusCredentials::Authorizer(a) => (a, None),
        };
        let client = options.exchange_client(authorizer)?;
        let mailbox_id = match mailbox_id {
            Some(id) => id,
            None => {
                let id = EntityId::from(UserId::new(name.map(str::to_string)));
                MailboxClient::register_user(&client, &id).await?;
                id
            }
        };
        Ok(GlobusExchangeTransport {
            mailbox: MailboxClient::new(
                client,
                mailbox_id,
                options.request_timeout,
                options.receive.clone(),
            ),
            project_id: project_id.to_string(),
            options,
            app,
            children: Mutex::new(Vec::new()),
            management: tokio::sync::OnceCell::new(),
        })
    }

    /// The ids of the Globus Auth clients created for agents and not yet
    /// deleted.
    pub fn child_clients(&self) -> Vec<String> {
        lock(&self.children)
            .iter()
            .map(|c| c.client_id.clone())
            .collect()
    }

    fn app(&self) -> Result<&Arc<GlobusApp>, ExchangeError> {
        self.app.as_ref().ok_or_else(|| {
            ExchangeError::Unauthorized(
                "this transport has no GlobusApp (agent side): it cannot register or clean up agents".into(),
            )
        })
    }

    /// The Auth API client with `manage_projects` (built once per transport).
    async fn management(&self) -> Result<AuthClient, ExchangeError> {
        let app = self.app()?;
        let client = self
            .management
            .get_or_try_init(|| async {
                app.add_scope_requirements(AUTH_RESOURCE_SERVER, [MANAGE_PROJECTS_SCOPE]);
                app.authorizer(AUTH_RESOURCE_SERVER).await?;
                let authorizer = Arc::new(AppAuthorizer::new(app.clone(), AUTH_RESOURCE_SERVER));
                AuthClient::service(authorizer, self.options.auth.clone())
                    .map_err(|e| map_error(e, None))
            })
            .await?;
        Ok(client.clone())
    }

    /// Phase 1: the agent's client (hybrid confidential client + resource
    /// server in the project), its credential and its `launch` scope.
    async fn prepare(
        &self,
        auth: &AuthClient,
        agent_id: AgentId,
    ) -> Result<Prepared, (Option<String>, ExchangeError)> {
        let client = auth
            .create_client(&CreateClient::agent(
                agent_id.to_string(),
                self.project_id.clone(),
            ))
            .await
            .map_err(|e| (None, map_error(e, None)))?;
        let client_id = client.id;
        let client_uuid = Uuid::parse_str(&client_id).map_err(|e| {
            (
                Some(client_id.clone()),
                ExchangeError::InvalidMessage(format!(
                    "Globus client id {client_id:?} is not a UUID: {e}"
                )),
            )
        })?;
        let fail = |e| (Some(client_id.clone()), map_error(e, None));
        let credential = auth
            .create_client_credential(&client_id, "Launch Credentials")
            .await
            .map_err(fail)?;
        let scope = auth
            .create_scope(
                &client_id,
                &CreateScope::agent_launch(self.options.exchange_scope_id.clone()),
            )
            .await
            .map_err(fail)?;
        Ok(Prepared {
            agent_id,
            client_id,
            client_uuid,
            secret: credential.secret,
            scope: scope.scope_string,
        })
    }

    async fn delete_clients(&self, auth: &AuthClient, ids: &[String]) {
        for id in ids {
            if let Err(e) = auth.delete_client(id).await {
                tracing::warn!(client_id = %id, error = %e, "could not delete the Globus client of a failed registration");
            }
            if let Some(app) = &self.app {
                app.forget(id);
            }
        }
    }

    async fn register_batch(
        &self,
        agents: &[(AgentType, Option<String>)],
    ) -> Result<Vec<GlobusAgentRegistration>, ExchangeError> {
        let app = self.app()?.clone();
        if agents.is_empty() {
            return Ok(Vec::new());
        }
        let auth = self.management().await?;
        let ids: Vec<AgentId> = agents
            .iter()
            .map(|(_, n)| AgentId::new(n.clone()))
            .collect();
        let results = join_all(ids.into_iter().map(|aid| self.prepare(&auth, aid))).await;
        let mut prepared = Vec::new();
        let mut created = Vec::new();
        let mut first_error = None;
        for r in results {
            match r {
                Ok(p) => {
                    created.push(p.client_id.clone());
                    prepared.push(p);
                }
                Err((client, e)) => {
                    created.extend(client);
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            self.delete_clients(&auth, &created).await;
            return Err(e);
        }
        // Phase 2: one consent for every new launch scope, then the tokens.
        for p in &prepared {
            app.add_scope_requirements(&p.client_id, [p.scope.clone()]);
        }
        let finish = async {
            app.ensure_tokens(&created).await?;
            let tokens = join_all(prepared.iter().map(|p| app.access_token(&p.client_id))).await;
            let tokens = tokens.into_iter().collect::<Result<Vec<_>, _>>()?;
            let mailboxes = join_all(
                prepared
                    .iter()
                    .zip(agents)
                    .map(|(p, (ty, _))| self.mailbox.register_agent_mailbox(&p.agent_id, ty)),
            )
            .await;
            Ok::<_, ExchangeError>((tokens, mailboxes))
        };
        let (tokens, mut mailboxes) = match finish.await {
            Ok(v) => v,
            Err(e) => {
                self.delete_clients(&auth, &created).await;
                return Err(e);
            }
        };
        if let Some(failed) = mailboxes.iter().position(Result::is_err) {
            for (p, r) in prepared.iter().zip(&mailboxes) {
                if r.is_ok() {
                    let _ = self
                        .mailbox
                        .terminate(&EntityId::from(p.agent_id.clone()))
                        .await;
                }
            }
            self.delete_clients(&auth, &created).await;
            return Err(mailboxes.swap_remove(failed).err().unwrap_or_else(|| {
                ExchangeError::transport_msg("registering an agent mailbox failed")
            }));
        }
        let mut out = Vec::with_capacity(prepared.len());
        let mut children = lock(&self.children);
        for (p, token) in prepared.into_iter().zip(tokens) {
            children.push(ChildAgent {
                agent_id: p.agent_id.clone(),
                client_id: p.client_id,
            });
            out.push(GlobusAgentRegistration::new(
                p.agent_id,
                p.client_uuid,
                token,
                p.secret,
            ));
        }
        Ok(out)
    }
}

#[async_trait]
impl ExchangeTransport for GlobusExchangeTransport {
    fn mailbox_id(&self) -> &EntityId {
        self.mailbox.mailbox_id()
    }

    /// Deletes the Globus clients of child agents whose mailbox is
    /// terminated or unknown; running agents keep theirs. Does not
    /// terminate the own mailbox. Idempotent; every child is tried and the
    /// failures are reported together.
    async fn close(&self) -> Result<(), ExchangeError> {
        let children = lock(&self.children).clone();
        if children.is_empty() {
            return Ok(());
        }
        let mut doomed = Vec::new();
        let mut errors: Vec<ExchangeError> = Vec::new();
        for child in children {
            match self
                .mailbox
                .heartbeat_status(&EntityId::from(child.agent_id.clone()))
                .await
            {
                Ok(_) => {
                    tracing::debug!(agent = %child.agent_id, "agent still running; keeping its Globus client")
                }
                Err(ExchangeError::MailboxTerminated(_) | ExchangeError::BadEntityId(_)) => {
                    doomed.push(child)
                }
                Err(e) => errors.push(e),
            }
        }
        if !doomed.is_empty() {
            match self.management().await {
                Ok(auth) => {
                    for child in doomed {
                        match auth.delete_client(&child.client_id).await {
                            Ok(_) => {}
                            Err(e) if e.http_status() == Some(404) => {}
                            Err(e) => {
                                errors.push(map_error(e, None));
                                continue;
                            }
                        }
                        tracing::debug!(agent = %child.agent_id, client_id = %child.client_id, "deleted the Globus client of a terminated agent");
                        lock(&self.children).retain(|c| c.client_id != child.client_id);
                        if let Some(app) = &self.app {
                            app.forget(&child.client_id);
                        }
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            n => {
                let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
                Err(ExchangeError::transport(
                    format!("closing the transport: {n} failures: {}", text.join("; ")),
                    errors.remove(0),
                ))
            }
        }
    }

    async fn discover(
        &self,
        agent: &str,
        allow_subclasses: bool,
    ) -> Result<Vec<AgentId>, ExchangeError> {
        self.mailbox.discover(agent, allow_subclasses).await
    }

    fn listen(&self, timeout: Option<Duration>) -> MessageStream {
        self.mailbox.listen(timeout)
    }

    async fn recv(&self, timeout: Option<Duration>) -> Result<Message, ExchangeError> {
        self.mailbox.recv(timeout).await
    }

    async fn register_agent(
        &self,
        agent: &AgentType,
        name: Option<&str>,
    ) -> Result<Box<dyn AgentRegistration>, ExchangeError> {
        let mut regs = self
            .register_batch(&[(agent.clone(), name.map(str::to_string))])
            .await?;
        regs.pop()
            .map(|r| Box::new(r) as Box<dyn AgentRegistration>)
            .ok_or_else(|| ExchangeError::transport_msg("registration returned nothing"))
    }

    /// All Globus clients are prepared concurrently, then **one** login
    /// (user mode) consents to every new `launch` scope.
    async fn register_agents(
        &self,
        agents: &[(AgentType, Option<String>)],
    ) -> Result<Vec<Box<dyn AgentRegistration>>, ExchangeError> {
        Ok(self
            .register_batch(agents)
            .await?
            .into_iter()
            .map(|r| Box::new(r) as Box<dyn AgentRegistration>)
            .collect())
    }

    async fn send(&self, message: &Message) -> Result<(), ExchangeError> {
        self.mailbox.send(message).await
    }

    async fn terminate(&self, uid: &EntityId) -> Result<(), ExchangeError> {
        self.mailbox.terminate(uid).await
    }

    async fn heartbeat_status(&self, uid: &EntityId) -> Result<Option<f64>, ExchangeError> {
        self.mailbox.heartbeat_status(uid).await
    }

    async fn update_heartbeat(&self) -> Result<(), ExchangeError> {
        self.mailbox.update_heartbeat().await
    }

    async fn agent_stats(&self, uid: &EntityId) -> Result<AgentStats, ExchangeError> {
        self.mailbox.agent_stats(uid).await
    }
}
