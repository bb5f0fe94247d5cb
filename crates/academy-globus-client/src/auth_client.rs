//! Globus Auth: OAuth2 grants, introspection, revocation and the
//! client/scope/project management API (`globus-auth-api.md` §4, §6).

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use url::Url;

use crate::authorizer::{Authorizer, BasicAuthorizer};
use crate::config::TlsVerification;
use crate::error::{Error, Result};
use crate::http::{FormFields, HttpClient, RequestBody};
use crate::layer::RetryPolicy;
use crate::secret::Secret;
use crate::token::{DependentTokens, TokenResponse};

/// Settings shared by the Auth clients.
#[derive(Debug, Clone)]
pub struct AuthClientConfig {
    /// Auth base URL (e.g. `https://auth.globus.org/`).
    pub base_url: Url,
    /// Retry policy (globus-sdk's by default).
    pub retry: RetryPolicy,
    /// Per-attempt timeout.
    pub timeout: Option<Duration>,
    /// Allow plain http to non-loopback hosts.
    pub allow_insecure_http: bool,
    /// Server certificate verification (`GLOBUS_SDK_VERIFY_SSL`).
    pub tls_verification: TlsVerification,
}

impl AuthClientConfig {
    /// From `GLOBUS_SDK_ENVIRONMENT`, `GLOBUS_SDK_SERVICE_URL_AUTH`,
    /// `GLOBUS_SDK_HTTP_TIMEOUT` and `GLOBUS_SDK_VERIFY_SSL`.
    pub fn from_env() -> Result<Self> {
        Ok(AuthClientConfig {
            base_url: crate::config::auth_base_url()?,
            retry: RetryPolicy::default(),
            timeout: crate::config::http_timeout()?,
            allow_insecure_http: false,
            tls_verification: TlsVerification::from_env()?,
        })
    }

    /// Defaults for an explicit base URL (no environment is read: webpki
    /// roots verification).
    pub fn with_base_url(base_url: Url) -> Self {
        AuthClientConfig {
            base_url,
            retry: RetryPolicy::default(),
            timeout: Some(Duration::from_secs(60)),
            allow_insecure_http: false,
            tls_verification: TlsVerification::WebPki,
        }
    }
}

/// Who this client is when calling the OAuth2 endpoints.
#[derive(Clone)]
pub enum ClientIdentity {
    /// A native (public) app: `client_id` sent as a form field, no secret.
    Native {
        /// The client id.
        client_id: String,
    },
    /// A confidential app: HTTP Basic on every OAuth2 call.
    Confidential {
        /// The client id.
        client_id: String,
        /// The client secret.
        secret: Secret,
    },
    /// No client (service API calls only).
    None,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientIdentity::Native { client_id } => write!(f, "Native({client_id})"),
            ClientIdentity::Confidential { client_id, .. } => {
                write!(f, "Confidential({client_id}, secret: <redacted>)")
            }
            ClientIdentity::None => f.write_str("None"),
        }
    }
}

/// A Globus Auth client.
///
/// ```no_run
/// # async fn f() -> academy_globus_client::Result<()> {
/// use academy_globus_client::{AuthClient, AuthClientConfig};
/// let auth = AuthClient::confidential("client-id", "secret".into(), AuthClientConfig::from_env()?)?;
/// let tokens = auth.oauth2_client_credentials_tokens(&["openid"]).await?;
/// let by_rs = tokens.by_resource_server();
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct AuthClient {
    identity: ClientIdentity,
    oauth: HttpClient,
    service: Option<HttpClient>,
    config: AuthClientConfig,
}

fn http_for(
    config: &AuthClientConfig,
    authorizer: Option<Arc<dyn Authorizer>>,
) -> Result<HttpClient> {
    let mut b = HttpClient::builder(config.base_url.clone())
        .retry(config.retry.clone())
        .timeout(config.timeout)
        .allow_insecure_http(config.allow_insecure_http)
        .tls_verification(config.tls_verification.clone())
        .auth_api_errors(true);
    if let Some(a) = authorizer {
        b = b.authorizer(a);
    }
    b.build()
}

/// Builds `{key: value}` from optional fields, omitting absent ones.
fn fields(pairs: &[(&str, Option<String>)]) -> FormFields {
    FormFields(
        pairs
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_string(), v.clone())))
            .collect(),
    )
}

impl AuthClient {
    /// A native (public) app client.
    pub fn native(client_id: impl Into<String>, config: AuthClientConfig) -> Result<Self> {
        Ok(AuthClient {
            identity: ClientIdentity::Native {
                client_id: client_id.into(),
            },
            oauth: http_for(&config, None)?,
            service: None,
            config,
        })
    }

