//! Receiving (`globus-exchange-client.md` §5.3, §7.2): a long poll
//! (`GET /message`) for `recv`, and for `listen`
//! the event stream (`GET /mailbox/listen`) with reconnection, falling
//! back to long polls when the server has no stream route.
//!
//! Differences from academy-py, deliberate:
//! * each server wait is `min(request_timeout_s, remaining time)`, and the
//!   local bound is the remaining time, not the full timeout (§9.2);
//! * 408 is a normal empty wait; 419 ends with `MailboxTerminated`, 404
//!   with `BadEntityId`, 400/401/403 with their error, instead of the
//!   Globus transport's silent hot loop (§9.1);
//! * acknowledged delivery with our server (an extension academy-py's
//!   server ignores): every request after a transport's first one
//!   carries the id of the last message returned (`last_id` of
//!   `GET /message`, `Last-Event-ID` of the stream), so a message lost to
//!   a cut connection or an abandoned wait is delivered again;
//! * transient failures (connection errors, 429, 5xx — after the HTTP
//!   stack's own retries) back off exponentially; after
//!   [`ReceivePolicy::max_failures`] in a row the error is returned (a
//!   listener never dies silently nor spins).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use academy_exchange::{EntityId, ExchangeError, Message, MessageStream};
use academy_globus_client::exchange_client::Unacknowledged;
use academy_globus_client::{AcademyGlobusClient, Error as HttpError, RetryPolicy};
use futures::StreamExt as _;

use crate::error_map::{is_transient, map_error};

/// Default number of consecutive transient failures after which receiving gives up.
pub const MAX_CONSECUTIVE_FAILURES: u32 = 8;

/// How receiving reacts to transient failures.
///
/// ```
/// use academy_globus_exchange::receive::ReceivePolicy;
/// let p = ReceivePolicy::default();
/// assert_eq!(p.max_failures, academy_globus_exchange::receive::MAX_CONSECUTIVE_FAILURES);
/// ```
#[derive(Debug, Clone)]
pub struct ReceivePolicy {
    /// Consecutive failed attempts (after the HTTP stack's own retries)
    /// before the error is returned to the owner.
    pub max_failures: u32,
    /// Backoff between attempts (its `backoff()` and `max_sleep`).
    pub backoff: RetryPolicy,
}

impl Default for ReceivePolicy {
    fn default() -> Self {
        ReceivePolicy {
            max_failures: MAX_CONSECUTIVE_FAILURES,
            backoff: RetryPolicy::default(),
        }
    }
}

/// How much longer than the server's wait the client waits for an answer
/// before treating the request as failed.
const GRACE: Duration = Duration::from_secs(15);

/// Longest wait for the head of an event stream's response.
const MAX_HEAD_WAIT: Duration = Duration::from_secs(30);

/// The server rejects waits of 0; shorter remainders count as expired.
const MIN_WAIT: Duration = Duration::from_millis(5);

/// A stream that ends before half its idle timeout without delivering
/// anything counts as a failure (so a server closing at once is not spun on).
const QUICK_END_FRACTION: f64 = 0.5;

/// What this transport acknowledges to the server.
#[derive(Debug, Default)]
struct Ack {
    /// Whether a receive request was sent already.
    started: bool,
    /// Id of the last message returned to the owner.
    last: Option<u64>,
}

impl Ack {
    /// The id to send with the next request: none on the first one (a new
    /// session: whatever an earlier receiver left in flight counts as
    /// delivered, as for academy-py), then the last id returned (`0`: none yet).
    fn next_request(&mut self) -> Option<u64> {
        if self.started {
            Some(self.last.unwrap_or(0))
        } else {
            self.started = true;
            None
        }
    }

    fn returned(&mut self, id: Option<u64>) {
        if id.is_some() {
            self.last = id;
        }
    }
}

/// Receives the messages of one mailbox.
#[derive(Clone, Debug)]
pub(crate) struct Receiver {
    client: AcademyGlobusClient,
    mailbox: EntityId,
    request_timeout: Duration,
    policy: ReceivePolicy,
    ack: Arc<Mutex<Ack>>,
}

fn secs(d: Duration) -> f64 {
    // Whole milliseconds keep the JSON short and above the server's minimum.
    (d.as_millis().max(1) as f64) / 1000.0
}

impl Receiver {
    pub(crate) fn new(
        client: AcademyGlobusClient,
        mailbox: EntityId,
        request_timeout: Duration,
        policy: ReceivePolicy,
    ) -> Self {
        Receiver {
            client,
            mailbox,
            request_timeout,
            policy,
            ack: Arc::new(Mutex::new(Ack::default())),
        }
    }

    fn ack(&self) -> MutexGuard<'_, Ack> {
        self.ack
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn wait_for(&self, remaining: Option<Duration>) -> Duration {
        remaining.map_or(self.request_timeout, |r| r.min(self.request_timeout))
    }

