//! A `GlobusApp` (`globus-exchange-client.md` §4.2): who is logged in and
//! how tokens per resource server are obtained and renewed.
//!
//! * **User mode**: native-app PKCE login through a [`LoginFlow`]; tokens
//!   (with refresh tokens) kept in memory and, if given, in a
//!   [`TokenStore`]; one refresh-token authorizer per resource server.
//! * **Client mode** (headless): a confidential client's
//!   client-credentials grant per resource server — no person needed,
//!   which academy-py cannot do for agent registration.
//!
//! Scope requirements are added per resource server; [`GlobusApp::ensure_tokens`]
//! runs **one** login for every resource server that lacks tokens, which
//! is how a batch of agent registrations asks for consent once.
//!
//! Unlike academy-py, no forced re-login happens every 30 minutes before
//! managing clients (§5.5): the `manage_projects` token is renewed like
//! any other.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use academy_globus_client::authorizer::{Authorizer, RenewingAuthorizer};
use academy_globus_client::login::{AuthorizeRequest, Pkce, exchange_code};
use academy_globus_client::{AuthClient, AuthClientConfig, Secret, TokenData, TokenStore};

use crate::error::GlobusExchangeError;
use crate::login_flow::LoginFlow;

/// The token-store namespace (globus-sdk's and academy-py's).
pub const TOKEN_NAMESPACE: &str = "DEFAULT";

/// Settings of a [`GlobusApp`].
#[derive(Debug, Clone)]
pub struct GlobusAppConfig {
    /// Globus Auth endpoint settings.
    pub auth: AuthClientConfig,
    /// The native (public) client used for user logins.
    pub native_client_id: String,
    /// Host name in the named-grant prefill `academy on <host>`.
    pub hostname: String,
}

impl GlobusAppConfig {
    /// Globus Auth at `auth_base_url`, academy-py's native client.
    pub fn new(auth_base_url: url::Url) -> Self {
        GlobusAppConfig {
            auth: AuthClientConfig::with_base_url(auth_base_url),
            native_client_id: academy_globus_client::config::NATIVE_CLIENT_ID.into(),
            hostname: hostname(),
        }
    }

    /// Globus Auth resolved from the environment as globus-sdk does
    /// (`GLOBUS_SDK_SERVICE_URL_AUTH`, `GLOBUS_SDK_ENVIRONMENT`).
    pub fn from_env() -> Result<Self, GlobusExchangeError> {
        Ok(GlobusAppConfig {
            auth: AuthClientConfig::from_env()?,
            native_client_id: academy_globus_client::config::NATIVE_CLIENT_ID.into(),
            hostname: hostname(),
        })
    }
}

/// This machine's name, for the login's named-grant prefill
/// (`academy on <host>`, as academy-py sends).
pub fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

enum Mode {
    User {
        flow: Arc<dyn LoginFlow>,
        store: Option<Arc<TokenStore>>,
        native: AuthClient,
    },
    Client {
        client_id: String,
        auth: AuthClient,
    },
}

type Tokens = Arc<Mutex<BTreeMap<String, TokenData>>>;