    /// A confidential app client (Basic auth on OAuth2 calls).
    pub fn confidential(
        client_id: impl Into<String>,
        secret: Secret,
        config: AuthClientConfig,
    ) -> Result<Self> {
        let client_id = client_id.into();
        let basic = Arc::new(BasicAuthorizer::new(client_id.clone(), &secret));
        Ok(AuthClient {
            oauth: http_for(&config, Some(basic))?,
            identity: ClientIdentity::Confidential { client_id, secret },
            service: None,
            config,
        })
    }

    /// A client for the service API only (`/v2/api/...`, userinfo).
    pub fn service(authorizer: Arc<dyn Authorizer>, config: AuthClientConfig) -> Result<Self> {
        AuthClient {
            identity: ClientIdentity::None,
            oauth: http_for(&config, None)?,
            service: None,
            config,
        }
        .with_service_authorizer(authorizer)
    }

    /// Adds a bearer authorizer (token for `auth.globus.org` with
    /// `manage_projects`) for the service API.
    pub fn with_service_authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Result<Self> {
        self.service = Some(http_for(&self.config, Some(authorizer))?);
        Ok(self)
    }

    /// The client id, if any.
    pub fn client_id(&self) -> Option<&str> {
        match &self.identity {
            ClientIdentity::Native { client_id }
            | ClientIdentity::Confidential { client_id, .. } => Some(client_id),
            ClientIdentity::None => None,
        }
    }

    /// The Auth base URL.
    pub fn base_url(&self) -> &Url {
        &self.config.base_url
    }

    fn native_id(&self) -> Option<String> {
        match &self.identity {
            ClientIdentity::Native { client_id } => Some(client_id.clone()),
            _ => None,
        }
    }

    async fn form(&self, path: &str, form: FormFields) -> Result<crate::http::BufferedResponse> {
        self.oauth
            .execute(
                Method::POST,
                path,
                RequestBody::Form(form),
                HeaderMap::new(),
            )
            .await
    }

    fn service_http(&self) -> Result<&HttpClient> {
        self.service
            .as_ref()
            .ok_or_else(|| Error::Config("this AuthClient has no service authorizer".into()))
    }

    async fn api(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        let body = body.map_or(RequestBody::Empty, RequestBody::Json);
        self.service_http()?
            .execute(method, path, body, HeaderMap::new())
            .await?
            .json()
    }

    /// `grant_type=client_credentials` for `scopes` (confidential clients).
    pub async fn oauth2_client_credentials_tokens(&self, scopes: &[&str]) -> Result<TokenResponse> {
        let form = fields(&[
            ("grant_type", Some("client_credentials".into())),
            ("scope", Some(scopes.join(" "))),
        ]);
        self.form("v2/oauth2/token", form).await?.json()
    }

    /// `grant_type=refresh_token`.
    pub async fn oauth2_refresh_token(&self, refresh_token: &Secret) -> Result<TokenResponse> {
        let form = fields(&[
            ("refresh_token", Some(refresh_token.expose().to_string())),
            ("grant_type", Some("refresh_token".into())),
            ("client_id", self.native_id()),
        ]);
        self.form("v2/oauth2/token", form).await?.json()
    }

    /// The dependent-token grant for `token` (Basic auth of the resource
    /// server that received it); `refresh_tokens` sends `access_type=offline`.
    pub async fn oauth2_get_dependent_tokens(
        &self,
        token: &Secret,
        scope: Option<&str>,
        refresh_tokens: bool,
    ) -> Result<DependentTokens> {
        let form = fields(&[
            (
                "grant_type",
                Some("urn:globus:auth:grant_type:dependent_token".into()),
            ),
            ("token", Some(token.expose().to_string())),
            ("scope", scope.map(str::to_string)),
            ("access_type", refresh_tokens.then(|| "offline".to_string())),
        ]);
        self.form("v2/oauth2/token", form).await?.json()
    }

    /// Exchanges an authorization code (native app with PKCE).
    pub async fn oauth2_exchange_code_for_tokens(
        &self,
        code: &str,
        verifier: &Secret,
        redirect_uri: &str,
    ) -> Result<TokenResponse> {
        let form = fields(&[
            ("client_id", self.native_id()),
            ("grant_type", Some("authorization_code".into())),
            ("code", Some(code.to_string())),
            ("code_verifier", Some(verifier.expose().to_string())),
            ("redirect_uri", Some(redirect_uri.to_string())),
        ]);
        self.form("v2/oauth2/token", form).await?.json()
    }

    /// Token introspection (confidential clients).
    pub async fn oauth2_token_introspect(
        &self,
        token: &Secret,
        include: Option<&str>,
    ) -> Result<IntrospectResponse> {
        let form = fields(&[
            ("token", Some(token.expose().to_string())),
            ("include", include.map(str::to_string)),
        ]);
        self.form("v2/oauth2/token/introspect", form).await?.json()
    }

