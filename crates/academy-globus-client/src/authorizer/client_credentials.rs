//! Client-credentials grant as a [`TokenSource`] (`globus-auth-api.md` §4.4).

use super::refresh::grant_rejected;
use super::{RenewingAuthorizer, TokenSource};
use crate::auth_client::AuthClient;
use crate::error::Result;
use crate::token::TokenData;

/// Renews with `grant_type=client_credentials` for fixed scopes, all of
/// which must belong to one resource server.
#[derive(Debug)]
pub struct ClientCredentialsSource {
    auth: AuthClient,
    scopes: Vec<String>,
}

impl ClientCredentialsSource {
    /// `auth` must be a confidential client.
    pub fn new(auth: AuthClient, scopes: Vec<String>) -> Self {
        ClientCredentialsSource { auth, scopes }
    }
}

#[async_trait::async_trait]
impl TokenSource for ClientCredentialsSource {
    async fn fetch(&self) -> Result<TokenData> {
        let scopes: Vec<&str> = self.scopes.iter().map(String::as_str).collect();
        self.auth
            .oauth2_client_credentials_tokens(&scopes)
            .await
            .map_err(|e| grant_rejected(e, "the client credentials"))?
            .single_token()
    }
}

impl RenewingAuthorizer {
    /// A renewing authorizer over client credentials
    /// (`ClientCredentialsAuthorizer`).
    pub fn from_client_credentials(auth: AuthClient, scopes: Vec<String>) -> Self {
        RenewingAuthorizer::new(std::sync::Arc::new(ClientCredentialsSource::new(
            auth, scopes,
        )))
    }
}
