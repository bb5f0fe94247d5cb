//! Authentication of callers (`exchange-http-api.md` §3): who is calling and
//! which groups they belong to.

pub mod globus;

use std::collections::BTreeSet;

use axum::http::HeaderMap;

use crate::error::ServerError;

/// The caller's identity as the permission checks see it.
///
/// Python turns an empty group list into the set `{""}` (§3.1), which lets
/// anyone share through, and be granted access by, the group id `""`
/// (bug §12.9). Here `groups` holds only real group ids and the backends
/// never grant shared access through `""`; the wire format is unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The owner identity (Globus `username`; `""` without authentication).
    pub client_id: String,
    /// Active group memberships.
    pub groups: BTreeSet<String>,
}

impl ClientInfo {
    /// True when the caller is a member of `group` (never for `""`).
    pub fn in_group(&self, group: &str) -> bool {
        !group.is_empty() && self.groups.contains(group)
    }

    /// True when one of `shares` is one of the caller's groups (`""` ignored).
    pub fn shares_any<'a>(&self, shares: impl IntoIterator<Item = &'a String>) -> bool {
        shares.into_iter().any(|g| self.in_group(g))
    }
}

/// Turns request headers into a [`ClientInfo`].
#[async_trait::async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// Authenticates one request: [`ServerError::Unauthorized`] (401),
    /// [`ServerError::TokenRejected`] (403) or [`ServerError::Internal`] (500).
    async fn authenticate(&self, headers: &HeaderMap) -> Result<ClientInfo, ServerError>;
}

/// No authentication: every caller is `client_id = ""` with no groups, so
/// every caller owns every mailbox (§3.2).
#[derive(Debug, Clone, Copy, Default)]
pub struct NullAuthenticator;

#[async_trait::async_trait]
impl Authenticator for NullAuthenticator {
    async fn authenticate(&self, _headers: &HeaderMap) -> Result<ClientInfo, ServerError> {
        Ok(ClientInfo::default())
    }
}

/// The bearer token of a request (§3.3 step 1): the `Authorization` header,
/// split on single spaces into exactly `Bearer` and the token.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, ServerError> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or(ServerError::Unauthorized)?
        .to_str()
        .map_err(|_| ServerError::Unauthorized)?;
    let parts: Vec<&str> = value.split(' ').collect();
    match parts.as_slice() {
        ["Bearer", token] => Ok(token),
        _ => Err(ServerError::Unauthorized),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing_follows_python() {
        let mut h = HeaderMap::new();
        assert!(bearer_token(&h).is_err());
        h.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(bearer_token(&h).unwrap(), "abc");
        for bad in [
            "bearer abc",
            "Bearer  abc",
            "Bearer a b",
            "Bearer",
            "Basic abc",
        ] {
            h.insert("authorization", bad.parse().unwrap());
            assert!(bearer_token(&h).is_err(), "{bad}");
        }
    }

    #[test]
    fn empty_group_grants_nothing() {
        let c = ClientInfo::default();
        assert!(!c.in_group(""));
        assert!(!c.shares_any(&["".to_string()]));
    }
}