    /// Revokes an access or refresh token.
    pub async fn oauth2_revoke_token(&self, token: &Secret) -> Result<()> {
        let form = fields(&[
            ("token", Some(token.expose().to_string())),
            ("client_id", self.native_id()),
        ]);
        self.form("v2/oauth2/token/revoke", form).await.map(drop)
    }

    /// `POST /v2/api/clients`.
    pub async fn create_client(&self, client: &CreateClient) -> Result<ClientRecord> {
        let body = json!({ "client": client });
        let v = self.api(Method::POST, "v2/api/clients", Some(body)).await?;
        unwrap_key(v, "client")
    }

    /// `POST /v2/api/clients/{client_id}/credentials`.
    pub async fn create_client_credential(
        &self,
        client_id: &str,
        name: &str,
    ) -> Result<Credential> {
        let body = json!({ "credential": { "name": name } });
        let path = format!("v2/api/clients/{client_id}/credentials");
        let v = self.api(Method::POST, &path, Some(body)).await?;
        unwrap_key(v, "credential")
    }

    /// `POST /v2/api/clients/{client_id}/scopes`. Accepts both response
    /// shapes (`{"scopes": [{…}]}` from the service, `{"scope": {…}}` from
    /// the SDK's fixture) and returns the first scope.
    pub async fn create_scope(&self, client_id: &str, scope: &CreateScope) -> Result<ScopeRecord> {
        let body = json!({ "scope": scope });
        let path = format!("v2/api/clients/{client_id}/scopes");
        let mut v = self.api(Method::POST, &path, Some(body)).await?;
        let first = match v.get_mut("scopes").and_then(Value::as_array_mut) {
            Some(list) if !list.is_empty() => list.swap_remove(0),
            _ => v.get_mut("scope").map(Value::take).ok_or_else(|| {
                Error::InvalidResponse("create scope: no `scopes` or `scope`".into())
            })?,
        };
        serde_json::from_value(first)
            .map_err(|e| Error::InvalidResponse(format!("create scope: {e}")))
    }

    /// `DELETE /v2/api/clients/{client_id}`; returns the deleted client.
    pub async fn delete_client(&self, client_id: &str) -> Result<Value> {
        let path = format!("v2/api/clients/{client_id}");
        self.api(Method::DELETE, &path, None).await
    }

    /// `GET /v2/api/projects`: projects on which the caller is an admin.
    pub async fn get_projects(&self) -> Result<Vec<Project>> {
        let v = self.api(Method::GET, "v2/api/projects", None).await?;
        unwrap_key(v, "projects")
    }

    /// `POST /v2/api/projects` (at least one admin list must be non-empty).
    pub async fn create_project(
        &self,
        display_name: &str,
        contact_email: &str,
        admin_ids: &[&str],
        admin_group_ids: &[&str],
    ) -> Result<Project> {
        if admin_ids.is_empty() && admin_group_ids.is_empty() {
            return Err(Error::Config(
                "create_project needs at least one admin identity or group".into(),
            ));
        }
        let mut project = json!({ "display_name": display_name, "contact_email": contact_email });
        if !admin_ids.is_empty() {
            project["admin_ids"] = json!(admin_ids);
        }
        if !admin_group_ids.is_empty() {
            project["admin_group_ids"] = json!(admin_group_ids);
        }
        let v = self
            .api(
                Method::POST,
                "v2/api/projects",
                Some(json!({ "project": project })),
            )
            .await?;
        unwrap_key(v, "project")
    }

    /// `GET /v2/oauth2/userinfo`.
    pub async fn userinfo(&self) -> Result<Userinfo> {
        let v = self.api(Method::GET, "v2/oauth2/userinfo", None).await?;
        serde_json::from_value(v).map_err(|e| Error::InvalidResponse(format!("userinfo: {e}")))
    }
}

fn unwrap_key<T: serde::de::DeserializeOwned>(mut v: Value, key: &str) -> Result<T> {
    let inner = v
        .get_mut(key)
        .map(Value::take)
        .ok_or_else(|| Error::InvalidResponse(format!("missing `{key}` in response")))?;
    serde_json::from_value(inner).map_err(|e| Error::InvalidResponse(format!("`{key}`: {e}")))
}

