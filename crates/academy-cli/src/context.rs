//! What every command needs from the global options: the exchange and
//! Globus Auth URLs, the token store, and authenticated clients.

use std::sync::Arc;

use academy_globus_client::authorizer::{
    Authorizer, StaticTokenAuthorizer, StoredCredentials, stored_authorizer,
};
use academy_globus_client::config as gconfig;
use academy_globus_client::{
    AcademyGlobusClient, AuthClient, AuthClientConfig, ExchangeClientConfig, RetryPolicy,
    TokenStore,
};
use url::Url;

use crate::cli::GlobalArgs;
use crate::error::{CliError, Result, client};
use crate::output::Output;

/// Token-store namespace (academy-py's).
pub const NAMESPACE: &str = academy_globus_client::token_store::DEFAULT_NAMESPACE;

/// The global options, resolved lazily per command.
#[derive(Debug, Clone)]
pub struct Context {
    /// The parsed global options.
    pub global: GlobalArgs,
    /// Where results go.
    pub out: Output,
}

/// Parses a user-given URL.
pub fn parse_url(text: &str, what: &str) -> Result<Url> {
    Url::parse(text).map_err(|e| CliError::BadInput(format!("invalid {what} URL {text:?}: {e}")))
}

/// A retry policy for interactive commands: a dead server is reported in
/// about a second instead of after globus-sdk's five retries.
pub fn cli_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 2,
        ..RetryPolicy::default()
    }
}

impl Context {
    /// A context for `global`.
    pub fn new(global: GlobalArgs) -> Self {
        let out = Output::new(global.json);
        Context { global, out }
    }

    /// The exchange base URL (flag, `ACADEMY_EXCHANGE_URL`, or the hosted one).
    pub fn exchange_url(&self) -> Result<Url> {
        let text = self
            .global
            .exchange
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or(gconfig::DEFAULT_EXCHANGE_URL);
        parse_url(text, "exchange")
    }

    /// The Globus Auth configuration (`--auth`, else the Globus SDK
    /// environment variables).
    pub fn auth_config(&self) -> Result<AuthClientConfig> {
        let mut config = match self.global.auth.as_deref() {
            Some(url) => AuthClientConfig::with_base_url(parse_url(url, "Globus Auth")?),
            None => AuthClientConfig::from_env()
                .map_err(|e| CliError::BadInput(format!("Globus Auth configuration: {e}")))?,
        };
        config.retry = cli_retry();
        Ok(config)
    }

    /// A native-app Auth client (user logins, refresh, revocation).
    pub fn native_auth(&self) -> Result<AuthClient> {
        AuthClient::native(gconfig::NATIVE_CLIENT_ID, self.auth_config()?)
            .map_err(client("Globus Auth client"))
    }

    /// The token store in `$ACADEMY_HOME`.
    pub fn token_store(&self) -> Result<Arc<TokenStore>> {
        TokenStore::default_location()
            .map(Arc::new)
            .map_err(|e| CliError::BadInput(format!("token store: {e}")))
    }

    /// The exchange's resource server (`ACADEMY_EXCHANGE_CLIENT_ID`).
    pub fn exchange_resource_server(&self) -> String {
        gconfig::exchange_client_id()
    }

    /// The exchange scope string.
    pub fn exchange_scope(&self) -> String {
        gconfig::exchange_scope(&self.exchange_resource_server())
    }

    /// The authorizer for the exchange: none with `--no-auth`; the client
    /// identity of `ACADEMY_GLOBUS_CLIENT_ID`/`_SECRET` when both are set;
    /// else the stored user login.
    pub fn exchange_authorizer(&self) -> Result<Option<Arc<dyn Authorizer>>> {
        if self.global.no_auth {
            return Ok(None);
        }
        let store = self.token_store()?;
        let rs = self.exchange_resource_server();
        let credentials = match gconfig::client_credentials() {
            Some((id, secret)) => {
                let auth = AuthClient::confidential(id, secret, self.auth_config()?)
                    .map_err(client("Globus Auth client"))?;
                StoredCredentials::Client(auth, vec![self.exchange_scope()])
            }
            None => {
                // A client login made with --client-id/--client-secret
                // flags stored a token without a refresh token: use it
                // until it expires.
                let stored = store
                    .get(NAMESPACE, &rs)
                    .map_err(|e| CliError::BadInput(format!("token store: {e}")))?;
                if let Some(t) = stored.filter(|t| t.refresh_token.is_none()) {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs() as i64)
                        .unwrap_or(0);
                    if t.expires_at_seconds <= now {
                        return Err(CliError::LoginRequired {
                            reason: "token expired".into(),
                        });
                    }
                    return Ok(Some(Arc::new(StaticTokenAuthorizer::new(t.access_token))));
                }
                StoredCredentials::User(self.native_auth()?)
            }
        };
        let authorizer = stored_authorizer(store, NAMESPACE, &rs, credentials)
            .map_err(client("stored credentials"))?;
        Ok(Some(Arc::new(authorizer)))
    }

    /// The raw exchange client with the exchange authorizer.
    pub fn exchange_client(&self) -> Result<AcademyGlobusClient> {
        let mut config = ExchangeClientConfig::new(self.exchange_url()?);
        config.retry = cli_retry();
        if let Some(a) = self.exchange_authorizer()? {
            config = config.with_authorizer(a);
        }
        AcademyGlobusClient::new(config)
            .map_err(|e| CliError::BadInput(format!("exchange client: {e}")))
    }

    /// Human name of the exchange for error messages.
    pub fn exchange_name(&self) -> String {
        match self.exchange_url() {
            Ok(u) => format!("the exchange at {u}"),
            Err(_) => "the exchange".into(),
        }
    }
}
