//! Per-attempt timeout. For streaming responses it bounds the time until
//! the response head arrives, not the stream.

use std::task::{Context, Poll};
use std::time::Duration;

use tower::{Layer, Service};

use crate::error::{Error, Result};
use crate::http::{HttpRequest, HttpResponse};

/// Layer bounding each attempt; `None` means no bound (academy-py's
/// exchange client uses no HTTP timeout because long polls are bounded by
/// the server).
#[derive(Clone, Copy, Debug)]
pub struct TimeoutLayer {
    timeout: Option<Duration>,
}

impl TimeoutLayer {
    /// Bounds every attempt by `timeout`.
    pub fn new(timeout: Option<Duration>) -> Self {
        TimeoutLayer { timeout }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = TimeoutService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService {
            inner,
            timeout: self.timeout,
        }
    }
}

/// Service of [`TimeoutLayer`].
#[derive(Clone, Debug)]
pub struct TimeoutService<S> {
    inner: S,
    timeout: Option<Duration>,
}

impl<S> Service<HttpRequest> for TimeoutService<S>
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
        let fut = self.inner.call(req);
        match self.timeout {
            None => Box::pin(fut),
            Some(limit) => Box::pin(async move {
                tokio::time::timeout(limit, fut)
                    .await
                    .map_err(|_| Error::Timeout)?
            }),
        }
    }
}
