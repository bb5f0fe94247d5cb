//! An authorizer backed by the token store: starts from the stored token
//! and writes every renewed token back.

use std::sync::Arc;

use super::RenewingAuthorizer;
use crate::auth_client::{AuthClient, AuthClientConfig};
use crate::error::{Error, Result};
use crate::token_store::TokenStore;

/// How a stored authorizer renews.
#[derive(Debug, Clone)]
pub enum StoredCredentials {
    /// A user login: renew with the stored refresh token through this
    /// (native) client. Without a stored refresh token the caller must log in.
    User(AuthClient),
    /// A client identity: renew with a client-credentials grant for these
    /// scopes through this confidential client.
    Client(AuthClient, Vec<String>),
}

/// Builds a [`RenewingAuthorizer`] for `resource_server` from `store`'s
/// `namespace`, persisting renewed tokens there.
///
/// Fails with [`Error::LoginRequired`] for a user without stored tokens.
pub fn stored_authorizer(
    store: Arc<TokenStore>,
    namespace: &str,
    resource_server: &str,
    credentials: StoredCredentials,
) -> Result<RenewingAuthorizer> {
    let stored = store.get(namespace, resource_server)?;
    let authorizer = match credentials {
        StoredCredentials::User(auth) => {
            let Some(data) = stored else {
                return Err(Error::LoginRequired {
                    reason: format!("no stored tokens for {resource_server}"),
                });
            };
            let Some(refresh) = data.refresh_token.clone() else {
                return Err(Error::LoginRequired {
                    reason: format!(
                        "the stored tokens for {resource_server} have no refresh token"
                    ),
                });
            };
            RenewingAuthorizer::from_refresh_token(auth, refresh)
                .with_access_token(data.access_token.clone(), data.expires_at_seconds)
        }
        StoredCredentials::Client(auth, scopes) => {
            let a = RenewingAuthorizer::from_client_credentials(auth, scopes);
            match stored {
                Some(data) => {
                    a.with_access_token(data.access_token.clone(), data.expires_at_seconds)
                }
                None => a,
            }
        }
    };
    let namespace = namespace.to_string();
    let hook_store = store.clone();
    Ok(authorizer.on_refresh(Arc::new(move |token| {
        // Keep the identity recorded at login; a refresh response has none.
        let mut token = token.clone();
        if token.identity_id.is_none()
            && let Ok(Some(old)) = hook_store.get(&namespace, &token.resource_server)
        {
            token.identity_id = old.identity_id;
        }
        hook_store.store(&namespace, std::slice::from_ref(&token))
    })))
}

/// The exchange authorizer academy-py's `get_globus_app` would use: client
/// credentials when `ACADEMY_GLOBUS_CLIENT_ID` and `_SECRET` are both set
/// (`lookup` reads them), else the user's stored tokens renewed through the
/// native client. Either way renewed tokens go to `store`'s `DEFAULT`
/// namespace under the exchange resource server (`ACADEMY_EXCHANGE_CLIENT_ID`).
pub fn exchange_authorizer_from(
    lookup: impl Fn(&str) -> Option<String>,
    store: Arc<TokenStore>,
    auth_config: AuthClientConfig,
) -> Result<RenewingAuthorizer> {
    let resource_server = crate::config::exchange_client_id_from(&lookup);
    let credentials = match crate::config::client_credentials_from(&lookup) {
        Some((id, secret)) => StoredCredentials::Client(
            AuthClient::confidential(id, secret, auth_config)?,
            vec![crate::config::exchange_scope(&resource_server)],
        ),
        None => StoredCredentials::User(AuthClient::native(
            crate::config::NATIVE_CLIENT_ID,
            auth_config,
        )?),
    };
    stored_authorizer(
        store,
        crate::token_store::DEFAULT_NAMESPACE,
        &resource_server,
        credentials,
    )
}