    /// Sleeps the backoff of `failures`, never past `remaining`.
    async fn pause(&self, failures: u32, remaining: Option<Duration>) {
        let delay = self.policy.backoff.backoff(failures.saturating_sub(1));
        let delay = remaining.map_or(delay, |r| delay.min(r));
        tokio::time::sleep(delay).await;
    }

    fn fatal(&self, e: HttpError) -> ExchangeError {
        if e.http_status() == Some(400) {
            return ExchangeError::transport(
                format!(
                    "the exchange rejected the receive request for {} (is request_timeout_s, {:?}, above the server's listen_timeout_s?)",
                    self.mailbox, self.request_timeout
                ),
                e,
            );
        }
        map_error(e, Some(&self.mailbox))
    }

    /// One message by long polls; `None` waits for ever.
    pub(crate) async fn recv(&self, timeout: Option<Duration>) -> Result<Message, ExchangeError> {
        let start = Instant::now();
        let mut failures = 0u32;
        loop {
            let remaining = match timeout {
                Some(t) => {
                    let left = t.saturating_sub(start.elapsed());
                    if left < MIN_WAIT {
                        return Err(ExchangeError::Timeout(t));
                    }
                    Some(left)
                }
                None => None,
            };
            let wait = self.wait_for(remaining);
            let last = self.ack().next_request();
            let attempt = self.client.recv_from(&self.mailbox, Some(secs(wait)), last);
            let outcome = match tokio::time::timeout(wait + GRACE, attempt).await {
                Ok(r) => r,
                Err(_) => Err(HttpError::Timeout),
            };
            match outcome {
                Ok((id, message)) => {
                    self.ack().returned(id);
                    return Ok(message);
                }
                Err(e) if e.http_status() == Some(408) => failures = 0,
                Err(e) if is_transient(&e) => {
                    failures += 1;
                    if failures >= self.policy.max_failures {
                        return Err(map_error(e, Some(&self.mailbox)));
                    }
                    tracing::debug!(mailbox = %self.mailbox, error = %e, failures, "receive failed; retrying");
                    self.pause(failures, remaining).await;
                }
                Err(e) => return Err(self.fatal(e)),
            }
        }
    }

    /// The mailbox's messages as a stream; `timeout` bounds each wait.
    pub(crate) fn listen(&self, timeout: Option<Duration>) -> MessageStream {
        let state = ListenState {
            rx: self.clone(),
            timeout,
            last: Instant::now(),
            conn: None,
            long_poll: false,
            failures: 0,
            done: false,
        };
        Box::pin(futures::stream::unfold(state, |mut st| async move {
            let item = st.next().await?;
            Some((item, st))
        }))
    }
}

struct Conn {
    stream: academy_globus_client::sse::IdMessageStream,
    opened: Instant,
    idle_timeout: Duration,
    got_any: bool,
    /// What this stream returned unacknowledged: it is reopened
    /// (acknowledging) when the cadence says so.
    unacked: Unacknowledged,
}

struct ListenState {
    rx: Receiver,
    timeout: Option<Duration>,
    last: Instant,
    conn: Option<Conn>,
    long_poll: bool,
    failures: u32,
    done: bool,
}

/// A server without `GET /mailbox/listen` answers 404 without naming a
/// mailbox (a framework "Not Found"), 405 or 501.
fn route_missing(e: &HttpError) -> bool {
    match e.api() {
        Some(api) => match api.http_status {
            405 | 501 => true,
            404 => !api.text.to_ascii_lowercase().contains("mailbox"),
            _ => false,
        },
        None => false,
    }
}

fn is_bad_event(e: &HttpError) -> bool {
    matches!(e, HttpError::InvalidResponse(m) if m.starts_with("event is not a message"))
}

impl ListenState {
    fn fail(&mut self, e: ExchangeError) -> Option<Result<Message, ExchangeError>> {
        self.done = true;
        self.conn = None;
        Some(Err(e))
    }

