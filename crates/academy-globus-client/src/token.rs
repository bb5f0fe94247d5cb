//! Token responses of the OAuth2 grants and their per-resource-server
//! view (`globus-auth-api.md` §4.6, §4.7).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::authorizer::renewing_now;
use crate::error::{Error, Result};
use crate::secret::Secret;

/// One token as globus-sdk stores it (`TokenStorageData`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenData {
    /// Resource server the token is for.
    pub resource_server: String,
    /// Identity that logged in, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_id: Option<String>,
    /// Space-separated scopes.
    #[serde(default)]
    pub scope: String,
    /// The access token.
    #[serde(with = "secret_serde")]
    pub access_token: Secret,
    /// The refresh token, if any.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_secret_serde"
    )]
    pub refresh_token: Option<Secret>,
    /// Expiry, epoch seconds.
    pub expires_at_seconds: i64,
    /// Usually `Bearer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
}

impl TokenData {
    /// A bearer token for `resource_server` expiring in `expires_in` seconds.
    pub fn new(
        resource_server: impl Into<String>,
        access_token: impl Into<Secret>,
        expires_in: i64,
    ) -> Self {
        TokenData {
            resource_server: resource_server.into(),
            identity_id: None,
            scope: String::new(),
            access_token: access_token.into(),
            refresh_token: None,
            expires_at_seconds: renewing_now() + expires_in,
            token_type: Some("Bearer".into()),
        }
    }
}

impl std::fmt::Debug for TokenData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenData")
            .field("resource_server", &self.resource_server)
            .field("identity_id", &self.identity_id)
            .field("scope", &self.scope)
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_at_seconds", &self.expires_at_seconds)
            .field("token_type", &self.token_type)
            .finish()
    }
}

mod secret_serde {
    use super::Secret;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(s: &Secret, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(s.expose())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Secret, D::Error> {
        String::deserialize(de).map(Secret::new)
    }
}

mod opt_secret_serde {
    use super::Secret;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(s: &Option<Secret>, ser: S) -> Result<S::Ok, S::Error> {
        match s {
            Some(s) => ser.serialize_some(s.expose()),
            None => ser.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Secret>, D::Error> {
        Option::<String>::deserialize(de).map(|o| o.map(Secret::new))
    }
}

/// One token object of a grant response.
#[derive(Clone, Deserialize)]
pub struct TokenEntry {
    /// The access token.
    #[serde(with = "secret_serde")]
    pub access_token: Secret,
    /// Space-separated scopes.
    #[serde(default)]
    pub scope: String,
    /// Lifetime in seconds (default 0).
    #[serde(default)]
    pub expires_in: i64,
    /// Usually `Bearer`.
    #[serde(default)]
    pub token_type: Option<String>,
    /// Resource server.
    pub resource_server: String,
    /// Refresh token, when `access_type=offline`.
    #[serde(default, with = "opt_secret_serde")]
    pub refresh_token: Option<Secret>,
}

impl std::fmt::Debug for TokenEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenEntry")
            .field("resource_server", &self.resource_server)
            .field("scope", &self.scope)
            .field("expires_in", &self.expires_in)
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl TokenEntry {
    fn to_data(&self, now: i64) -> TokenData {
        TokenData {
            resource_server: self.resource_server.clone(),
            identity_id: None,
            scope: self.scope.clone(),
            access_token: self.access_token.clone(),
            refresh_token: self.refresh_token.clone(),
            expires_at_seconds: now + self.expires_in,
            token_type: self.token_type.clone(),
        }
    }
}

/// Response of the authorization-code, refresh and client-credentials
/// grants: one token plus `other_tokens`.
#[derive(Clone, Deserialize)]
pub struct TokenResponse {
    /// The top-level token.
    #[serde(flatten)]
    pub token: TokenEntry,
    /// OpenID Connect id token (a JWT), when `openid` was requested.
    #[serde(default, with = "opt_secret_serde")]
    pub id_token: Option<Secret>,
    /// Echoed `state` (authorization code only).
    #[serde(default)]
    pub state: Option<String>,
    /// Tokens for other resource servers (required, may be empty).
    pub other_tokens: Vec<TokenEntry>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token", &self.token)
            .field("other_tokens", &self.other_tokens)
            .finish_non_exhaustive()
    }
}

impl TokenResponse {
    /// `{resource_server: token}` for the top-level token and every entry of
    /// `other_tokens`, with `expires_at_seconds = now + expires_in`.
    ///
    /// ```
    /// use academy_globus_client::token::TokenResponse;
    /// let r: TokenResponse = serde_json::from_str(r#"{"access_token": "a", "scope": "openid",
    ///   "expires_in": 10, "token_type": "Bearer", "resource_server": "auth.globus.org",
    ///   "other_tokens": [{"access_token": "b", "scope": "s", "expires_in": 20,
    ///   "token_type": "Bearer", "resource_server": "rs2"}]}"#).unwrap();
    /// let by = r.by_resource_server();
    /// assert_eq!(by["rs2"].access_token.expose(), "b");
    /// ```
    pub fn by_resource_server(&self) -> BTreeMap<String, TokenData> {
        let now = renewing_now();
        std::iter::once(&self.token)
            .chain(&self.other_tokens)
            .map(|t| (t.resource_server.clone(), t.to_data(now)))
            .collect()
    }

