//! Retries transient failures with globus-sdk's policy
//! (`globus-auth-api.md` §7), plus a retry budget.
//!
//! Retried: connection errors, per-attempt timeouts and the statuses 429,
//! 500, 502, 503, 504. Never retried: anything else, in particular 400,
//! 401 (the auth layer handles it), 403, 404, 408, 413 and 419.
//!
//! Non-idempotent calls (`PUT /message`) are retried too, as both Python
//! transports do: after a 5xx or a reset the server may already have
//! enqueued the message, so it can be delivered twice. A failure while
//! connecting (nothing written yet) is always safe to retry.
//!
//! Requests carrying the [`NoRetry`] extension (streams such as
//! `GET /mailbox/listen`) pass through once; their callers reconnect.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::StatusCode;
use tower::retry::budget::{Budget as _, TpsBudget};
use tower::{Layer, Service, ServiceExt as _};

use crate::error::{Error, Result};
use crate::http::{HttpRequest, HttpResponse};

/// Request extension: send this request at most once.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoRetry;

/// Retry budget parameters (tower's `TpsBudget`): retries may use
/// `retry_percent` of the recent request rate, plus a floor of
/// `min_per_sec` retries per second, both over a `ttl` window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetConfig {
    /// Window over which requests are counted (1–60 s).
    pub ttl: Duration,
    /// Retries always allowed per second of window.
    pub min_per_sec: u32,
    /// Extra retries as a fraction of requests (0–1000).
    pub retry_percent: f32,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        // 20 reserve retries per 10 s and 20 % of traffic: a dead server
        // sees a handful of retries, not 5 per request forever.
        BudgetConfig {
            ttl: Duration::from_secs(10),
            min_per_sec: 2,
            retry_percent: 0.2,
        }
    }
}

/// The retry policy. [`Default`] is globus-sdk's `RetryConfig`.
///
/// ```
/// use academy_globus_client::RetryPolicy;
/// let p = RetryPolicy::default();
/// assert_eq!(p.max_retries, 5);
/// assert!(p.backoff(0) >= std::time::Duration::from_millis(250));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (globus-sdk: 5).
    pub max_retries: u32,
    /// Upper bound of every delay, including `Retry-After` (10 s).
    pub max_sleep: Duration,
    /// Statuses whose integer `Retry-After` is honoured (429, 503).
    pub retry_after_statuses: Vec<u16>,
    /// Statuses retried (429, 500, 502, 503, 504).
    pub transient_statuses: Vec<u16>,
    /// Random jitter in the backoff (on by default; tests may turn it off).
    pub jitter: bool,
    /// Retry budget; `None` disables it.
    pub budget: Option<BudgetConfig>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            max_sleep: Duration::from_secs(10),
            retry_after_statuses: vec![429, 503],
            transient_statuses: vec![429, 500, 502, 503, 504],
            jitter: true,
            budget: Some(BudgetConfig::default()),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            budget: None,
            ..RetryPolicy::default()
        }
    }

    /// Uncapped backoff after failed attempt `attempt` (0-based):
    /// `(0.25 + 0.5·U[0,1)) · 2^attempt` seconds (0.5·2^attempt without jitter).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let u: f64 = if self.jitter { rand::random() } else { 0.5 };
        let secs = (0.25 + 0.5 * u) * 2f64.powi(attempt.min(30) as i32);
        Duration::from_secs_f64(secs).min(self.max_sleep)
    }

    fn is_transient(&self, status: StatusCode) -> bool {
        self.transient_statuses.contains(&status.as_u16())
    }

    /// The delay before the next attempt, or `None` if `outcome` is final.
    fn decide(&self, attempt: u32, outcome: &Result<HttpResponse>) -> Option<Duration> {
        match outcome {
            Err(Error::Transport { .. } | Error::Timeout) => Some(self.backoff(attempt)),
            Err(_) => None,
            Ok(resp) => {
                let status = resp.status();
                if !self.is_transient(status) {
                    return None;
                }
                if self.retry_after_statuses.contains(&status.as_u16())
                    && let Some(secs) = retry_after_seconds(resp)
                {
                    return Some(Duration::from_secs(secs).min(self.max_sleep));
                }
                Some(self.backoff(attempt))
            }
        }
    }
}

/// A non-zero integer `Retry-After` (HTTP dates are ignored, as in globus-sdk).
fn retry_after_seconds(resp: &HttpResponse) -> Option<u64> {
    resp.headers()
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|s| *s > 0)
}

/// Layer applying a [`RetryPolicy`]. Clones of the layer and of its
/// services share one budget.
///
/// ```
/// use academy_globus_client::layer::{RetryLayer, RetryPolicy};
/// let layer = RetryLayer::new(RetryPolicy { max_retries: 2, ..RetryPolicy::default() });
/// ```
#[derive(Clone)]
pub struct RetryLayer {
    policy: Arc<RetryPolicy>,
    budget: Option<Arc<TpsBudget>>,
}

