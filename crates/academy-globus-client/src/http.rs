//! The one HTTP stack, assembled by [`HttpClientBuilder`]:
//!
//! ```text
//! base URL → retry (policy, budget) → auth (authorizer, single-flight
//! refresh, 401/403 → refresh once) → per-attempt timeout → trace →
//! hyper-util client (pooled, HTTP/1.1 + HTTP/2, rustls/ring, roots per
//! [`TlsVerification`])
//! ```
//!
//! Request bodies are buffered (`Full<Bytes>`) so a request can be cloned
//! for a retry.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder, ServiceExt as _};
use url::Url;

use crate::authorizer::Authorizer;
use crate::config::TlsVerification;
use crate::error::{ApiError, Error, Result};
use crate::layer::auth::AuthRetryOnce;
use crate::layer::{
    AuthLayer, BaseUrlLayer, NoRetry, RetryLayer, RetryPolicy, TimeoutLayer, TraceLayer,
};

/// A buffered request.
pub type HttpRequest = Request<Full<Bytes>>;
/// A response whose body may be streamed.
pub type HttpResponse = Response<ResponseBody>;
/// The response body type of the stack.
pub type ResponseBody = BoxBody<Bytes, Error>;
/// The type-erased stack (or a test double of its innermost transport).
pub type HttpService = BoxCloneSyncService<HttpRequest, HttpResponse, Error>;

/// Builds a request for a path relative to the base URL.
pub fn full_request(method: Method, path: &str) -> HttpRequest {
    let mut req = Request::new(Full::new(Bytes::new()));
    *req.method_mut() = method;
    if let Ok(uri) = format!("/{}", path.trim_start_matches('/')).parse() {
        *req.uri_mut() = uri;
    }
    req
}

/// A response with an empty body (for tests and synthetic answers).
pub fn empty_response(status: StatusCode) -> HttpResponse {
    let mut resp = Response::new(
        Full::new(Bytes::new())
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = status;
    resp
}

/// A request body.
#[derive(Clone, Debug)]
pub enum RequestBody {
    /// No body.
    Empty,
    /// A JSON document (`Content-Type: application/json`).
    Json(serde_json::Value),
    /// Form fields (`application/x-www-form-urlencoded`). Values may be
    /// secrets: this variant's `Debug` hides them.
    Form(FormFields),
}

/// Form fields whose values are hidden from `Debug`.
#[derive(Clone, Default)]
pub struct FormFields(pub Vec<(String, String)>);

impl std::fmt::Debug for FormFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| format!("{k}=<redacted>")))
            .finish()
    }
}

/// A fully read response.
#[derive(Debug, Clone)]
pub struct BufferedResponse {
    /// Status (always < 400 when returned by [`HttpClient::execute`]).
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Bytes,
}

impl BufferedResponse {
    /// Parses the body as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::InvalidResponse(format!("unexpected JSON body: {e}")))
    }
}

/// The client: a cloneable handle on one stack (clones share the
/// connection pool, the retry budget and the authorizer).
///
/// ```no_run
/// # async fn f() -> academy_globus_client::Result<()> {
/// use std::sync::Arc;
/// use academy_globus_client::{HttpClient, RetryPolicy, authorizer::StaticTokenAuthorizer};
/// let client = HttpClient::builder("https://exchange.academy-agents.org/v1".parse().unwrap())
///     .retry(RetryPolicy::default())
///     .authorizer(Arc::new(StaticTokenAuthorizer::new("token".into())))
///     .timeout(Some(std::time::Duration::from_secs(60)))
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HttpClient {
    service: HttpService,
    base_url: Url,
    default_headers: Arc<HeaderMap>,
    auth_api_errors: bool,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("base_url", &self.base_url.as_str())
            .finish_non_exhaustive()
    }
}

/// Builder of [`HttpClient`].
#[must_use]
pub struct HttpClientBuilder {
    base_url: Url,
    retry: RetryPolicy,
    authorizer: Option<Arc<dyn Authorizer>>,
    refresh_on_forbidden: bool,
    timeout: Option<Duration>,
    connect_timeout: Duration,
    default_headers: HeaderMap,
    transport: Option<HttpService>,
    allow_insecure_http: bool,
    auth_api_errors: bool,
    tls_verification: TlsVerification,
}

