//! Native-app login with PKCE (`globus-auth-api.md` §4.1, §4.2): the
//! verifier and challenge, the authorize URL, and the code exchange.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use url::Url;

use crate::auth_client::AuthClient;
use crate::error::{Error, Result};
use crate::layer::base_url::slash_join;
use crate::secret::Secret;
use crate::token::TokenResponse;

/// A PKCE verifier and its S256 challenge.
#[derive(Clone)]
pub struct Pkce {
    /// The verifier (43 characters of base64url).
    pub verifier: Secret,
    /// `base64url_nopad(SHA-256(verifier))`.
    pub challenge: String,
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce")
            .field("verifier", &"<redacted>")
            .field("challenge", &self.challenge)
            .finish()
    }
}

impl Pkce {
    /// A fresh verifier from 32 random bytes, as globus-sdk generates it.
    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        Pkce::derive(Secret::new(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        ))
    }

    /// Uses a given verifier (43–128 characters of `[A-Za-z0-9~_.-]`).
    ///
    /// ```
    /// use academy_globus_client::login::Pkce;
    /// // RFC 7636 appendix B.
    /// let p = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into()).unwrap();
    /// assert_eq!(p.challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    /// ```
    pub fn from_verifier(verifier: Secret) -> Result<Self> {
        let v = verifier.expose();
        let valid_chars = v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "~_.-".contains(c));
        if !(43..=128).contains(&v.len()) || !valid_chars {
            return Err(Error::Config(
                "PKCE verifier must be 43-128 characters of [A-Za-z0-9~_.-]".into(),
            ));
        }
        Ok(Pkce::derive(verifier))
    }

    fn derive(verifier: Secret) -> Self {
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.expose().as_bytes()));
        Pkce {
            verifier,
            challenge,
        }
    }
}

/// `<auth base>/v2/web/auth-code`, the page that displays the code.
pub fn default_redirect_uri(auth_base: &Url) -> String {
    slash_join(auth_base.as_str(), "v2/web/auth-code")
}

/// Parameters of the authorize URL.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    /// Native client id.
    pub client_id: String,
    /// Redirect URI (see [`default_redirect_uri`]).
    pub redirect_uri: String,
    /// Requested scopes.
    pub scopes: Vec<String>,
    /// `state` (globus-sdk: `_default`).
    pub state: String,
    /// Ask for refresh tokens (`access_type=offline`).
    pub refresh_tokens: bool,
    /// Named-grant prefill, e.g. `academy on <host>`.
    pub prefill_named_grant: Option<String>,
    /// Force re-authentication (`prompt=login`).
    pub prompt_login: bool,
}

impl AuthorizeRequest {
    /// Academy's login: native client, default redirect, refresh tokens,
    /// `academy on <hostname>`.
    pub fn academy(auth_base: &Url, scopes: Vec<String>, hostname: &str) -> Self {
        AuthorizeRequest {
            client_id: crate::config::NATIVE_CLIENT_ID.into(),
            redirect_uri: default_redirect_uri(auth_base),
            scopes,
            state: "_default".into(),
            refresh_tokens: true,
            prefill_named_grant: Some(format!("{} on {hostname}", crate::config::APP_NAME)),
            prompt_login: false,
        }
    }

    /// The URL to open in a browser.
    ///
    /// ```
    /// use academy_globus_client::login::{AuthorizeRequest, Pkce};
    /// let base: url::Url = "https://auth.globus.org/".parse().unwrap();
    /// let req = AuthorizeRequest::academy(&base, vec!["openid".into()], "host");
    /// let url = req.url(&base, &Pkce::generate());
    /// assert!(url.as_str().starts_with("https://auth.globus.org/v2/oauth2/authorize?client_id="));
    /// ```
    pub fn url(&self, auth_base: &Url, pkce: &Pkce) -> Url {
        let mut url = Url::parse(&slash_join(auth_base.as_str(), "v2/oauth2/authorize"))
            .unwrap_or_else(|_| auth_base.clone());
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", &self.redirect_uri)
                .append_pair("scope", &self.scopes.join(" "))
                .append_pair("state", &self.state)
                .append_pair("response_type", "code")
                .append_pair("code_challenge", &pkce.challenge)
                .append_pair("code_challenge_method", "S256")
                .append_pair(
                    "access_type",
                    if self.refresh_tokens {
                        "offline"
                    } else {
                        "online"
                    },
                );
            if let Some(p) = &self.prefill_named_grant {
                q.append_pair("prefill_named_grant", p);
            }
            if self.prompt_login {
                q.append_pair("prompt", "login");
            }
        }
        url
    }
}

/// Exchanges the code the user pasted (trimmed) for tokens.
pub async fn exchange_code(
    auth: &AuthClient,
    request: &AuthorizeRequest,
    pkce: &Pkce,
    code: &str,
) -> Result<TokenResponse> {
    auth.oauth2_exchange_code_for_tokens(code.trim(), &pkce.verifier, &request.redirect_uri)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_verifier_is_valid() {
        let p = Pkce::generate();
        assert_eq!(p.verifier.expose().len(), 43);
        assert!(Pkce::from_verifier(p.verifier.clone()).is_ok());
        assert!(!format!("{p:?}").contains(p.verifier.expose()));
        assert!(Pkce::from_verifier("short".into()).is_err());
    }

    #[test]
    fn authorize_url_parameters() {
        let base: Url = "https://auth.globus.org".parse().unwrap();
        let req = AuthorizeRequest::academy(&base, vec!["openid".into(), "email".into()], "h");
        let pkce = Pkce::generate();
        let url = req.url(&base, &pkce);
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["client_id"], crate::config::NATIVE_CLIENT_ID);
        assert_eq!(
            q["redirect_uri"],
            "https://auth.globus.org/v2/web/auth-code"
        );
        assert_eq!(q["scope"], "openid email");
        assert_eq!(q["state"], "_default");
        assert_eq!(q["code_challenge"], pkce.challenge);
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["access_type"], "offline");
        assert_eq!(q["prefill_named_grant"], "academy on h");
        assert!(!q.contains_key("prompt"));
    }
}
