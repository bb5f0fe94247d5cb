//! [`GlobusExchangeFactory`] (`globus-exchange-client.md` §5.7): the
//! shippable recipe for the Globus exchange. User side, it connects with a
//! [`GlobusApp`]; agent side, it exchanges a registration's token for
//! dependent tokens with the agent's own credentials and refreshes them
//! for as long as the agent runs.
//!
//! Unlike academy-py, `request_timeout_s` survives serialisation (§9.3)
//! and the Auth base URL can be given explicitly.

use std::sync::Arc;
use std::time::Duration;

use academy_exchange::transport::downcast_registration;
use academy_exchange::{
    AgentRegistration, EntityId, ExchangeClientConfig, ExchangeError, ExchangeFactory,
    ExchangeTransport,
};
use academy_globus_client::authorizer::RenewingAuthorizer;
use academy_globus_client::{AuthClient, AuthClientConfig, RetryPolicy};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use url::Url;

use crate::app::{GlobusApp, GlobusAppConfig};
use crate::error::GlobusExchangeError;
use crate::error_map::{LOGIN_AGAIN, map_error};
use crate::http_factory::DEFAULT_REQUEST_TIMEOUT_S;
use crate::login_flow::ConsoleLoginFlow;
use crate::receive::ReceivePolicy;
use crate::registration::{GLOBUS_EXCHANGE_TYPE, GlobusAgentRegistration};
use crate::transport::{GlobusCredentials, GlobusExchangeOptions, GlobusExchangeTransport};

fn default_request_timeout_s() -> f64 {
    DEFAULT_REQUEST_TIMEOUT_S
}

fn default_exchange_client_id() -> String {
    academy_globus_client::config::exchange_client_id()
}

fn default_exchange_scope_id() -> String {
    academy_globus_client::config::exchange_scope_id()
}

/// Factory of [`GlobusExchangeTransport`]s; serialises to JSON (without
/// its app) so a launcher can ship it to agent processes.
///
/// ```no_run
/// # async fn demo() -> Result<(), academy_exchange::ExchangeError> {
/// use std::sync::Arc;
/// use academy_exchange::ExchangeFactory;
/// use academy_globus_exchange::{GlobusApp, GlobusAppConfig, GlobusExchangeFactory};
/// let app = GlobusApp::client(GlobusAppConfig::from_env()?, "client-id", "secret".into())?;
/// let factory = GlobusExchangeFactory::new(
///     "b0c1d2e3-f4a5-4b6c-8d7e-8f9a0b1c2d01",
///     "https://exchange.academy-agents.org/v1".parse().unwrap(),
/// ).with_app(Arc::new(app));
/// let user = factory.create_user_client(Some("me"), true).await?;
/// let shipped = factory.to_json()?;
/// # let _ = (user, shipped); Ok(()) }
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct GlobusExchangeFactory {
    /// Globus Auth project in which agents' clients are created.
    pub project_id: String,
    /// Exchange base URL.
    pub exchange_url: Url,
    /// Globus Auth base URL; `None` resolves it from the environment as
    /// globus-sdk does.
    #[serde(default)]
    pub auth_base_url: Option<Url>,
    /// The exchange's client id (resource server).
    #[serde(default = "default_exchange_client_id")]
    pub exchange_client_id: String,
    /// The exchange scope's id.
    #[serde(default = "default_exchange_scope_id")]
    pub exchange_scope_id: String,
    /// Longest wait asked of the server per receive request, seconds.
    #[serde(default = "default_request_timeout_s")]
    pub request_timeout_s: f64,
    /// Configuration of the clients this factory creates.
    #[serde(default)]
    pub config: ExchangeClientConfig,
    #[serde(skip)]
    app: Arc<OnceCell<Arc<GlobusApp>>>,
}

