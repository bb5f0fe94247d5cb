//! Globus Auth authenticator (`exchange-http-api.md` §3.3): token
//! introspection with the exchange's client credentials, then group
//! memberships through a dependent token and the Groups API.
//!
//! Configuration as academy-py (`[auth] method = "globus"` and its
//! `kwargs`), with two extensions: `auth_base_url` and `groups_base_url`.
//! Without them the base URLs come from `GLOBUS_SDK_SERVICE_URL_AUTH` /
//! `GLOBUS_SDK_SERVICE_URL_GROUPS`, else from `GLOBUS_SDK_ENVIRONMENT`
//! (default `production`), as globus-sdk resolves them
//! (`globus-auth-api.md` §1.1). Python hard-codes the production Groups URL.
//!
//! Differences from Python: the audience checked is the configured
//! `client_id` (§12.10); an active token without `username` is refused
//! (403) instead of failing with 500; Globus calls are not retried (an
//! unreachable Globus Auth answers 500, as in Python after its retries).
//!
//! Caches are bounded (`token_cache_limit` entries each) and expire after
//! `token_ttl_s` (introspection) and `group_info_cache_ttl_s` (groups);
//! concurrent requests with the same uncached token share one call
//! (single flight). Tokens and the client secret never reach logs.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::OnceCell;

use super::{Authenticator, ClientInfo, bearer_token};
use crate::config::GlobusAuthKwargs;
use crate::error::ServerError;

/// academy-py's default exchange client id.
pub const DEFAULT_CLIENT_ID: &str = "ca1e2fbf-4e73-40a6-b2ab-c9458e5fcf99";

/// The scope of the dependent token used to list the caller's groups.
pub const GROUPS_SCOPE: &str =
    "urn:globus:auth:scope:groups.api.globus.org:view_my_groups_and_memberships";

/// Timeout of each call to Globus.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The Globus authenticator.
///
/// ```no_run
/// use academy_exchange_server::GlobusAuthKwargs;
/// use academy_exchange_server::auth::globus::GlobusAuthenticator;
/// let kwargs = GlobusAuthKwargs {
///     client_id: Some("ca1e2fbf-4e73-40a6-b2ab-c9458e5fcf99".into()),
///     client_secret: Some("secret".into()),
///     auth_base_url: Some("http://127.0.0.1:9999/".into()),
///     groups_base_url: Some("http://127.0.0.1:9999/".into()),
///     ..Default::default()
/// };
/// let auth = GlobusAuthenticator::from_kwargs(&kwargs).unwrap();
/// # let _ = auth;
/// ```
pub struct GlobusAuthenticator {
    client_id: String,
    basic: String,
    auth_base: String,
    groups_base: String,
    http: HttpsClient,
    introspections: TtlCache<Introspection>,
    groups: TtlCache<BTreeSet<String>>,
}

impl std::fmt::Debug for GlobusAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobusAuthenticator")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("auth_base", &self.auth_base)
            .field("groups_base", &self.groups_base)
            .finish_non_exhaustive()
    }
}

