//! Base URLs, identifiers, scopes and environment variables
//! (`globus-auth-api.md` §1, §3; `globus-exchange-client.md` §4).
//!
//! Every function that reads the environment has a `*_from` twin taking a
//! lookup closure, so tests configure values without touching the process
//! environment.

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::error::{Error, Result};

/// The hosted exchange's Globus client id (its resource server).
pub const DEFAULT_EXCHANGE_CLIENT_ID: &str = "ca1e2fbf-4e73-40a6-b2ab-c9458e5fcf99";
/// The UUID of the exchange scope `academy_exchange`.
pub const DEFAULT_EXCHANGE_SCOPE_ID: &str = "a9e8d535-83e9-40c6-baf4-3f16538b2f10";
/// Academy's native (public) Globus client used for user logins.
pub const NATIVE_CLIENT_ID: &str = "1624cf3f-45ee-4f54-9de4-2d5d79191346";
/// The hosted exchange's base URL.
pub const DEFAULT_EXCHANGE_URL: &str = "https://exchange.academy-agents.org/v1";
/// Resource server of Globus Auth itself.
pub const AUTH_RESOURCE_SERVER: &str = "auth.globus.org";
/// Scope needed to create and delete clients, credentials, scopes, projects.
pub const MANAGE_PROJECTS_SCOPE: &str = "urn:globus:auth:scope:auth.globus.org:manage_projects";
/// Groups scope the exchange server obtains as a dependent token.
pub const GROUPS_VIEW_SCOPE: &str =
    "urn:globus:auth:scope:groups.api.globus.org:view_my_groups_and_memberships";
/// The academy-py version we claim in the `academy_version` header.
pub const ACADEMY_VERSION: &str = "1.0.0";
/// The globus-sdk version whose behaviour this crate reproduces.
pub const GLOBUS_SDK_VERSION: &str = "4.10.0";
/// Application name used in the user agent and named-grant prefill.
pub const APP_NAME: &str = "academy";

/// `GLOBUS_SDK_ENVIRONMENT`
pub const ENV_ENVIRONMENT: &str = "GLOBUS_SDK_ENVIRONMENT";
/// `GLOBUS_SDK_SERVICE_URL_AUTH`
pub const ENV_SERVICE_URL_AUTH: &str = "GLOBUS_SDK_SERVICE_URL_AUTH";
/// `GLOBUS_SDK_HTTP_TIMEOUT`
pub const ENV_HTTP_TIMEOUT: &str = "GLOBUS_SDK_HTTP_TIMEOUT";
/// `ACADEMY_EXCHANGE_CLIENT_ID`
pub const ENV_EXCHANGE_CLIENT_ID: &str = "ACADEMY_EXCHANGE_CLIENT_ID";
/// `ACADEMY_GLOBUS_SCOPE_ID`
pub const ENV_SCOPE_ID: &str = "ACADEMY_GLOBUS_SCOPE_ID";
/// `ACADEMY_GLOBUS_CLIENT_ID`
pub const ENV_GLOBUS_CLIENT_ID: &str = "ACADEMY_GLOBUS_CLIENT_ID";
/// `ACADEMY_GLOBUS_CLIENT_SECRET`
pub const ENV_GLOBUS_CLIENT_SECRET: &str = "ACADEMY_GLOBUS_CLIENT_SECRET";
/// `ACADEMY_HOME`
pub const ENV_ACADEMY_HOME: &str = "ACADEMY_HOME";
/// `GLOBUS_SDK_VERIFY_SSL`
pub const ENV_VERIFY_SSL: &str = "GLOBUS_SDK_VERIFY_SSL";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// `User-Agent` value, as globus-sdk sends it for Academy's apps.
pub fn user_agent() -> String {
    format!("globus-sdk-py-{GLOBUS_SDK_VERSION}/{APP_NAME}")
}

/// `X-Globus-Client-Info` value.
pub fn client_info() -> String {
    format!("product=python-sdk,version={GLOBUS_SDK_VERSION}")
}

/// Auth base URL of a named Globus environment (`production`, `preview`,
/// `sandbox`, `integration`, `test`, `staging`).
pub fn auth_url_for_environment(environment: &str) -> Result<Url> {
    let text = match environment {
        "production" => "https://auth.globus.org/".to_string(),
        "preview" => "https://auth.preview.globus.org/".to_string(),
        "sandbox" | "integration" | "test" | "staging" => {
            format!("https://auth.{environment}.globuscs.info/")
        }
        other => {
            return Err(Error::Config(format!(
                "unknown Globus environment {other:?}"
            )));
        }
    };
    parse_url(&text)
}

