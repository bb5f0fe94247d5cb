//! Resolves relative request paths against the client's base URL.

use std::task::{Context, Poll};

use http::Uri;
use tower::{Layer, Service};
use url::Url;

use crate::error::{Error, Result};
use crate::http::{HttpRequest, HttpResponse};

/// Joins a path to a base URL with exactly one `/` between them
/// (globus-sdk's `slash_join`); absolute `http(s)://` paths are kept.
///
/// ```
/// use academy_globus_client::layer::base_url::slash_join;
/// assert_eq!(slash_join("https://a.org/v1/", "/mailbox"), "https://a.org/v1/mailbox");
/// assert_eq!(slash_join("https://a.org/v1", "mailbox"), "https://a.org/v1/mailbox");
/// ```
pub fn slash_join(base: &str, path: &str) -> String {
    if path.starts_with("http://") || path.starts_with("https://") {
        return path.to_string();
    }
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// Layer applying [`slash_join`] to requests whose URI has no scheme.
#[derive(Clone, Debug)]
pub struct BaseUrlLayer {
    base: Url,
}

impl BaseUrlLayer {
    /// Resolves against `base`.
    pub fn new(base: Url) -> Self {
        BaseUrlLayer { base }
    }
}

impl<S> Layer<S> for BaseUrlLayer {
    type Service = BaseUrlService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        BaseUrlService {
            inner,
            base: self.base.clone(),
        }
    }
}

/// Service of [`BaseUrlLayer`].
#[derive(Clone, Debug)]
pub struct BaseUrlService<S> {
    inner: S,
    base: Url,
}

fn resolve(base: &Url, uri: &Uri) -> Result<Uri> {
    if uri.scheme().is_some() {
        return Ok(uri.clone());
    }
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    slash_join(base.as_str(), path)
        .parse()
        .map_err(|e| Error::Config(format!("invalid request URL: {e}")))
}

impl<S> Service<HttpRequest> for BaseUrlService<S>
where
    S: Service<HttpRequest, Response = HttpResponse, Error = Error>,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = Error;
    type Future = super::BoxFuture<Result<HttpResponse>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: HttpRequest) -> Self::Future {
        match resolve(&self.base, req.uri()) {
            Ok(uri) => {
                *req.uri_mut() = uri;
                Box::pin(self.inner.call(req))
            }
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }
}