impl HttpClient {
    /// Starts a builder for `base_url`, with globus-sdk's retry policy,
    /// no authorizer, a 60 s per-attempt timeout, the SDK's headers and
    /// webpki-roots verification (the builder reads no environment; the
    /// configs' `from_env`/`hosted` constructors read `GLOBUS_SDK_VERIFY_SSL`).
    pub fn builder(base_url: Url) -> HttpClientBuilder {
        let mut default_headers = HeaderMap::new();
        default_headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if let Ok(v) = HeaderValue::from_str(&crate::config::user_agent()) {
            default_headers.insert(USER_AGENT, v);
        }
        if let Ok(v) = HeaderValue::from_str(&crate::config::client_info()) {
            default_headers.insert(HeaderName::from_static("x-globus-client-info"), v);
        }
        HttpClientBuilder {
            base_url,
            retry: RetryPolicy::default(),
            authorizer: None,
            refresh_on_forbidden: false,
            timeout: Some(Duration::from_secs(60)),
            connect_timeout: Duration::from_secs(30),
            default_headers,
            transport: None,
            allow_insecure_http: false,
            auth_api_errors: false,
            tls_verification: TlsVerification::WebPki,
        }
    }

    /// The base URL requests are resolved against.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// Sends one request through the stack; the status is not checked.
    /// Relative paths are resolved against the base URL.
    pub async fn send(&self, mut req: HttpRequest) -> Result<HttpResponse> {
        for (name, value) in self.default_headers.iter() {
            if !req.headers().contains_key(name) {
                req.headers_mut().insert(name.clone(), value.clone());
            }
        }
        req.extensions_mut().insert(AuthRetryOnce::default());
        self.service.clone().oneshot(req).await
    }

    /// Builds a request with `body`, sends it, reads the whole response and
    /// turns statuses ≥ 400 into [`Error::Api`].
    pub async fn execute(
        &self,
        method: Method,
        path: &str,
        body: RequestBody,
        headers: HeaderMap,
    ) -> Result<BufferedResponse> {
        let req = self.build_request(method, path, body, headers, false)?;
        let resp = self.send(req).await?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        if parts.status.as_u16() >= 400 {
            return Err(Error::from(ApiError::from_response(
                parts.status,
                &parts.headers,
                &body,
                self.auth_api_errors,
            )));
        }
        Ok(BufferedResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// Like [`HttpClient::execute`] but returns the streaming response
    /// (statuses ≥ 400 still become errors) and is never retried.
    pub async fn open_stream(
        &self,
        method: Method,
        path: &str,
        body: RequestBody,
        headers: HeaderMap,
    ) -> Result<HttpResponse> {
        let req = self.build_request(method, path, body, headers, true)?;
        let resp = self.send(req).await?;
        if resp.status().as_u16() >= 400 {
            let (parts, body) = resp.into_parts();
            let body = body.collect().await?.to_bytes();
            return Err(Error::from(ApiError::from_response(
                parts.status,
                &parts.headers,
                &body,
                self.auth_api_errors,
            )));
        }
        Ok(resp)
    }

    fn build_request(
        &self,
        method: Method,
        path: &str,
        body: RequestBody,
        headers: HeaderMap,
        no_retry: bool,
    ) -> Result<HttpRequest> {
        let (content_type, bytes) = match body {
            RequestBody::Empty => (None, Bytes::new()),
            RequestBody::Json(v) => (
                Some("application/json"),
                Bytes::from(serde_json::to_vec(&v).map_err(|e| Error::Config(e.to_string()))?),
            ),
            RequestBody::Form(fields) => (
                Some("application/x-www-form-urlencoded"),
                Bytes::from(
                    serde_urlencoded::to_string(&fields.0)
                        .map_err(|e| Error::Config(e.to_string()))?,
                ),
            ),
        };
        let mut req = Request::new(Full::new(bytes));
        *req.method_mut() = method;
        // An origin-form URI ("/x") for the base-URL layer to resolve;
        // absolute URLs are kept.
        let target = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("/{}", path.trim_start_matches('/'))
        };
        *req.uri_mut() = target
            .parse()
            .map_err(|e| Error::Config(format!("invalid request path {path:?}: {e}")))?;
        if let Some(ct) = content_type {
            req.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        for (name, value) in headers.iter() {
            req.headers_mut().insert(name.clone(), value.clone());
        }
        if no_retry {
            req.extensions_mut().insert(NoRetry);
        }
        Ok(req)
    }
}

impl HttpClientBuilder {
    /// Retry policy (default: globus-sdk's). [`RetryPolicy::none`] disables retries.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Where `Authorization` headers come from.
    pub fn authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.authorizer = Some(authorizer);
        self
    }

    /// Also refresh the token and resend once on 403 (hosted exchange).
    pub fn refresh_on_forbidden(mut self, yes: bool) -> Self {
        self.refresh_on_forbidden = yes;
        self
    }

    /// Per-attempt timeout until the response head; `None` for none.
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// TCP connect timeout of the hyper client (default 30 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// A header sent on every request unless the request sets it.
    pub fn default_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.default_headers.insert(name, value);
        self
    }