/// Globus Auth base URL: `GLOBUS_SDK_SERVICE_URL_AUTH` if non-empty, else
/// the URL of `GLOBUS_SDK_ENVIRONMENT` (default `production`).
///
/// ```
/// use academy_globus_client::config::auth_base_url_from;
/// let url = auth_base_url_from(|k| (k == "GLOBUS_SDK_ENVIRONMENT").then(|| "sandbox".into())).unwrap();
/// assert_eq!(url.as_str(), "https://auth.sandbox.globuscs.info/");
/// ```
pub fn auth_base_url_from(lookup: impl Fn(&str) -> Option<String>) -> Result<Url> {
    if let Some(url) = lookup(ENV_SERVICE_URL_AUTH).filter(|v| !v.is_empty()) {
        return parse_url(&url);
    }
    let environment = lookup(ENV_ENVIRONMENT)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "production".into());
    auth_url_for_environment(&environment)
}

/// [`auth_base_url_from`] over the process environment.
pub fn auth_base_url() -> Result<Url> {
    auth_base_url_from(env)
}

/// Per-request timeout from `GLOBUS_SDK_HTTP_TIMEOUT` (default 60 s; `-1`
/// → none; empty → 60 s; anything non-numeric → error).
pub fn http_timeout_from(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Duration>> {
    let Some(raw) = lookup(ENV_HTTP_TIMEOUT).filter(|v| !v.trim().is_empty()) else {
        return Ok(Some(Duration::from_secs(60)));
    };
    let secs: f64 = raw
        .trim()
        .parse()
        .map_err(|_| Error::Config(format!("{ENV_HTTP_TIMEOUT}={raw:?} is not a number")))?;
    if secs == -1.0 {
        return Ok(None);
    }
    Duration::try_from_secs_f64(secs)
        .map(Some)
        .map_err(|_| Error::Config(format!("{ENV_HTTP_TIMEOUT}={raw:?} is not a valid timeout")))
}

/// [`http_timeout_from`] over the process environment.
pub fn http_timeout() -> Result<Option<Duration>> {
    http_timeout_from(env)
}

/// The exchange's client id / resource server (`ACADEMY_EXCHANGE_CLIENT_ID`).
pub fn exchange_client_id_from(lookup: impl Fn(&str) -> Option<String>) -> String {
    lookup(ENV_EXCHANGE_CLIENT_ID)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_EXCHANGE_CLIENT_ID.into())
}

/// [`exchange_client_id_from`] over the process environment.
pub fn exchange_client_id() -> String {
    exchange_client_id_from(env)
}

/// The exchange scope id (`ACADEMY_GLOBUS_SCOPE_ID`).
pub fn exchange_scope_id_from(lookup: impl Fn(&str) -> Option<String>) -> String {
    lookup(ENV_SCOPE_ID)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_EXCHANGE_SCOPE_ID.into())
}

/// [`exchange_scope_id_from`] over the process environment.
pub fn exchange_scope_id() -> String {
    exchange_scope_id_from(env)
}

/// The exchange scope string for a resource server.
pub fn exchange_scope(resource_server: &str) -> String {
    format!("https://auth.globus.org/scopes/{resource_server}/academy_exchange")
}

/// The launch scope string of an agent client.
pub fn agent_launch_scope(agent_client_id: &str) -> String {
    format!("https://auth.globus.org/scopes/{agent_client_id}/launch")
}

/// Client credentials from `ACADEMY_GLOBUS_CLIENT_ID` and
/// `ACADEMY_GLOBUS_CLIENT_SECRET`, only when both are set (else a user login
/// is used, as academy-py's `get_globus_app` does).
pub fn client_credentials_from(
    lookup: impl Fn(&str) -> Option<String>,
) -> Option<(String, crate::secret::Secret)> {
    let id = lookup(ENV_GLOBUS_CLIENT_ID).filter(|v| !v.is_empty())?;
    let secret = lookup(ENV_GLOBUS_CLIENT_SECRET).filter(|v| !v.is_empty())?;
    Some((id, crate::secret::Secret::new(secret)))
}

/// [`client_credentials_from`] over the process environment.
pub fn client_credentials() -> Option<(String, crate::secret::Secret)> {
    client_credentials_from(env)
}

