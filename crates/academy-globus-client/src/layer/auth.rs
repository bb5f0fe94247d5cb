//! Attaches the `Authorization` header from an [`Authorizer`] on every
//! attempt, and on 401 — and on 403 when enabled, because the hosted
//! exchange answers expired tokens with 403 — asks the authorizer to
//! refresh and resends once.
//!
//! "Once" is per logical request: the HTTP client puts an
//! [`AuthRetryOnce`] guard in the request extensions, which the retry
//! layer's clones share, so retries of the same call do not refresh again
//! (globus-sdk refreshes only on the first attempt's 401).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use http::StatusCode;
use http::header::AUTHORIZATION;
use tower::{Layer, Service, ServiceExt as _};

use crate::authorizer::Authorizer;
use crate::error::{Error, Result};
use crate::http::{HttpRequest, HttpResponse};

/// Request extension shared by all attempts of one call: set once the
/// refresh-and-resend has been used.
#[derive(Clone, Debug, Default)]
pub struct AuthRetryOnce(Arc<AtomicBool>);

impl AuthRetryOnce {
    /// Claims the single refresh; false if already used.
    fn claim(&self) -> bool {
        !self.0.swap(true, Ordering::SeqCst)
    }
}

/// Layer attaching credentials from an [`Authorizer`].
///
/// ```
/// use std::sync::Arc;
/// use academy_globus_client::authorizer::StaticTokenAuthorizer;
/// use academy_globus_client::layer::AuthLayer;
/// let layer = AuthLayer::new(Some(Arc::new(StaticTokenAuthorizer::new("t".into()))))
///     .refresh_on_forbidden(true);
/// ```
#[derive(Clone, Debug)]
pub struct AuthLayer {
    authorizer: Option<Arc<dyn Authorizer>>,
    refresh_on_forbidden: bool,
}

impl AuthLayer {
    /// Uses `authorizer`; `None` sends no `Authorization` header.
    pub fn new(authorizer: Option<Arc<dyn Authorizer>>) -> Self {
        AuthLayer {
            authorizer,
            refresh_on_forbidden: false,
        }
    }

    /// Also refresh and resend once on 403 (the hosted exchange's answer to
    /// an expired or revoked token).
    pub fn refresh_on_forbidden(mut self, yes: bool) -> Self {
        self.refresh_on_forbidden = yes;
        self
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            authorizer: self.authorizer.clone(),
            refresh_on_forbidden: self.refresh_on_forbidden,
        }
    }
}

/// Service of [`AuthLayer`].
#[derive(Clone, Debug)]
pub struct AuthService<S> {
    inner: S,
    authorizer: Option<Arc<dyn Authorizer>>,
    refresh_on_forbidden: bool,
}

async fn authorize(authorizer: &dyn Authorizer, req: &mut HttpRequest) -> Result<()> {
    match authorizer.authorization().await? {
        Some(value) => {
            debug_assert!(value.is_sensitive());
            req.headers_mut().insert(AUTHORIZATION, value);
        }
        None => {
            req.headers_mut().remove(AUTHORIZATION);
        }
    }
    Ok(())
}

