//! Logs each attempt (method, URL without query, status, latency). It
//! never records headers or bodies, so credentials cannot leak through it.

use std::task::{Context, Poll};

use tower::{Layer, Service};
use tracing::Instrument as _;

use crate::error::{Error, Result};
use crate::http::{HttpRequest, HttpResponse};

/// Layer creating one `http_request` span per attempt.
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceLayer;

impl<S> Layer<S> for TraceLayer {
    type Service = TraceService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TraceService { inner }
    }
}

/// Service of [`TraceLayer`].
#[derive(Clone, Debug)]
pub struct TraceService<S> {
    inner: S,
}

impl<S> Service<HttpRequest> for TraceService<S>
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

    fn call(&mut self, req: HttpRequest) -> Self::Future {
        let span = tracing::debug_span!(
            "http_request",
            method = %req.method(),
            host = req.uri().host().unwrap_or_default(),
            path = req.uri().path(),
        );
        let started = tokio::time::Instant::now();
        let fut = self.inner.call(req);
        Box::pin(
            async move {
                let result = fut.await;
                let elapsed_ms = started.elapsed().as_millis() as u64;
                match &result {
                    Ok(resp) => {
                        tracing::debug!(status = resp.status().as_u16(), elapsed_ms, "response")
                    }
                    Err(e) => tracing::debug!(error = %e, elapsed_ms, "request failed"),
                }
                result
            }
            .instrument(span),
        )
    }
}
