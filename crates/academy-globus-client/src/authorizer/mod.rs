//! Authorizers: where the `Authorization` header of a request comes from
//! (`globus-auth-api.md` §5).

mod client_credentials;
mod refresh;
mod renewing;
mod static_token;
mod stored;

pub use client_credentials::ClientCredentialsSource;
pub use refresh::RefreshTokenSource;
pub(crate) use renewing::renewing_now;
pub use renewing::{EXPIRES_ADJUST_SECONDS, OnRefresh, RenewingAuthorizer, TokenSource};
pub use static_token::{BasicAuthorizer, StaticTokenAuthorizer};
pub use stored::{StoredCredentials, exchange_authorizer_from, stored_authorizer};

use http::HeaderValue;

use crate::error::Result;

/// Supplies the `Authorization` header of each request attempt.
///
/// Implementations must return header values marked sensitive
/// ([`HeaderValue::set_sensitive`]) and must not log them.
#[async_trait::async_trait]
pub trait Authorizer: Send + Sync + std::fmt::Debug {
    /// The header value for the next attempt, or `None` for no header.
    /// Renewing authorizers fetch a new token here when needed.
    async fn authorization(&self) -> Result<Option<HeaderValue>>;

    /// The server rejected `rejected` (401, or 403 from the exchange).
    /// Returns true if sending again may succeed. Renewing authorizers
    /// invalidate the token only if it is still the current one, so N
    /// concurrent rejections cause one refresh.
    async fn on_unauthorized(&self, rejected: Option<&HeaderValue>) -> bool {
        let _ = rejected;
        false
    }

    /// Whether this authorizer can obtain a new token at all.
    fn can_refresh(&self) -> bool {
        false
    }
}
