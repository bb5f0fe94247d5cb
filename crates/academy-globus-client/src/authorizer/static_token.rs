//! Authorizers with a fixed header: a static bearer token and HTTP Basic.

use http::HeaderValue;

use super::Authorizer;
use crate::error::Result;
use crate::secret::{Secret, basic_header};

/// `Authorization: Bearer <token>` with a fixed token; cannot refresh.
///
/// ```
/// use academy_globus_client::authorizer::StaticTokenAuthorizer;
/// let a = StaticTokenAuthorizer::new("tok".into());
/// assert!(!format!("{a:?}").contains("tok\""));
/// ```
pub struct StaticTokenAuthorizer {
    header: Result<HeaderValue, String>,
}

impl StaticTokenAuthorizer {
    /// Uses `token` for every request.
    pub fn new(token: Secret) -> Self {
        StaticTokenAuthorizer {
            header: token.bearer_header().map_err(|e| e.to_string()),
        }
    }
}

impl std::fmt::Debug for StaticTokenAuthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticTokenAuthorizer { token: <redacted> }")
    }
}

#[async_trait::async_trait]
impl Authorizer for StaticTokenAuthorizer {
    async fn authorization(&self) -> Result<Option<HeaderValue>> {
        self.header
            .clone()
            .map(Some)
            .map_err(crate::error::Error::Config)
    }
}

/// `Authorization: Basic base64(client_id:secret)`, for confidential
/// clients calling the OAuth2 endpoints.
pub struct BasicAuthorizer {
    client_id: String,
    header: Result<HeaderValue, String>,
}

impl BasicAuthorizer {
    /// Authenticates as `client_id` with `secret`.
    pub fn new(client_id: impl Into<String>, secret: &Secret) -> Self {
        let client_id = client_id.into();
        let header = basic_header(&client_id, secret).map_err(|e| e.to_string());
        BasicAuthorizer { client_id, header }
    }
}

impl std::fmt::Debug for BasicAuthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuthorizer")
            .field("client_id", &self.client_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[async_trait::async_trait]
impl Authorizer for BasicAuthorizer {
    async fn authorization(&self) -> Result<Option<HeaderValue>> {
        self.header
            .clone()
            .map(Some)
            .map_err(crate::error::Error::Config)
    }
}