/// The fields of an introspection response that matter.
#[derive(Debug, Clone, Deserialize)]
struct Introspection {
    #[serde(default)]
    active: Value,
    #[serde(default)]
    aud: Vec<String>,
    #[serde(default)]
    username: Option<String>,
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The base URL of a Globus service as globus-sdk resolves it.
fn service_url(service: &str) -> Result<String, ServerError> {
    if let Some(url) = env_nonempty(&format!(
        "GLOBUS_SDK_SERVICE_URL_{}",
        service.to_uppercase()
    )) {
        return Ok(url);
    }
    let env = env_nonempty("GLOBUS_SDK_ENVIRONMENT").unwrap_or_else(|| "production".into());
    let domain = match env.as_str() {
        "production" => "globus.org".to_string(),
        "preview" => "preview.globus.org".to_string(),
        "sandbox" | "integration" | "test" | "staging" => format!("{env}.globuscs.info"),
        other => {
            return Err(ServerError::Config(format!(
                "unknown GLOBUS_SDK_ENVIRONMENT {other:?}"
            )));
        }
    };
    Ok(if service == "auth" {
        format!("https://auth.{domain}/")
    } else {
        format!("https://{service}.api.{domain}/")
    })
}

fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

impl GlobusAuthenticator {
    /// Builds the authenticator from `[auth.kwargs]` and the environment.
    pub fn from_kwargs(kwargs: &GlobusAuthKwargs) -> Result<Self, ServerError> {
        let client_id = kwargs
            .client_id
            .clone()
            .or_else(|| env_nonempty("ACADEMY_EXCHANGE_CLIENT_ID"))
            .unwrap_or_else(|| DEFAULT_CLIENT_ID.to_string());
        let secret = kwargs
            .client_secret
            .clone()
            .or_else(|| std::env::var("ACADEMY_EXCHANGE_SECRET").ok())
            .ok_or_else(|| {
                ServerError::Config(
                    "[auth.kwargs] client_secret or ACADEMY_EXCHANGE_SECRET is required".into(),
                )
            })?;
        let auth_base = match &kwargs.auth_base_url {
            Some(u) => u.clone(),
            None => service_url("auth")?,
        };
        let groups_base = match &kwargs.groups_base_url {
            Some(u) => u.clone(),
            None => service_url("groups")?,
        };
        let limit = kwargs.token_cache_limit.unwrap_or(1024).max(1);
        let token_ttl = seconds(kwargs.token_ttl_s.unwrap_or(60.0))?;
        let group_ttl = seconds(kwargs.group_info_cache_ttl_s.unwrap_or(60.0))?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| ServerError::Config(format!("TLS setup: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        let http = Client::builder(TokioExecutor::new()).build(connector);
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
        Ok(GlobusAuthenticator {
            client_id,
            basic: format!("Basic {basic}"),
            auth_base,
            groups_base,
            http,
            introspections: TtlCache::new(limit, token_ttl),
            groups: TtlCache::new(limit, group_ttl),
        })
    }

    /// The expected audience (the configured client id).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    async fn call(
        &self,
        request: http::Request<Full<Bytes>>,
        what: &'static str,
    ) -> Result<(u16, Bytes), ServerError> {
        let response = tokio::time::timeout(CALL_TIMEOUT, self.http.request(request))
            .await
            .map_err(|_| ServerError::Internal(format!("Globus {what}: timed out")))?
            .map_err(|e| ServerError::Internal(format!("Globus {what}: {e}")))?;
        let status = response.status().as_u16();
        let body = tokio::time::timeout(CALL_TIMEOUT, response.into_body().collect())
            .await
            .map_err(|_| ServerError::Internal(format!("Globus {what}: timed out")))?
            .map_err(|e| ServerError::Internal(format!("Globus {what}: {e}")))?
            .to_bytes();
        Ok((status, body))
    }

    fn form_post(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<http::Request<Full<Bytes>>, ServerError> {
        let body = serde_urlencoded::to_string(form)
            .map_err(|e| ServerError::Internal(format!("form encoding: {e}")))?;
        http::Request::builder()
            .method("POST")
            .uri(join(&self.auth_base, path))
            .header("authorization", &self.basic)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ServerError::Internal(format!("Globus Auth request: {e}")))
    }

    async fn introspect(&self, token: &str) -> Result<Introspection, ServerError> {
        let request = self.form_post("v2/oauth2/token/introspect", &[("token", token)])?;
        let (status, body) = self.call(request, "introspection").await?;
        if !(200..300).contains(&status) {
            return Err(ServerError::Internal(format!(
                "Globus introspection answered {status}"
            )));
        }
        serde_json::from_slice(&body)
            .map_err(|e| ServerError::Internal(format!("Globus introspection response: {e}")))
    }

    async fn fetch_groups(&self, token: &str) -> Result<BTreeSet<String>, ServerError> {
        let request = self.form_post(
            "v2/oauth2/token",
            &[
                ("grant_type", "urn:globus:auth:grant_type:dependent_token"),
                ("token", token),
                ("scope", GROUPS_SCOPE),
            ],
        )?;
        let (status, body) = self.call(request, "dependent token grant").await?;
        if !(200..300).contains(&status) {
            return Err(ServerError::Internal(format!(
                "Globus dependent token grant answered {status}"
            )));
        }
        let tokens: Vec<Value> = serde_json::from_slice(&body)
            .map_err(|e| ServerError::Internal(format!("dependent token response: {e}")))?;
        let groups_token = tokens.iter().find_map(|t| {
            let scopes = t.get("scope")?.as_str()?;
            if scopes.split_whitespace().any(|s| s == GROUPS_SCOPE) {
                t.get("access_token")?.as_str().map(str::to_string)
            } else {
                None
            }
        });
        let Some(groups_token) = groups_token else {
            tracing::warn!("no Groups token in the dependent token grant; caller has no groups");
            return Ok(BTreeSet::new());
        };
        let request = http::Request::builder()
            .method("GET")
            .uri(join(&self.groups_base, "v2/groups/my_groups"))
            .header("authorization", format!("Bearer {groups_token}"))
            .header("accept", "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|e| ServerError::Internal(format!("Groups request: {e}")))?;
        let (status, body) = self.call(request, "my_groups").await?;
        if status != 200 {
            tracing::error!(
                status,
                "Globus Groups answered an error; caller has no groups"
            );
            return Ok(BTreeSet::new());
        }
        let groups: Vec<Value> = serde_json::from_slice(&body)
            .map_err(|e| ServerError::Internal(format!("my_groups response: {e}")))?;
        Ok(groups
            .iter()
            .filter(|g| {
                g.get("my_memberships")
                    .and_then(Value::as_array)
                    .is_some_and(|ms| {
                        ms.iter()
                            .any(|m| m.get("status").and_then(Value::as_str) == Some("active"))
                    })
            })
            .filter_map(|g| g.get("id").and_then(Value::as_str).map(str::to_string))
            .collect())
    }
}

fn seconds(s: f64) -> Result<Duration, ServerError> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| ServerError::Config(format!("invalid cache TTL {s}")))
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[async_trait::async_trait]
impl Authenticator for GlobusAuthenticator {
    async fn authenticate(&self, headers: &HeaderMap) -> Result<ClientInfo, ServerError> {
        let token = bearer_token(headers)?;
        let info = self
            .introspections
            .get_or_fetch(token, || self.introspect(token))
            .await?;
        if !truthy(&info.active) {
            return Err(ServerError::TokenRejected);
        }
        if !info.aud.iter().any(|a| a == &self.client_id) {
            tracing::info!("token audience does not include the exchange");
            return Err(ServerError::TokenRejected);
        }
        let Some(username) = info.username.clone() else {
            return Err(ServerError::TokenRejected);
        };
        let groups = self
            .groups
            .get_or_fetch(token, || self.fetch_groups(token))
            .await?;
        Ok(ClientInfo {
            client_id: username,
            groups,
        })
    }
}

/// When an entry was created, and its (possibly still loading) value.
type CacheEntry<V> = (Instant, Arc<OnceCell<V>>);

/// A bounded map from token to value with a time to live, where concurrent
/// lookups of a missing key share one fetch. Failed fetches are not cached.
struct TtlCache<V> {
    entries: Mutex<HashMap<String, CacheEntry<V>>>,
    limit: usize,
    ttl: Duration,
}

impl<V: Clone> TtlCache<V> {
    fn new(limit: usize, ttl: Duration) -> Self {
        TtlCache {
            entries: Mutex::new(HashMap::new()),
            limit,
            ttl,
        }
    }