    /// The token for a (space-separated list of) scope(s); all must resolve
    /// to the same resource server.
    pub fn by_scopes(&self, scopes: &str) -> Option<TokenData> {
        by_scopes(
            std::iter::once(&self.token).chain(&self.other_tokens),
            scopes,
        )
    }

    /// The only token, for renewals (a renewal answering with several
    /// tokens is an error, as in globus-sdk).
    pub fn single_token(&self) -> Result<TokenData> {
        if !self.other_tokens.is_empty() {
            return Err(Error::InvalidResponse(format!(
                "expected one token, got {}",
                1 + self.other_tokens.len()
            )));
        }
        Ok(self.token.to_data(renewing_now()))
    }
}

fn by_scopes<'a>(
    tokens: impl Iterator<Item = &'a TokenEntry> + Clone,
    scopes: &str,
) -> Option<TokenData> {
    let mut found: Option<&TokenEntry> = None;
    for wanted in scopes.split_whitespace() {
        let t = tokens
            .clone()
            .find(|t| t.scope.split_whitespace().any(|s| s == wanted))?;
        if found.is_some_and(|f| f.resource_server != t.resource_server) {
            return None;
        }
        found = Some(t);
    }
    found.map(|t| t.to_data(renewing_now()))
}

/// Response of the dependent-token grant: a JSON array of tokens.
#[derive(Clone, Debug, Deserialize)]
#[serde(transparent)]
pub struct DependentTokens {
    /// The tokens.
    pub tokens: Vec<TokenEntry>,
}

impl DependentTokens {
    /// `{resource_server: token}`.
    pub fn by_resource_server(&self) -> BTreeMap<String, TokenData> {
        let now = renewing_now();
        self.tokens
            .iter()
            .map(|t| (t.resource_server.clone(), t.to_data(now)))
            .collect()
    }

    /// The token for a (space-separated list of) scope(s).
    pub fn by_scopes(&self, scopes: &str) -> Option<TokenData> {
        by_scopes(self.tokens.iter(), scopes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESPONSE: &str = r#"{"access_token": "AT1", "scope": "urn:globus:auth:scope:auth.globus.org:manage_projects email openid",
        "expires_in": 172800, "token_type": "Bearer", "resource_server": "auth.globus.org",
        "refresh_token": "RT1", "id_token": "jwt", "state": "_default",
        "other_tokens": [{"access_token": "AT2", "scope": "https://auth.globus.org/scopes/x/academy_exchange",
            "expires_in": 100, "token_type": "Bearer", "resource_server": "x", "refresh_token": null}]}"#;

    #[test]
    fn by_resource_server_and_scopes() {
        let r: TokenResponse = serde_json::from_str(RESPONSE).unwrap();
        let by = r.by_resource_server();
        assert_eq!(by.len(), 2);
        let auth = &by["auth.globus.org"];
        assert_eq!(auth.refresh_token.as_ref().unwrap().expose(), "RT1");
        assert!((auth.expires_at_seconds - renewing_now() - 172800).abs() <= 1);
        assert!(by["x"].refresh_token.is_none());
        assert_eq!(
            r.by_scopes("email openid").unwrap().resource_server,
            "auth.globus.org"
        );
        assert!(
            r.by_scopes("openid https://auth.globus.org/scopes/x/academy_exchange")
                .is_none()
        );
        assert!(r.single_token().is_err());
    }

    #[test]
    fn other_tokens_is_required() {
        let err = serde_json::from_str::<TokenResponse>(
            r#"{"access_token": "a", "resource_server": "r"}"#,
        );
        assert!(err.is_err());
    }

    #[test]
    fn debug_redacts() {
        let r: TokenResponse = serde_json::from_str(RESPONSE).unwrap();
        let text = format!("{r:?} {:?}", r.by_resource_server());
        for secret in ["AT1", "AT2", "RT1", "jwt"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }

    #[test]
    fn dependent_tokens() {
        let d: DependentTokens = serde_json::from_str(
            r#"[{"scope": "s1", "access_token": "a", "refresh_token": "r", "token_type": "Bearer",
                "expires_in": 5, "resource_server": "rs"}]"#,
        )
        .unwrap();
        assert_eq!(
            d.by_resource_server()["rs"]
                .refresh_token
                .as_ref()
                .unwrap()
                .expose(),
            "r"
        );
        assert_eq!(d.by_scopes("s1").unwrap().access_token.expose(), "a");
    }
}