impl std::fmt::Debug for GlobusExchangeFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobusExchangeFactory")
            .field("project_id", &self.project_id)
            .field("exchange_url", &self.exchange_url.as_str())
            .field(
                "auth_base_url",
                &self.auth_base_url.as_ref().map(Url::as_str),
            )
            .field("exchange_client_id", &self.exchange_client_id)
            .field("request_timeout_s", &self.request_timeout_s)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl GlobusExchangeFactory {
    /// A factory for `project_id` and the exchange at `exchange_url`;
    /// exchange ids from `ACADEMY_EXCHANGE_CLIENT_ID` /
    /// `ACADEMY_GLOBUS_SCOPE_ID` or academy-py's defaults.
    pub fn new(project_id: impl Into<String>, exchange_url: Url) -> Self {
        GlobusExchangeFactory {
            project_id: project_id.into(),
            exchange_url,
            auth_base_url: None,
            exchange_client_id: default_exchange_client_id(),
            exchange_scope_id: default_exchange_scope_id(),
            request_timeout_s: DEFAULT_REQUEST_TIMEOUT_S,
            config: ExchangeClientConfig::default(),
            app: Arc::new(OnceCell::new()),
        }
    }

    /// Uses `app` for user-side transports (else [`GlobusApp::from_env`]
    /// with the console login flow, on first use).
    pub fn with_app(mut self, app: Arc<GlobusApp>) -> Self {
        self.app = Arc::new(OnceCell::new_with(Some(app)));
        self
    }

    /// Sets the Globus Auth base URL.
    pub fn with_auth_base_url(mut self, url: Url) -> Self {
        self.auth_base_url = Some(url);
        self
    }

    /// Sets `request_timeout_s`.
    pub fn with_request_timeout_s(mut self, secs: f64) -> Self {
        self.request_timeout_s = secs;
        self
    }

    /// Sets the client configuration.
    pub fn with_config(mut self, config: ExchangeClientConfig) -> Self {
        self.config = config;
        self
    }

    /// Reads a factory from [`ExchangeFactory::to_json`] output.
    pub fn from_json(json: &str) -> Result<Self, ExchangeError> {
        serde_json::from_str(json)
            .map_err(|e| ExchangeError::Serialization(format!("GlobusExchangeFactory JSON: {e}")))
    }

    /// The transport options this factory stands for.
    pub fn options(&self) -> Result<GlobusExchangeOptions, ExchangeError> {
        let auth = match &self.auth_base_url {
            Some(url) => AuthClientConfig::with_base_url(url.clone()),
            None => AuthClientConfig::from_env().map_err(|e| map_error(e, None))?,
        };
        let request_timeout = Duration::try_from_secs_f64(self.request_timeout_s)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                ExchangeError::InvalidMessage(format!(
                    "request_timeout_s must be a positive number, not {}",
                    self.request_timeout_s
                ))
            })?;
        Ok(GlobusExchangeOptions {
            exchange_url: self.exchange_url.clone(),
            auth,
            exchange_client_id: self.exchange_client_id.clone(),
            exchange_scope_id: self.exchange_scope_id.clone(),
            request_timeout,
            retry: RetryPolicy::default(),
            receive: ReceivePolicy::default(),
        })
    }

    /// The user-side app (created from the environment on first use).
    pub async fn app(&self) -> Result<Arc<GlobusApp>, ExchangeError> {
        let app = self
            .app
            .get_or_try_init(|| async {
                let config = match &self.auth_base_url {
                    Some(url) => GlobusAppConfig::new(url.clone()),
                    None => GlobusAppConfig::from_env()?,
                };
                let app = GlobusApp::from_env_with(config, Arc::new(ConsoleLoginFlow))?;
                Ok::<_, GlobusExchangeError>(Arc::new(app))
            })
            .await?;
        Ok(app.clone())
    }

    /// A user transport bound to `mailbox_id`, or to a new user mailbox.
    pub async fn user_transport(
        &self,
        mailbox_id: Option<EntityId>,
        name: Option<&str>,
    ) -> Result<GlobusExchangeTransport, ExchangeError> {
        let app = self.app().await?;
        GlobusExchangeTransport::new(
            &self.project_id,
            GlobusCredentials::App(app),
            mailbox_id,
            name,
            self.options()?,
        )
        .await
    }

    /// The agent side: exchanges the registration's token for an exchange
    /// token and refresh token (dependent-token grant, the agent's own
    /// credentials), then a transport bound to the agent that refreshes
    /// them for ever after.
    pub async fn agent_transport(
        &self,
        registration: &GlobusAgentRegistration,
    ) -> Result<GlobusExchangeTransport, ExchangeError> {
        let options = self.options()?;
        let client_id = registration.client_id.to_string();
        let auth = AuthClient::confidential(
            client_id.clone(),
            registration.secret.clone(),
            options.auth.clone(),
        )
        .map_err(|e| map_error(e, None))?;
        let scope = options.exchange_scope();
        let dependent = auth
            .oauth2_get_dependent_tokens(&registration.token, Some(&scope), true)
            .await
            .map_err(|e| match e.http_status() {
                Some(400 | 401 | 403) => ExchangeError::Unauthorized(format!(
                    "the registration of {} was refused by Globus Auth ({e}); its launch token may have expired or its client been deleted: register the agent again",
                    registration.agent_id
                )),
                _ => map_error(e, None),
            })?;
        let token = dependent
            .by_resource_server()
            .remove(&options.exchange_client_id)
            .ok_or_else(|| {
                ExchangeError::Unauthorized(format!(
                    "the dependent-token grant returned no token for the exchange {}; {LOGIN_AGAIN}",
                    options.exchange_client_id
                ))
            })?;
        let refresh = token.refresh_token.clone().ok_or_else(|| {
            ExchangeError::Unauthorized(
                "the dependent-token grant returned no refresh token".into(),
            )
        })?;
        let authorizer = RenewingAuthorizer::from_refresh_token(auth, refresh)
            .with_access_token(token.access_token.clone(), token.expires_at_seconds);
        GlobusExchangeTransport::new(
            &self.project_id,
            GlobusCredentials::Authorizer(Arc::new(authorizer)),
            Some(EntityId::from(registration.agent_id.clone())),
            None,
            options,
        )
        .await
    }
}

#[async_trait]
impl ExchangeFactory for GlobusExchangeFactory {
    fn exchange_type(&self) -> &str {
        GLOBUS_EXCHANGE_TYPE
    }

    fn config(&self) -> ExchangeClientConfig {
        self.config
    }

    fn to_json(&self) -> Result<String, ExchangeError> {
        serde_json::to_string(self).map_err(|e| ExchangeError::Serialization(e.to_string()))
    }

    fn registration_from_json(
        &self,
        json: &str,
    ) -> Result<Box<dyn AgentRegistration>, ExchangeError> {
        Ok(Box::new(GlobusAgentRegistration::from_json(json)?))
    }

    async fn create_user_transport(
        &self,
        name: Option<&str>,
    ) -> Result<Arc<dyn ExchangeTransport>, ExchangeError> {
        Ok(Arc::new(self.user_transport(None, name).await?))
    }

    async fn create_agent_transport(
        &self,
        registration: &dyn AgentRegistration,
    ) -> Result<Arc<dyn ExchangeTransport>, ExchangeError> {
        let reg = downcast_registration::<GlobusAgentRegistration>(registration)?;
        Ok(Arc::new(self.agent_transport(reg).await?))
    }
}