    async fn get_or_fetch<F, Fut>(&self, key: &str, fetch: F) -> Result<V, ServerError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, ServerError>>,
    {
        let cell = {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            match entries.get(key) {
                Some((at, cell)) if now.duration_since(*at) < self.ttl => cell.clone(),
                _ => {
                    if entries.len() >= self.limit {
                        let ttl = self.ttl;
                        entries.retain(|_, (at, _)| now.duration_since(*at) < ttl);
                    }
                    if entries.len() >= self.limit
                        && let Some(oldest) = entries
                            .iter()
                            .min_by_key(|(_, (at, _))| *at)
                            .map(|(k, _)| k.clone())
                    {
                        entries.remove(&oldest);
                    }
                    let cell = Arc::new(OnceCell::new());
                    entries.insert(key.to_string(), (now, cell.clone()));
                    cell
                }
            }
        };
        cell.get_or_try_init(fetch).await.cloned()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn cache_is_single_flight_bounded_and_expires() {
        tokio::time::timeout(Duration::from_secs(10), async {
            let cache = Arc::new(TtlCache::<u32>::new(2, Duration::from_millis(200)));
            let calls = Arc::new(AtomicUsize::new(0));
            let mut tasks = Vec::new();
            for _ in 0..10 {
                let cache = cache.clone();
                let calls = calls.clone();
                tasks.push(tokio::spawn(async move {
                    cache
                        .get_or_fetch("a", || async {
                            calls.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Ok(7)
                        })
                        .await
                        .unwrap()
                }));
            }
            for t in tasks {
                assert_eq!(t.await.unwrap(), 7);
            }
            assert_eq!(calls.load(Ordering::SeqCst), 1);
            for k in ["b", "c", "d"] {
                cache.get_or_fetch(k, || async { Ok(1) }).await.unwrap();
            }
            assert!(cache.len() <= 2);
            // Errors are not cached.
            let r = cache
                .get_or_fetch("e", || async { Err(ServerError::Internal("x".into())) })
                .await;
            assert!(r.is_err());
            assert_eq!(
                cache.get_or_fetch("e", || async { Ok(3) }).await.unwrap(),
                3
            );
        })
        .await
        .unwrap();
    }

    #[test]
    fn service_urls_follow_globus_sdk() {
        assert_eq!(join("http://x/", "/v2/a"), "http://x/v2/a");
        assert_eq!(join("http://x", "v2/a"), "http://x/v2/a");
    }

    #[test]
    fn debug_redacts_secret() {
        let a = GlobusAuthenticator::from_kwargs(&GlobusAuthKwargs {
            client_secret: Some("hunter2".into()),
            auth_base_url: Some("http://127.0.0.1:1/".into()),
            groups_base_url: Some("http://127.0.0.1:1/".into()),
            ..Default::default()
        })
        .unwrap();
        let text = format!("{a:?}");
        assert!(!text.contains("hunter2"));
        assert!(!text.contains(&a.basic));
    }
}