/// Logged-in identity and token source (see the module docs).
///
/// ```no_run
/// # async fn demo() -> Result<(), academy_globus_exchange::GlobusExchangeError> {
/// use academy_globus_exchange::{GlobusApp, GlobusAppConfig};
/// let app = GlobusApp::client(GlobusAppConfig::from_env()?, "client-id", "secret".into())?;
/// app.add_scope_requirements("auth.globus.org", ["urn:globus:auth:scope:auth.globus.org:manage_projects"]);
/// let token = app.access_token("auth.globus.org").await?;
/// # let _ = token; Ok(()) }
/// ```
pub struct GlobusApp {
    config: GlobusAppConfig,
    mode: Mode,
    requirements: Mutex<BTreeMap<String, BTreeSet<String>>>,
    authorizers: Mutex<HashMap<String, Arc<RenewingAuthorizer>>>,
    tokens: Tokens,
    login_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for GlobusApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match &self.mode {
            Mode::User { flow, .. } => format!("User({flow:?})"),
            Mode::Client { client_id, .. } => format!("Client({client_id}, secret: <redacted>)"),
        };
        f.debug_struct("GlobusApp")
            .field("mode", &mode)
            .field("auth", &self.config.auth.base_url.as_str())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl GlobusApp {
    fn with_mode(config: GlobusAppConfig, mode: Mode) -> Self {
        GlobusApp {
            config,
            mode,
            requirements: Mutex::new(BTreeMap::new()),
            authorizers: Mutex::new(HashMap::new()),
            tokens: Arc::new(Mutex::new(BTreeMap::new())),
            login_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// A user app: logs in through `flow` when tokens are missing, keeps
    /// tokens in `store` (if any) across processes.
    pub fn user(
        config: GlobusAppConfig,
        flow: Arc<dyn LoginFlow>,
        store: Option<TokenStore>,
    ) -> Result<Self, GlobusExchangeError> {
        let native = AuthClient::native(config.native_client_id.clone(), config.auth.clone())?;
        Ok(Self::with_mode(
            config,
            Mode::User {
                flow,
                store: store.map(Arc::new),
                native,
            },
        ))
    }

    /// A headless app acting as the confidential client `client_id`.
    pub fn client(
        config: GlobusAppConfig,
        client_id: impl Into<String>,
        secret: Secret,
    ) -> Result<Self, GlobusExchangeError> {
        let client_id = client_id.into();
        let auth = AuthClient::confidential(client_id.clone(), secret, config.auth.clone())?;
        Ok(Self::with_mode(config, Mode::Client { client_id, auth }))
    }

    /// academy-py's `get_globus_app()`: client mode when both
    /// `ACADEMY_GLOBUS_CLIENT_ID` and `ACADEMY_GLOBUS_CLIENT_SECRET` are
    /// set, else user mode with `flow` and the token store in `ACADEMY_HOME`.
    pub fn from_env(flow: Arc<dyn LoginFlow>) -> Result<Self, GlobusExchangeError> {
        Self::from_env_with(GlobusAppConfig::from_env()?, flow)
    }

    /// Like [`GlobusApp::from_env`] with explicit Globus Auth settings.
    pub fn from_env_with(
        config: GlobusAppConfig,
        flow: Arc<dyn LoginFlow>,
    ) -> Result<Self, GlobusExchangeError> {
        match academy_globus_client::config::client_credentials() {
            Some((id, secret)) => Self::client(config, id, secret),
            None => {
                let store = TokenStore::default_location()?;
                Self::user(config, flow, Some(store))
            }
        }
    }

    /// The app's settings.
    pub fn config(&self) -> &GlobusAppConfig {
        &self.config
    }

    /// Whether this is a headless confidential-client app.
    pub fn is_client(&self) -> bool {
        matches!(self.mode, Mode::Client { .. })
    }

    /// Requires `scopes` for `resource_server` (tokens obtained later).
    pub fn add_scope_requirements<I, S>(&self, resource_server: &str, scopes: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut reqs = lock(&self.requirements);
        let entry = reqs.entry(resource_server.to_string()).or_default();
        let before = entry.len();
        entry.extend(scopes.into_iter().map(Into::into));
        if entry.len() != before {
            // New scopes need a new token.
            lock(&self.authorizers).remove(resource_server);
        }
    }

    fn scopes_of(&self, resource_server: &str) -> Vec<String> {
        lock(&self.requirements)
            .get(resource_server)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// A usable token (one with a refresh token covering the required
    /// scopes) for `resource_server`, from memory or the store.
    fn stored_token(
        &self,
        resource_server: &str,
    ) -> Result<Option<TokenData>, GlobusExchangeError> {
        let wanted = self.scopes_of(resource_server);
        let covers = |t: &TokenData| {
            t.refresh_token.is_some()
                && wanted
                    .iter()
                    .all(|w| t.scope.split_whitespace().any(|s| s == w))
        };
        if let Some(t) = lock(&self.tokens)
            .get(resource_server)
            .filter(|t| covers(t))
        {
            return Ok(Some(t.clone()));
        }
        if let Mode::User {
            store: Some(store), ..
        } = &self.mode
            && let Some(t) = store.get(TOKEN_NAMESPACE, resource_server)?.filter(covers)
        {
            lock(&self.tokens).insert(resource_server.to_string(), t.clone());
            return Ok(Some(t));
        }
        Ok(None)
    }

    /// Makes sure tokens exist for every resource server in
    /// `resource_servers`: in user mode, runs **one** login covering all
    /// those that lack them; in client mode, nothing to do.
    pub async fn ensure_tokens(
        &self,
        resource_servers: &[String],
    ) -> Result<(), GlobusExchangeError> {
        if self.is_client() {
            return Ok(());
        }
        let _guard = self.login_lock.lock().await;
        let mut missing = Vec::new();
        for rs in resource_servers {
            if self.stored_token(rs)?.is_none() {
                missing.push(rs.clone());
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let scopes: BTreeSet<String> = missing.iter().flat_map(|rs| self.scopes_of(rs)).collect();
        self.login_for(scopes.into_iter().collect()).await?;
        for rs in &missing {
            if self.stored_token(rs)?.is_none() {
                return Err(GlobusExchangeError::Login(format!(
                    "the login returned no token with a refresh token for {rs}"
                )));
            }
        }
        Ok(())
    }

    /// Runs a login for every scope requirement (user mode; a no-op for a
    /// client app).
    pub async fn login(&self) -> Result<(), GlobusExchangeError> {
        if self.is_client() {
            return Ok(());
        }
        let _guard = self.login_lock.lock().await;
        let scopes: BTreeSet<String> = lock(&self.requirements)
            .values()
            .flatten()
            .cloned()
            .collect();
        self.login_for(scopes.into_iter().collect()).await
    }

    async fn login_for(&self, scopes: Vec<String>) -> Result<(), GlobusExchangeError> {
        let Mode::User {
            flow,
            store,
            native,
        } = &self.mode
        else {
            return Ok(());
        };
        let base = &self.config.auth.base_url;
        let mut request = AuthorizeRequest::academy(base, scopes, &self.config.hostname);
        request.client_id = self.config.native_client_id.clone();
        let pkce = Pkce::generate();
        let url = request.url(base, &pkce);
        let code = flow.authorization_code(&url).await?;
        let response = exchange_code(native, &request, &pkce, &code).await?;
        let tokens: Vec<TokenData> = response.by_resource_server().into_values().collect();
        if let Some(store) = store {
            store.store(TOKEN_NAMESPACE, &tokens)?;
        }
        let mut mem = lock(&self.tokens);
        let mut authorizers = lock(&self.authorizers);
        for t in tokens {
            authorizers.remove(&t.resource_server);
            mem.insert(t.resource_server.clone(), t);
        }
        Ok(())
    }

    /// The renewing authorizer for `resource_server` (its scopes must have
    /// been required); may run a login in user mode.
    pub async fn authorizer(
        &self,
        resource_server: &str,
    ) -> Result<Arc<RenewingAuthorizer>, GlobusExchangeError> {
        if let Some(a) = lock(&self.authorizers).get(resource_server) {
            return Ok(a.clone());
        }
        let scopes = self.scopes_of(resource_server);
        if scopes.is_empty() {
            return Err(GlobusExchangeError::Config(format!(
                "no scope requirement for resource server {resource_server}"
            )));
        }
        let authorizer = match &self.mode {
            Mode::Client { auth, .. } => {
                RenewingAuthorizer::from_client_credentials(auth.clone(), scopes)
            }
            Mode::User { store, native, .. } => {
                self.ensure_tokens(&[resource_server.to_string()]).await?;
                let token = self.stored_token(resource_server)?.ok_or_else(|| {
                    GlobusExchangeError::Login(format!("no tokens for {resource_server}"))
                })?;
                let refresh = token.refresh_token.clone().ok_or_else(|| {
                    GlobusExchangeError::Login(format!("no refresh token for {resource_server}"))
                })?;
                let mem = self.tokens.clone();
                let store = store.clone();
                let identity = token.identity_id.clone();
                RenewingAuthorizer::from_refresh_token(native.clone(), refresh)
                    .with_access_token(token.access_token.clone(), token.expires_at_seconds)
                    .on_refresh(Arc::new(move |renewed: &TokenData| {
                        let mut renewed = renewed.clone();
                        if renewed.identity_id.is_none() {
                            renewed.identity_id = identity.clone();
                        }
                        lock(&mem).insert(renewed.resource_server.clone(), renewed.clone());
                        match &store {
                            Some(s) => s.store(TOKEN_NAMESPACE, std::slice::from_ref(&renewed)),
                            None => Ok(()),
                        }
                    }))
            }
        };
        let authorizer = Arc::new(authorizer);
        Ok(lock(&self.authorizers)
            .entry(resource_server.to_string())
            .or_insert(authorizer)
            .clone())
    }

    /// A current access token for `resource_server` (renewed if needed).
    pub async fn access_token(&self, resource_server: &str) -> Result<Secret, GlobusExchangeError> {
        Ok(self
            .authorizer(resource_server)
            .await?
            .access_token()
            .await?)
    }

    /// Forgets the requirements, authorizer and tokens of a resource
    /// server (e.g. a deleted agent client).
    pub fn forget(&self, resource_server: &str) {
        lock(&self.requirements).remove(resource_server);
        lock(&self.authorizers).remove(resource_server);
        lock(&self.tokens).remove(resource_server);
        if let Mode::User {
            store: Some(store), ..
        } = &self.mode
            && let Err(e) = store.remove(TOKEN_NAMESPACE, resource_server)
        {
            tracing::warn!(error = %e, resource_server, "could not remove tokens from the store");
        }
    }

    /// The Globus Auth client of a headless app (for tests and tools).
    pub fn client_id(&self) -> Option<&str> {
        match &self.mode {
            Mode::Client { client_id, .. } => Some(client_id),
            Mode::User { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::login_flow::AutoApproveLoginFlow;

    fn config() -> GlobusAppConfig {
        GlobusAppConfig::new(
            url::Url::parse("http://127.0.0.1:9/").unwrap_or_else(|_| unreachable!()),
        )
    }

    #[test]
    fn debug_hides_the_client_secret() {
        let app = GlobusApp::client(config(), "cid", Secret::new("s3cr3t-value"))
            .unwrap_or_else(|e| panic!("{e}"));
        let shown = format!("{app:?}");
        assert!(
            shown.contains("cid") && !shown.contains("s3cr3t-value"),
            "{shown}"
        );
        assert!(app.is_client());
    }

    #[tokio::test]
    async fn a_resource_server_without_requirements_is_a_config_error() {
        let app = GlobusApp::user(config(), Arc::new(AutoApproveLoginFlow), None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            app.authorizer("nowhere").await,
            Err(GlobusExchangeError::Config(_))
        ));
        // Adding scopes forgets nothing it does not have, and tokens are required for users.
        app.add_scope_requirements("rs", ["s1"]);
        assert_eq!(app.scopes_of("rs"), vec!["s1".to_string()]);
        app.forget("rs");
        assert!(app.scopes_of("rs").is_empty());
    }
}

/// An [`Authorizer`] that always asks the app for its current authorizer
/// of one resource server.
///
/// A new login replaces the app's authorizers; transports holding this one
/// pick the new tokens up on their next request, so a long-running program
/// told to "log in again" recovers without rebuilding its transports.
#[derive(Debug, Clone)]
pub struct AppAuthorizer {
    app: Arc<GlobusApp>,
    resource_server: String,
}

impl AppAuthorizer {
    /// The app's authorizer for `resource_server`, looked up on every use.
    pub fn new(app: Arc<GlobusApp>, resource_server: impl Into<String>) -> Self {
        AppAuthorizer {
            app,
            resource_server: resource_server.into(),
        }
    }

    async fn current(&self) -> academy_globus_client::Result<Arc<RenewingAuthorizer>> {
        self.app
            .authorizer(&self.resource_server)
            .await
            .map_err(|e| match e {
                GlobusExchangeError::Globus(g) => g,
                GlobusExchangeError::Login(reason) => {
                    academy_globus_client::Error::LoginRequired { reason }
                }
                other => academy_globus_client::Error::Config(other.to_string()),
            })
    }
}

#[async_trait::async_trait]
impl Authorizer for AppAuthorizer {
    async fn authorization(&self) -> academy_globus_client::Result<Option<http::HeaderValue>> {
        self.current().await?.authorization().await
    }

    async fn on_unauthorized(&self, rejected: Option<&http::HeaderValue>) -> bool {
        match self.current().await {
            Ok(a) => a.on_unauthorized(rejected).await,
            Err(_) => false,
        }
    }

    fn can_refresh(&self) -> bool {
        true
    }
}