/// Token introspection result. An inactive token has only `active: false`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct IntrospectResponse {
    /// Whether the token is valid (absent counts as inactive).
    #[serde(default)]
    pub active: bool,
    /// Space-separated scopes.
    #[serde(default)]
    pub scope: Option<String>,
    /// Client the token was issued to.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Username of the identity.
    #[serde(default)]
    pub username: Option<String>,
    /// Identity id.
    #[serde(default)]
    pub sub: Option<String>,
    /// Audiences (resource servers).
    #[serde(default)]
    pub aud: Vec<String>,
    /// Expiry (epoch seconds).
    #[serde(default)]
    pub exp: Option<i64>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Body of `create_client`; absent options are omitted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CreateClient {
    /// Client name (no line breaks).
    pub name: String,
    /// Project id.
    pub project: String,
    /// e.g. `hybrid_confidential_client_resource_server`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_type: Option<String>,
    /// Alternative to `client_type`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_client: Option<bool>,
    /// `public` or `private`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visibility: Option<String>,
    /// Redirect URIs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
    /// Additional fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CreateClient {
    /// Academy's agent client: hybrid confidential client + resource server, private.
    pub fn agent(name: impl Into<String>, project: impl Into<String>) -> Self {
        CreateClient {
            name: name.into(),
            project: project.into(),
            client_type: Some("hybrid_confidential_client_resource_server".into()),
            visibility: Some("private".into()),
            ..CreateClient::default()
        }
    }
}

/// A client as returned by the API.
#[derive(Debug, Clone, Deserialize)]
pub struct ClientRecord {
    /// Client id.
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Project id.
    #[serde(default)]
    pub project: Option<String>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A client credential; `secret` is only returned at creation.
#[derive(Clone, Deserialize)]
pub struct Credential {
    /// Credential id.
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Owning client id.
    #[serde(default)]
    pub client: Option<String>,
    /// The client secret.
    #[serde(deserialize_with = "secret_de")]
    pub secret: Secret,
}

fn secret_de<'de, D: serde::Deserializer<'de>>(de: D) -> std::result::Result<Secret, D::Error> {
    String::deserialize(de).map(Secret::new)
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("id", &self.id)
            .field("client", &self.client)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A dependent scope of [`CreateScope`], referred to by scope id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DependentScope {
    /// Scope id (UUID), not the scope string.
    pub scope: String,
    /// Whether the dependency is optional.
    pub optional: bool,
    /// Whether a refresh token is needed.
    pub requires_refresh_token: bool,
}

/// Body of `create_scope`.
#[derive(Debug, Clone, Serialize)]
pub struct CreateScope {
    /// Display name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Suffix: lowercase letters, digits, underscores.
    pub scope_suffix: String,
    /// Whether refresh tokens are allowed.
    pub allows_refresh_token: bool,
    /// Dependent scopes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependent_scopes: Vec<DependentScope>,
    /// Advertised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertised: Option<bool>,
    /// Required domains.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_domains: Option<Vec<String>>,
}

impl CreateScope {
    /// Academy's agent `launch` scope depending on the exchange scope id.
    pub fn agent_launch(exchange_scope_id: impl Into<String>) -> Self {
        CreateScope {
            name: "Agent launch".into(),
            description: "Launch agent".into(),
            scope_suffix: "launch".into(),
            allows_refresh_token: true,
            dependent_scopes: vec![DependentScope {
                scope: exchange_scope_id.into(),
                optional: false,
                requires_refresh_token: true,
            }],
            advertised: None,
            required_domains: None,
        }
    }
}

/// A scope as returned by the API.
#[derive(Debug, Clone, Deserialize)]
pub struct ScopeRecord {
    /// Scope id.
    pub id: String,
    /// Full scope string.
    pub scope_string: String,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A project.
#[derive(Debug, Clone, Deserialize)]
pub struct Project {
    /// Project id.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// OpenID Connect userinfo.
#[derive(Debug, Clone, Deserialize)]
pub struct Userinfo {
    /// Identity id.
    pub sub: String,
    /// Email, with the `email` scope.
    #[serde(default)]
    pub email: Option<String>,
    /// Other claims.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_omit_absent_fields() {
        let c = serde_json::to_value(CreateClient::agent("AgentId<1>", "p")).unwrap();
        assert_eq!(
            c,
            json!({"name": "AgentId<1>", "project": "p",
                   "client_type": "hybrid_confidential_client_resource_server",
                   "visibility": "private"})
        );
        let s = serde_json::to_value(CreateScope::agent_launch("sid")).unwrap();
        assert_eq!(
            s,
            json!({"name": "Agent launch", "description": "Launch agent", "scope_suffix": "launch",
                   "allows_refresh_token": true,
                   "dependent_scopes": [{"scope": "sid", "optional": false, "requires_refresh_token": true}]})
        );
    }

    #[test]
    fn identity_debug_hides_secret() {
        let i = ClientIdentity::Confidential {
            client_id: "c".into(),
            secret: Secret::new("s3cr3t"),
        };
        assert!(!format!("{i:?}").contains("s3cr3t"));
    }
}