/// `$ACADEMY_HOME`, defaulting to `<platform config dir>/academy`.
pub fn academy_home_from(lookup: impl Fn(&str) -> Option<String>) -> Result<PathBuf> {
    if let Some(home) = lookup(ENV_ACADEMY_HOME).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    dirs::config_dir()
        .map(|d| d.join("academy"))
        .ok_or_else(|| Error::Config("no platform config directory; set ACADEMY_HOME".into()))
}

/// [`academy_home_from`] over the process environment.
pub fn academy_home() -> Result<PathBuf> {
    academy_home_from(env)
}

/// How the HTTPS server certificate is verified (`GLOBUS_SDK_VERIFY_SSL`,
/// `globus-auth-api.md` §1.3).
///
/// ```
/// use academy_globus_client::config::TlsVerification;
/// let v = TlsVerification::from_env_with(|k| (k == "GLOBUS_SDK_VERIFY_SSL").then(|| "off".into())).unwrap();
/// assert_eq!(v, TlsVerification::Disabled);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TlsVerification {
    /// Verify against the Mozilla roots bundled by `webpki-roots` (default).
    #[default]
    WebPki,
    /// Accept any server certificate. **Development only**: anyone on the
    /// path can read and alter the traffic, bearer tokens included.
    Disabled,
    /// Verify against the PEM certificates of this file only.
    CaBundle(PathBuf),
}

impl TlsVerification {
    /// Parses `GLOBUS_SDK_VERIFY_SSL` as globus-sdk does: unset → verify;
    /// `y/yes/t/true/on/1` → verify, `n/no/f/false/off/0` → don't
    /// (case-insensitive); otherwise the path of an existing CA bundle
    /// file; anything else is an [`Error::Config`].
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let Some(raw) = lookup(ENV_VERIFY_SSL) else {
            return Ok(TlsVerification::WebPki);
        };
        match raw.to_ascii_lowercase().as_str() {
            "y" | "yes" | "t" | "true" | "on" | "1" => return Ok(TlsVerification::WebPki),
            "n" | "no" | "f" | "false" | "off" | "0" => return Ok(TlsVerification::Disabled),
            _ => {}
        }
        let path = PathBuf::from(&raw);
        if path.is_file() {
            Ok(TlsVerification::CaBundle(path))
        } else {
            Err(Error::Config(format!(
                "{ENV_VERIFY_SSL}={raw:?} is neither a boolean nor the path of an existing CA bundle file"
            )))
        }
    }

    /// [`TlsVerification::from_env_with`] over the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_env_with(env)
    }
}

/// Parses a URL, with a typed error.
pub fn parse_url(text: &str) -> Result<Url> {
    Url::parse(text).map_err(|e| Error::Config(format!("invalid URL {text:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn environments() {
        assert_eq!(
            auth_base_url_from(none).unwrap().as_str(),
            "https://auth.globus.org/"
        );
        let url = auth_base_url_from(|k| {
            (k == ENV_SERVICE_URL_AUTH).then(|| "http://127.0.0.1:9/".into())
        })
        .unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9/");
        assert!(auth_base_url_from(|k| (k == ENV_ENVIRONMENT).then(|| "mars".into())).is_err());
    }

    #[test]
    fn timeouts() {
        assert_eq!(
            http_timeout_from(none).unwrap(),
            Some(Duration::from_secs(60))
        );
        assert_eq!(http_timeout_from(|_| Some("-1".into())).unwrap(), None);
        assert_eq!(
            http_timeout_from(|_| Some("2.5".into())).unwrap(),
            Some(Duration::from_millis(2500))
        );
        assert!(http_timeout_from(|_| Some("soon".into())).is_err());
    }

    #[test]
    fn ids_and_credentials() {
        assert_eq!(exchange_client_id_from(none), DEFAULT_EXCHANGE_CLIENT_ID);
        assert_eq!(
            exchange_scope(DEFAULT_EXCHANGE_CLIENT_ID),
            "https://auth.globus.org/scopes/ca1e2fbf-4e73-40a6-b2ab-c9458e5fcf99/academy_exchange"
        );
        assert!(
            client_credentials_from(|k| (k == ENV_GLOBUS_CLIENT_ID).then(|| "x".into())).is_none()
        );
        let (id, secret) = client_credentials_from(|k| Some(format!("v-{k}"))).unwrap();
        assert_eq!(id, "v-ACADEMY_GLOBUS_CLIENT_ID");
        assert_eq!(secret.expose(), "v-ACADEMY_GLOBUS_CLIENT_SECRET");
        assert_eq!(
            academy_home_from(|_| Some("/tmp/h".into())).unwrap(),
            PathBuf::from("/tmp/h")
        );
    }
}
