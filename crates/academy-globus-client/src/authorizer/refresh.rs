//! Refresh-token grant as a [`TokenSource`] (`globus-auth-api.md` §4.3).

use std::sync::Mutex;

use super::{RenewingAuthorizer, TokenSource};
use crate::auth_client::AuthClient;
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::token::TokenData;

/// Renews with `grant_type=refresh_token`.
///
/// If a refresh response carries no `refresh_token`, the previous one is
/// kept. globus-sdk's `RefreshTokenAuthorizer` overwrites it with `None`
/// and then fails on the next renewal; we deliberately do not.
pub struct RefreshTokenSource {
    auth: AuthClient,
    refresh_token: Mutex<Secret>,
}

impl std::fmt::Debug for RefreshTokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshTokenSource")
            .field("auth", &self.auth)
            .field("refresh_token", &"<redacted>")
            .finish()
    }
}

impl RefreshTokenSource {
    /// Renews `refresh_token` through `auth` (native or confidential).
    pub fn new(auth: AuthClient, refresh_token: Secret) -> Self {
        RefreshTokenSource {
            auth,
            refresh_token: Mutex::new(refresh_token),
        }
    }

    fn current(&self) -> Secret {
        match self.refresh_token.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

/// Maps a rejected grant (400/401 from the token endpoint, e.g.
/// `invalid_grant`) to [`Error::LoginRequired`].
pub(crate) fn grant_rejected(e: Error, what: &str) -> Error {
    match e {
        Error::Api(api) if matches!(api.http_status, 400 | 401 | 403) => Error::LoginRequired {
            reason: format!(
                "{what} was rejected by Globus Auth (HTTP {})",
                api.http_status
            ),
        },
        other => other,
    }
}

#[async_trait::async_trait]
impl TokenSource for RefreshTokenSource {
    async fn fetch(&self) -> Result<TokenData> {
        let refresh = self.current();
        let response = self
            .auth
            .oauth2_refresh_token(&refresh)
            .await
            .map_err(|e| grant_rejected(e, "the refresh token"))?;
        let mut token = response.single_token()?;
        match &token.refresh_token {
            Some(new) => match self.refresh_token.lock() {
                Ok(mut g) => *g = new.clone(),
                Err(p) => *p.into_inner() = new.clone(),
            },
            None => token.refresh_token = Some(refresh),
        }
        Ok(token)
    }
}

impl RenewingAuthorizer {
    /// A renewing authorizer over a refresh token (`RefreshTokenAuthorizer`).
    pub fn from_refresh_token(auth: AuthClient, refresh_token: Secret) -> Self {
        RenewingAuthorizer::new(std::sync::Arc::new(RefreshTokenSource::new(
            auth,
            refresh_token,
        )))
    }
}
