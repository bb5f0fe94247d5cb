//! The renewing authorizer (globus-sdk's `RenewingAuthorizer`): keeps an
//! access token, renews it 60 s before it expires, once for all
//! concurrent callers, and reports renewed tokens to a hook.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use tokio::sync::Mutex;

use super::Authorizer;
use crate::error::Result;
use crate::secret::Secret;
use crate::token::TokenData;

/// Tokens are treated as expired this many seconds early.
pub const EXPIRES_ADJUST_SECONDS: i64 = 60;

/// Fetches a new token (a refresh grant, a client-credentials grant, …).
#[async_trait::async_trait]
pub trait TokenSource: Send + Sync + std::fmt::Debug {
    /// Obtains a new token. A rejected grant must fail with
    /// [`crate::Error::LoginRequired`].
    async fn fetch(&self) -> Result<TokenData>;

    /// Whether [`TokenSource::fetch`] can be called at all.
    fn can_refresh(&self) -> bool {
        true
    }
}

/// Called with every renewed token, e.g. to persist it.
pub type OnRefresh = Arc<dyn Fn(&TokenData) -> Result<()> + Send + Sync>;

#[derive(Default)]
struct State {
    access_token: Option<Secret>,
    expires_at: Option<i64>,
}

/// An [`Authorizer`] that renews its token from a [`TokenSource`].
///
/// Unlike globus-sdk it never performs I/O in the constructor: without a
/// seed token the first request fetches one.
///
/// ```no_run
/// # async fn f(auth: academy_globus_client::AuthClient) -> academy_globus_client::Result<()> {
/// use academy_globus_client::authorizer::{Authorizer, RenewingAuthorizer};
/// let a = RenewingAuthorizer::from_refresh_token(auth, "refresh".into());
/// let header = a.authorization().await?;
/// # Ok(()) }
/// ```
pub struct RenewingAuthorizer {
    source: Arc<dyn TokenSource>,
    state: Mutex<State>,
    on_refresh: Option<OnRefresh>,
}

impl std::fmt::Debug for RenewingAuthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenewingAuthorizer")
            .field("source", &self.source)
            .field("access_token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

pub(crate) fn renewing_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

impl RenewingAuthorizer {
    /// Renews from `source`; the first request fetches a token.
    pub fn new(source: Arc<dyn TokenSource>) -> Self {
        RenewingAuthorizer {
            source,
            state: Mutex::new(State::default()),
            on_refresh: None,
        }
    }

    /// Seeds the current token and its expiry (epoch seconds).
    pub fn with_access_token(mut self, token: Secret, expires_at_seconds: i64) -> Self {
        self.state = Mutex::new(State {
            access_token: Some(token),
            expires_at: Some(expires_at_seconds),
        });
        self
    }

    /// Calls `hook` after every renewal. A failing hook is logged and does
    /// not fail the request.
    pub fn on_refresh(mut self, hook: OnRefresh) -> Self {
        self.on_refresh = Some(hook);
        self
    }

    /// Forgets the current token's expiry, so the next request renews.
    pub async fn invalidate(&self) {
        self.state.lock().await.expires_at = None;
    }

    /// The current token, renewed first if needed.
    pub async fn access_token(&self) -> Result<Secret> {
        // Holding the lock across the fetch is the single-flight: callers
        // arriving during a renewal wait for it and then reuse its token.
        let mut state = self.state.lock().await;
        let fresh = match (&state.access_token, state.expires_at) {
            (Some(_), Some(exp)) => renewing_now() <= exp - EXPIRES_ADJUST_SECONDS,
            _ => false,
        };
        if !fresh {
            let token = self.source.fetch().await?;
            tracing::debug!(
                resource_server = %token.resource_server,
                expires_at = token.expires_at_seconds,
                "renewed access token"
            );
            state.access_token = Some(token.access_token.clone());
            state.expires_at = Some(token.expires_at_seconds);
            if let Some(hook) = &self.on_refresh
                && let Err(e) = hook(&token)
            {
                tracing::warn!(error = %e, "could not persist renewed token");
            }
        }
        state
            .access_token
            .clone()
            .ok_or_else(|| crate::Error::InvalidResponse("no access token".into()))
    }
}

#[async_trait::async_trait]
impl Authorizer for RenewingAuthorizer {
    async fn authorization(&self) -> Result<Option<HeaderValue>> {
        Ok(Some(self.access_token().await?.bearer_header()?))
    }

    async fn on_unauthorized(&self, rejected: Option<&HeaderValue>) -> bool {
        if !self.source.can_refresh() {
            return false;
        }
        let mut state = self.state.lock().await;
        let current = state
            .access_token
            .as_ref()
            .and_then(|t| t.bearer_header().ok());
        // Only the token that was rejected is invalidated; if another
        // caller already renewed it, the new one is simply used.
        if current.as_ref().map(HeaderValue::as_bytes) == rejected.map(HeaderValue::as_bytes) {
            state.expires_at = None;
        }
        true
    }

    fn can_refresh(&self) -> bool {
        self.source.can_refresh()
    }
}