impl std::fmt::Debug for RetryLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryLayer")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl RetryLayer {
    /// Builds the layer; budget parameters are clamped to tower's ranges.
    pub fn new(policy: RetryPolicy) -> Self {
        let budget = policy.budget.map(|b| {
            Arc::new(TpsBudget::new(
                b.ttl.clamp(Duration::from_secs(1), Duration::from_secs(60)),
                b.min_per_sec,
                b.retry_percent.clamp(0.0, 1000.0),
            ))
        });
        RetryLayer {
            policy: Arc::new(policy),
            budget,
        }
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = RetryService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RetryService {
            inner,
            policy: self.policy.clone(),
            budget: self.budget.clone(),
        }
    }
}

/// Service of [`RetryLayer`].
#[derive(Clone)]
pub struct RetryService<S> {
    inner: S,
    policy: Arc<RetryPolicy>,
    budget: Option<Arc<TpsBudget>>,
}

impl<S> std::fmt::Debug for RetryService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryService")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S> Service<HttpRequest> for RetryService<S>
where
    S: Service<HttpRequest, Response = HttpResponse, Error = Error> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = Error;
    type Future = super::BoxFuture<Result<HttpResponse>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        // Each attempt drives a clone of the inner service to readiness.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: HttpRequest) -> Self::Future {
        let inner = self.inner.clone();
        let policy = self.policy.clone();
        let budget = self.budget.clone();
        Box::pin(async move {
            if req.extensions().get::<NoRetry>().is_some() {
                return inner.oneshot(req).await;
            }
            if let Some(b) = &budget {
                b.deposit();
            }
            let mut attempt = 0u32;
            loop {
                let outcome = inner.clone().oneshot(super::clone_request(&req)).await;
                let Some(delay) = policy.decide(attempt, &outcome) else {
                    return outcome;
                };
                if attempt >= policy.max_retries {
                    return outcome;
                }
                if let Some(b) = &budget
                    && !b.withdraw()
                {
                    tracing::warn!(attempt, "retry budget exhausted; not retrying");
                    return outcome;
                }
                match &outcome {
                    Ok(resp) => tracing::debug!(
                        status = resp.status().as_u16(),
                        attempt,
                        delay_ms = delay.as_millis() as u64,
                        "retrying after transient status"
                    ),
                    Err(e) => tracing::debug!(
                        error = %e,
                        attempt,
                        delay_ms = delay.as_millis() as u64,
                        "retrying after transport error"
                    ),
                }
                drop(outcome);
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{empty_response, full_request};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::time::Instant;

    type Outcome = Box<dyn FnOnce() -> Result<HttpResponse> + Send>;

    /// A scripted inner service recording when each attempt arrived.
    #[derive(Clone)]
    struct Script {
        outcomes: Arc<Mutex<Vec<Outcome>>>,
        times: Arc<Mutex<Vec<Instant>>>,
        calls: Arc<AtomicUsize>,
    }

    fn status(code: u16) -> Outcome {
        Box::new(move || Ok(empty_response(StatusCode::from_u16(code).unwrap())))
    }

    fn status_retry_after(code: u16, after: &'static str) -> Outcome {
        Box::new(move || {
            let mut r = empty_response(StatusCode::from_u16(code).unwrap());
            r.headers_mut()
                .insert(http::header::RETRY_AFTER, after.parse().unwrap());
            Ok(r)
        })
    }

    fn reset() -> Outcome {
        Box::new(|| {
            Err(Error::transport(std::io::Error::from(
                std::io::ErrorKind::ConnectionReset,
            )))
        })
    }

    impl Script {
        fn new(outcomes: Vec<Outcome>) -> Self {
            let mut outcomes = outcomes;
            outcomes.reverse();
            Script {
                outcomes: Arc::new(Mutex::new(outcomes)),
                times: Arc::default(),
                calls: Arc::default(),
            }
        }
        fn gaps(&self) -> Vec<Duration> {
            let t = self.times.lock().unwrap();
            t.windows(2).map(|w| w[1] - w[0]).collect()
        }
    }

    impl Service<HttpRequest> for Script {
        type Response = HttpResponse;
        type Error = Error;
        type Future = crate::layer::BoxFuture<Result<HttpResponse>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _req: HttpRequest) -> Self::Future {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.times.lock().unwrap().push(Instant::now());
            let next = self.outcomes.lock().unwrap().pop();
            Box::pin(async move {
                match next {
                    Some(f) => f(),
                    None => Ok(empty_response(StatusCode::OK)),
                }
            })
        }
    }

    fn no_jitter() -> RetryPolicy {
        RetryPolicy {
            jitter: false,
            budget: None,
            ..RetryPolicy::default()
        }
    }

    async fn run(policy: RetryPolicy, script: &Script) -> Result<HttpResponse> {
        let svc = RetryLayer::new(policy).layer(script.clone());
        tokio::time::timeout(
            Duration::from_secs(600),
            svc.oneshot(full_request(http::Method::GET, "/x")),
        )
        .await
        .expect("bounded")
    }

    #[tokio::test(start_paused = true)]
    async fn retries_with_exponential_delays_then_gives_up() {
        let script = Script::new((0..10).map(|_| status(503)).collect());
        let resp = run(no_jitter(), &script).await.unwrap();
        assert_eq!(resp.status(), 503);
        assert_eq!(script.calls.load(Ordering::SeqCst), 6);
        let secs: Vec<f64> = script.gaps().iter().map(Duration::as_secs_f64).collect();
        // 0.5·2^n without jitter, the last one capped at 10 s.
        assert_eq!(secs, vec![0.5, 1.0, 2.0, 4.0, 8.0]);
    }

    #[tokio::test(start_paused = true)]
    async fn jittered_delays_stay_in_globus_ranges() {
        let script = Script::new((0..10).map(|_| status(502)).collect());
        let policy = RetryPolicy {
            budget: None,
            ..RetryPolicy::default()
        };
        run(policy, &script).await.unwrap();
        let ranges = [
            (0.25, 0.75),
            (0.5, 1.5),
            (1.0, 3.0),
            (2.0, 6.0),
            (4.0, 10.0),
        ];
        for (gap, (lo, hi)) in script.gaps().iter().zip(ranges) {
            let g = gap.as_secs_f64();
            assert!(g >= lo && g <= hi, "{g} not in [{lo}, {hi}]");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn honours_retry_after_capped() {
        let script = Script::new(vec![
            status_retry_after(429, "3"),
            status_retry_after(503, "120"),
            status_retry_after(503, "Wed, 21 Oct 2015 07:28:00 GMT"),
        ]);
        let resp = run(no_jitter(), &script).await.unwrap();
        assert_eq!(resp.status(), 200);
        let secs: Vec<f64> = script.gaps().iter().map(Duration::as_secs_f64).collect();
        // 3 s as asked; 120 s capped to 10 s; a date falls back to backoff(2) = 2 s.
        assert_eq!(secs, vec![3.0, 10.0, 2.0]);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_connection_errors() {
        let script = Script::new(vec![reset(), reset()]);
        let resp = run(no_jitter(), &script).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(script.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn never_retries_excluded_statuses() {
        for code in [400, 401, 403, 404, 408, 413, 419] {
            let script = Script::new(vec![status(code)]);
            let resp = run(no_jitter(), &script).await.unwrap();
            assert_eq!(resp.status().as_u16(), code);
            assert_eq!(script.calls.load(Ordering::SeqCst), 1, "status {code}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn no_retry_extension_sends_once() {
        let script = Script::new(vec![status(503)]);
        let svc = RetryLayer::new(no_jitter()).layer(script.clone());
        let mut req = full_request(http::Method::GET, "/listen");
        req.extensions_mut().insert(NoRetry);
        let resp = svc.oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 503);
        assert_eq!(script.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn budget_exhaustion_stops_retries() {
        let policy = RetryPolicy {
            jitter: false,
            budget: Some(BudgetConfig {
                ttl: Duration::from_secs(10),
                min_per_sec: 0,
                retry_percent: 0.0,
            }),
            ..RetryPolicy::default()
        };
        let script = Script::new((0..20).map(|_| status(500)).collect());
        let layer = RetryLayer::new(policy);
        for _ in 0..3 {
            let resp = layer
                .layer(script.clone())
                .oneshot(full_request(http::Method::GET, "/x"))
                .await
                .unwrap();
            assert_eq!(resp.status(), 500);
        }
        // An empty budget allows no retry at all: one attempt per request.
        assert_eq!(script.calls.load(Ordering::SeqCst), 3);

        // retry_percent 1.0: each request earns exactly one retry, and the
        // budget is shared by services built from one layer.
        let policy = RetryPolicy {
            jitter: false,
            budget: Some(BudgetConfig {
                ttl: Duration::from_secs(10),
                min_per_sec: 0,
                retry_percent: 1.0,
            }),
            ..RetryPolicy::default()
        };
        let script = Script::new((0..40).map(|_| status(500)).collect());
        let layer = RetryLayer::new(policy);
        let a = layer.layer(script.clone());
        let b = layer.layer(script.clone());
        a.oneshot(full_request(http::Method::GET, "/x"))
            .await
            .unwrap();
        assert_eq!(script.calls.load(Ordering::SeqCst), 2);
        b.oneshot(full_request(http::Method::GET, "/x"))
            .await
            .unwrap();
        assert_eq!(script.calls.load(Ordering::SeqCst), 4);
    }
}