    async fn next(&mut self) -> Option<Result<Message, ExchangeError>> {
        loop {
            if self.done {
                return None;
            }
            let remaining = match self.timeout {
                Some(t) => {
                    let left = t.saturating_sub(self.last.elapsed());
                    if left < MIN_WAIT {
                        return self.fail(ExchangeError::Timeout(t));
                    }
                    Some(left)
                }
                None => None,
            };
            if self.long_poll {
                return match self.rx.recv(remaining).await {
                    Ok(m) => {
                        self.last = Instant::now();
                        Some(Ok(m))
                    }
                    Err(ExchangeError::Timeout(_)) => {
                        self.fail(ExchangeError::Timeout(self.timeout.unwrap_or_default()))
                    }
                    Err(e) => self.fail(e),
                };
            }
            let Some(mut conn) = self.conn.take() else {
                let wait = self.rx.wait_for(remaining);
                let last = self.rx.ack().next_request();
                let open = self
                    .rx
                    .client
                    .listen_from(&self.rx.mailbox, Some(secs(wait)), last);
                // Servers answer a listen's head at once (the wait is in the
                // body): a head that does not come within the request
                // timeout was lost on the way, so retry instead of waiting
                // out the whole stream's grace.
                let head = wait.min(MAX_HEAD_WAIT);
                let opened =
                    match tokio::time::timeout(remaining.map_or(head, |r| r.min(head)), open).await
                    {
                        Ok(r) => r,
                        Err(_) if remaining.is_some() => continue,
                        Err(_) => Err(HttpError::Timeout),
                    };
                match opened {
                    Ok(stream) => {
                        self.conn = Some(Conn {
                            stream,
                            opened: Instant::now(),
                            idle_timeout: wait,
                            got_any: false,
                            unacked: Unacknowledged::default(),
                        });
                    }
                    Err(e) if route_missing(&e) => {
                        tracing::info!(mailbox = %self.rx.mailbox, "the exchange has no event stream; falling back to long polls");
                        self.long_poll = true;
                    }
                    Err(e) if is_transient(&e) => {
                        self.failures += 1;
                        if self.failures >= self.rx.policy.max_failures {
                            return self.fail(map_error(e, Some(&self.rx.mailbox)));
                        }
                        tracing::debug!(mailbox = %self.rx.mailbox, error = %e, failures = self.failures, "opening the event stream failed; retrying");
                        self.rx.pause(self.failures, remaining).await;
                    }
                    Err(e) => {
                        let e = self.rx.fatal(e);
                        return self.fail(e);
                    }
                }
                continue;
            };
            let item = match remaining {
                Some(r) => match tokio::time::timeout(r, conn.stream.next()).await {
                    Ok(item) => item,
                    // The top of the loop reports the timeout.
                    Err(_) => continue,
                },
                None => conn.stream.next().await,
            };
            match item {
                Some(Ok((id, m))) => {
                    self.rx.ack().returned(id);
                    self.failures = 0;
                    self.last = Instant::now();
                    conn.got_any = true;
                    // Dropping the stream makes the next call reopen it with
                    // the id just returned (see `AckCadence`); a message the
                    // server already wrote into it is sent again then.
                    if !conn.unacked.returned(id) {
                        self.conn = Some(conn);
                    }
                    return Some(Ok(m));
                }
                Some(Err(e)) if is_bad_event(&e) => {
                    tracing::warn!(mailbox = %self.rx.mailbox, error = %e, "dropping an event that is not a message");
                    self.conn = Some(conn);
                }
                Some(Err(e)) => {
                    self.failures += 1;
                    if self.failures >= self.rx.policy.max_failures {
                        return self.fail(map_error(e, Some(&self.rx.mailbox)));
                    }
                    tracing::debug!(mailbox = %self.rx.mailbox, error = %e, "event stream broke; reconnecting");
                    self.rx.pause(self.failures, remaining).await;
                }
                None => {
                    let quick = !conn.got_any
                        && conn.opened.elapsed().as_secs_f64()
                            < conn.idle_timeout.as_secs_f64() * QUICK_END_FRACTION;
                    if quick {
                        self.failures += 1;
                        if self.failures >= self.rx.policy.max_failures {
                            return self.fail(ExchangeError::transport_msg(format!(
                                "the event stream of {} keeps closing without delivering anything",
                                self.rx.mailbox
                            )));
                        }
                        // The first quick end is usually a termination: reconnect at once to see it.
                        if self.failures > 1 {
                            self.rx.pause(self.failures - 1, remaining).await;
                        }
                    } else {
                        self.failures = 0;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use academy_globus_client::ApiError;
    use http::{HeaderMap, StatusCode};

    fn api(status: u16, text: &str) -> HttpError {
        HttpError::from(ApiError::from_response(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &HeaderMap::new(),
            text.as_bytes(),
            false,
        ))
    }

    #[test]
    fn a_missing_route_is_told_from_a_missing_mailbox() {
        assert!(route_missing(&api(404, "404: Not Found")));
        assert!(route_missing(&api(405, "405: Method Not Allowed")));
        assert!(route_missing(&api(501, "")));
        assert!(!route_missing(&api(404, "Unknown mailbox ID")));
        assert!(!route_missing(&api(419, "Mailbox was closed")));
        assert!(!route_missing(&HttpError::Timeout));
    }

    #[test]
    fn acknowledgements_start_with_none_then_carry_the_last_id() {
        let mut ack = Ack::default();
        assert_eq!(ack.next_request(), None);
        assert_eq!(ack.next_request(), Some(0));
        ack.returned(Some(7));
        ack.returned(None);
        assert_eq!(ack.next_request(), Some(7));
    }

    #[test]
    fn waits_are_bounded_by_request_timeout_and_remaining_time() {
        assert!((secs(Duration::from_micros(10)) - 0.001).abs() < 1e-9);
        assert!((secs(Duration::from_millis(1500)) - 1.5).abs() < 1e-9);
        assert!(is_bad_event(&HttpError::InvalidResponse(
            "event is not a message: x".into()
        )));
        assert!(!is_bad_event(&HttpError::InvalidResponse(
            "event-stream line too long".into()
        )));
    }
}