impl<S> Service<HttpRequest> for AuthService<S>
where
    S: Service<HttpRequest, Response = HttpResponse, Error = Error> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = Error;
    type Future = super::BoxFuture<Result<HttpResponse>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: HttpRequest) -> Self::Future {
        let inner = self.inner.clone();
        let Some(authorizer) = self.authorizer.clone() else {
            return Box::pin(inner.oneshot(req));
        };
        let refresh_on_forbidden = self.refresh_on_forbidden;
        Box::pin(async move {
            authorize(&*authorizer, &mut req).await?;
            let guard = req
                .extensions()
                .get::<AuthRetryOnce>()
                .cloned()
                .unwrap_or_default();
            let resend = super::clone_request(&req);
            let resp = inner.clone().oneshot(req).await?;
            let refreshable = resp.status() == StatusCode::UNAUTHORIZED
                || (refresh_on_forbidden && resp.status() == StatusCode::FORBIDDEN);
            if !refreshable || !authorizer.can_refresh() {
                return Ok(resp);
            }
            let rejected = resend.headers().get(AUTHORIZATION).cloned();
            if !guard.claim() || !authorizer.on_unauthorized(rejected.as_ref()).await {
                return Ok(resp);
            }
            tracing::debug!(
                status = resp.status().as_u16(),
                "credentials rejected; refreshing and resending once"
            );
            drop(resp);
            let mut req = resend;
            authorize(&*authorizer, &mut req).await?;
            inner.oneshot(req).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorizer::{RenewingAuthorizer, TokenSource};
    use crate::http::{empty_response, full_request};
    use crate::secret::Secret;
    use crate::token::TokenData;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    /// Issues `tok-1`, `tok-2`, … and counts fetches; each fetch takes 50 ms
    /// so concurrent callers overlap.
    #[derive(Debug, Default)]
    struct CountingSource {
        fetches: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl TokenSource for CountingSource {
        async fn fetch(&self) -> Result<TokenData> {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(TokenData::new("rs", format!("tok-{n}"), 3600))
        }
        fn can_refresh(&self) -> bool {
            true
        }
    }

    /// Answers `reject` for requests whose token is in `bad`, else 200, and
    /// records every Authorization header it saw.
    #[derive(Clone)]
    struct Server {
        bad: Arc<Mutex<Vec<String>>>,
        reject: StatusCode,
        seen: Arc<Mutex<Vec<String>>>,
    }

    impl Server {
        fn new(reject: StatusCode, bad: &[&str]) -> Self {
            Server {
                bad: Arc::new(Mutex::new(bad.iter().map(|s| s.to_string()).collect())),
                reject,
                seen: Arc::default(),
            }
        }
    }

    impl Service<HttpRequest> for Server {
        type Response = HttpResponse;
        type Error = Error;
        type Future = crate::layer::BoxFuture<Result<HttpResponse>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, req: HttpRequest) -> Self::Future {
            let auth = req
                .headers()
                .get(AUTHORIZATION)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            self.seen.lock().unwrap().push(auth.clone());
            let bad = self.bad.lock().unwrap().contains(&auth);
            let status = if bad { self.reject } else { StatusCode::OK };
            Box::pin(async move { Ok(empty_response(status)) })
        }
    }

    fn renewing(source: Arc<CountingSource>) -> Arc<RenewingAuthorizer> {
        Arc::new(RenewingAuthorizer::new(source))
    }

    #[tokio::test]
    async fn single_flight_refresh_under_50_concurrent_callers() {
        let source = Arc::new(CountingSource::default());
        let auth = renewing(source.clone());
        let server = Server::new(StatusCode::UNAUTHORIZED, &[]);
        let svc = AuthLayer::new(Some(auth)).layer(server.clone());
        let calls = (0..50).map(|_| svc.clone().oneshot(full_request(http::Method::GET, "/")));
        let results =
            tokio::time::timeout(Duration::from_secs(10), futures::future::join_all(calls))
                .await
                .unwrap();
        assert!(results.iter().all(|r| r.as_ref().unwrap().status() == 200));
        assert_eq!(source.fetches.load(Ordering::SeqCst), 1);
        assert!(
            server
                .seen
                .lock()
                .unwrap()
                .iter()
                .all(|h| h == "Bearer tok-1")
        );
    }

    #[tokio::test]
    async fn unauthorized_refreshes_and_retries_once() {
        let source = Arc::new(CountingSource::default());
        let auth = renewing(source.clone());
        let server = Server::new(StatusCode::UNAUTHORIZED, &["Bearer tok-1"]);
        let svc = AuthLayer::new(Some(auth)).layer(server.clone());
        let resp = tokio::time::timeout(
            Duration::from_secs(5),
            svc.oneshot(full_request(http::Method::GET, "/")),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(source.fetches.load(Ordering::SeqCst), 2);
        assert_eq!(
            *server.seen.lock().unwrap(),
            vec!["Bearer tok-1", "Bearer tok-2"]
        );
    }

    #[tokio::test]
    async fn second_unauthorized_is_returned_not_retried() {
        let source = Arc::new(CountingSource::default());
        let auth = renewing(source.clone());
        let server = Server::new(
            StatusCode::UNAUTHORIZED,
            &["Bearer tok-1", "Bearer tok-2", "Bearer tok-3"],
        );
        let svc = AuthLayer::new(Some(auth)).layer(server.clone());
        let resp = tokio::time::timeout(
            Duration::from_secs(5),
            svc.oneshot(full_request(http::Method::GET, "/")),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(server.seen.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn forbidden_refreshes_only_when_enabled() {
        for (enabled, expected_status, expected_calls) in [(false, 403, 1), (true, 200, 2)] {
            let auth = renewing(Arc::new(CountingSource::default()));
            let server = Server::new(StatusCode::FORBIDDEN, &["Bearer tok-1"]);
            let svc = AuthLayer::new(Some(auth))
                .refresh_on_forbidden(enabled)
                .layer(server.clone());
            let resp = tokio::time::timeout(
                Duration::from_secs(5),
                svc.oneshot(full_request(http::Method::GET, "/")),
            )
            .await
            .unwrap()
            .unwrap();
            assert_eq!(resp.status().as_u16(), expected_status);
            assert_eq!(server.seen.lock().unwrap().len(), expected_calls);
        }
    }

    #[tokio::test]
    async fn concurrent_rejections_refresh_once() {
        let source = Arc::new(CountingSource::default());
        let auth = renewing(source.clone());
        let server = Server::new(StatusCode::UNAUTHORIZED, &["Bearer tok-1"]);
        let svc = AuthLayer::new(Some(auth.clone())).layer(server.clone());
        // Warm up so everybody starts with tok-1.
        auth.authorization().await.unwrap();
        let calls = (0..20).map(|_| svc.clone().oneshot(full_request(http::Method::GET, "/")));
        let results =
            tokio::time::timeout(Duration::from_secs(10), futures::future::join_all(calls))
                .await
                .unwrap();
        assert!(results.iter().all(|r| r.as_ref().unwrap().status() == 200));
        assert_eq!(source.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn static_token_is_sensitive_and_not_refreshed() {
        let auth: Arc<dyn Authorizer> = Arc::new(crate::authorizer::StaticTokenAuthorizer::new(
            Secret::new("abc"),
        ));
        let server = Server::new(StatusCode::UNAUTHORIZED, &["Bearer abc"]);
        let svc = AuthLayer::new(Some(auth)).layer(server.clone());
        let resp = svc
            .oneshot(full_request(http::Method::GET, "/"))
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(server.seen.lock().unwrap().len(), 1);
    }
}