    /// Allow `http://` to hosts other than loopback (development only).
    pub fn allow_insecure_http(mut self, yes: bool) -> Self {
        self.allow_insecure_http = yes;
        self
    }

    /// Parse errors with the Globus Auth rules (request id from sub-errors).
    pub fn auth_api_errors(mut self, yes: bool) -> Self {
        self.auth_api_errors = yes;
        self
    }

    /// How the server certificate is verified (default
    /// [`TlsVerification::WebPki`]). [`TlsVerification::Disabled`] is for
    /// development only. Ignored when [`HttpClientBuilder::transport`] is set.
    pub fn tls_verification(mut self, verification: TlsVerification) -> Self {
        self.tls_verification = verification;
        self
    }

    /// Replaces the innermost hyper client (tests).
    pub fn transport(mut self, transport: HttpService) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Assembles the stack.
    pub fn build(self) -> Result<HttpClient> {
        check_scheme(&self.base_url, self.allow_insecure_http)?;
        let transport = match self.transport {
            Some(t) => t,
            None => HttpService::new(HyperTransport::new(
                self.connect_timeout,
                &self.tls_verification,
            )?),
        };
        let stack = ServiceBuilder::new()
            .layer(BaseUrlLayer::new(self.base_url.clone()))
            .layer(RetryLayer::new(self.retry))
            .layer(AuthLayer::new(self.authorizer).refresh_on_forbidden(self.refresh_on_forbidden))
            .layer(TimeoutLayer::new(self.timeout))
            .layer(TraceLayer)
            .service(transport);
        Ok(HttpClient {
            service: HttpService::new(stack),
            base_url: self.base_url,
            default_headers: Arc::new(self.default_headers),
            auth_api_errors: self.auth_api_errors,
        })
    }
}

fn check_scheme(url: &Url, allow_insecure_http: bool) -> Result<()> {
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            };
            if loopback || allow_insecure_http {
                Ok(())
            } else {
                Err(Error::Config(format!(
                    "refusing plain http to {url}: use https (plain http is allowed for loopback only)"
                )))
            }
        }
        other => Err(Error::Config(format!("unsupported URL scheme {other:?}"))),
    }
}

/// The innermost service: a pooled hyper-util client over rustls (ring
/// provider, webpki roots), speaking HTTP/1.1 and HTTP/2.
#[derive(Clone)]
struct HyperTransport {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HyperTransport {
    fn new(connect_timeout: Duration, verification: &TlsVerification) -> Result<Self> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(connect_timeout));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(crate::tls::client_config(verification)?)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(https);
        Ok(HyperTransport { client })
    }
}

impl Service<HttpRequest> for HyperTransport {
    type Response = HttpResponse;
    type Error = Error;
    type Future = crate::layer::BoxFuture<Result<HttpResponse>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.client.poll_ready(cx).map_err(Error::transport)
    }

    fn call(&mut self, req: HttpRequest) -> Self::Future {
        // Non-streaming responses are read here, inside the retry and
        // timeout layers, so a connection dropped mid-body is retried and
        // a stalled body counts against the per-attempt timeout.
        let streaming = req.extensions().get::<NoRetry>().is_some();
        let fut = self.client.request(req);
        Box::pin(async move {
            let resp = fut.await.map_err(Error::transport)?;
            let (parts, body) = resp.into_parts();
            let body = if streaming {
                body.map_err(Error::transport).boxed()
            } else {
                let bytes = body.collect().await.map_err(Error::transport)?.to_bytes();
                Full::new(bytes).map_err(|never| match never {}).boxed()
            };
            Ok(Response::from_parts(parts, body))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_rules() {
        assert!(check_scheme(&"https://x.org".parse().unwrap(), false).is_ok());
        assert!(check_scheme(&"http://127.0.0.1:1".parse().unwrap(), false).is_ok());
        assert!(check_scheme(&"http://[::1]:1".parse().unwrap(), false).is_ok());
        assert!(check_scheme(&"http://localhost:1".parse().unwrap(), false).is_ok());
        assert!(check_scheme(&"http://example.org".parse().unwrap(), false).is_err());
        assert!(check_scheme(&"http://example.org".parse().unwrap(), true).is_ok());
        assert!(check_scheme(&"ftp://example.org".parse().unwrap(), true).is_err());
    }

    #[test]
    fn form_fields_debug_hides_values() {
        let f = FormFields(vec![("refresh_token".into(), "RT-secret".into())]);
        assert!(!format!("{:?}", RequestBody::Form(f)).contains("RT-secret"));
    }
}
