//! The hosted exchange's routes (`exchange-http-api.md` §5, §6), as
//! academy-py's `AcademyGlobusClient` calls them: JSON bodies on every
//! method (GET and DELETE included), identifiers and messages
//! double-encoded (a JSON string holding the JSON), and the
//! `academy_version` header.
//!
//! Errors are returned as [`Error::Api`] with the status and text; mapping
//! them to exchange errors is the transport crate's job.
//!
//! Acknowledged delivery (an extension of our exchange server; academy-py's
//! server ignores it): every delivered message carries a per-mailbox id,
//! and a receiver that echoes the last id it processed when it comes back
//! gets everything after it again, so nothing is lost to a cut connection
//! or a killed server ([`AcademyGlobusClient::listen_from`],
//! [`AcademyGlobusClient::recv_from`],
//! [`AcademyGlobusClient::listen_reconnecting_from`]). A receive or listen
//! without an id (as [`AcademyGlobusClient::recv`],
//! [`AcademyGlobusClient::listen`] and academy-py do) tells the server that
//! everything handed out before was delivered. Re-sent messages are the
//! same messages (same tag): a receiver that processed one but not its id
//! may see it twice.

use std::sync::Arc;
use std::time::Duration;

use academy_exchange::{AgentId, AgentStats, EntityId, MailboxStatus, Message};
use futures::StreamExt as _;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use crate::authorizer::Authorizer;
use crate::config::TlsVerification;
use crate::error::{Error, Result};
use crate::http::{HttpClient, RequestBody};
use crate::layer::RetryPolicy;
use crate::sse::{EventStream, IdMessageStream, MessageStream, event_stream};

/// How often a long-lived event stream acknowledges what it received.
///
/// Our exchange server keeps every delivered message in flight until the
/// receiver comes back with the last id it processed, which an event
/// stream does only when it reconnects; a stream that never goes idle
/// would never acknowledge, and its mailbox's in-flight list would grow to
/// the server's bound (1 024 messages or 8 MiB per mailbox). So a
/// reconnecting listener reopens its stream, acknowledging, once it has
/// returned [`AckCadence::messages`] messages or once the oldest message
/// it has not acknowledged is [`AckCadence::age`] old (checked when a
/// message arrives). The server supersedes the dropped stream when the new
/// one opens (its pending take can no longer take anything), and re-sends
/// what the dropped one had in flight after the acknowledged id. Only
/// streams whose events carry ids (servers with acknowledged delivery) are
/// reopened: with a server without them (such as academy-py's) closing a
/// stream could lose a message written into it.
///
/// ```
/// use academy_globus_client::exchange_client::AckCadence;
/// let c = AckCadence::default();
/// assert!(c.due(c.messages, std::time::Duration::ZERO));
/// assert!(!c.due(1, std::time::Duration::ZERO));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckCadence {
    /// Messages returned on one stream before it is reopened.
    pub messages: u32,
    /// Age of the oldest unacknowledged message after which it is reopened.
    pub age: Duration,
}

impl Default for AckCadence {
    fn default() -> Self {
        AckCadence {
            messages: 256,
            age: Duration::from_secs(5),
        }
    }
}

impl AckCadence {
    /// Whether a stream that returned `unacked` messages, the oldest of
    /// them `oldest` ago, should be reopened now.
    pub fn due(&self, unacked: u32, oldest: Duration) -> bool {
        unacked > 0 && (unacked >= self.messages || oldest >= self.age)
    }
}

/// What one event stream has returned without acknowledging it yet, kept
/// against the default [`AckCadence`]. A new stream starts a new one.
///
/// ```
/// use academy_globus_client::exchange_client::Unacknowledged;
/// let mut u = Unacknowledged::default();
/// assert!(!u.returned(Some(1)));
/// assert!(!u.returned(None)); // events without ids are not acknowledged
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Unacknowledged {
    count: u32,
    since: Option<std::time::Instant>,
}

impl Unacknowledged {
    /// Records a returned message with event id `id`; true when the stream
    /// should now be reopened to acknowledge.
    pub fn returned(&mut self, id: Option<u64>) -> bool {
        if id.is_some() {
            self.count += 1;
            self.since.get_or_insert_with(std::time::Instant::now);
        }
        let oldest = self.since.map_or(Duration::ZERO, |t| t.elapsed());
        AckCadence::default().due(self.count, oldest)
    }
}

/// Configuration of [`AcademyGlobusClient`].
#[derive(Clone)]
pub struct ExchangeClientConfig {
    /// Exchange base URL (default `https://exchange.academy-agents.org/v1`;
    /// the Globus environment variables do not apply to it).
    pub base_url: Url,
    /// Bearer tokens for the exchange resource server.
    pub authorizer: Option<Arc<dyn Authorizer>>,
    /// Retry policy (globus-sdk's by default).
    pub retry: RetryPolicy,
    /// Per-attempt timeout. Default none, as academy-py: long polls are
    /// bounded by the server.
    pub timeout: Option<Duration>,
    /// Refresh the token and resend once on 403 (default true). The
    /// exchange answers expired tokens with 403, which globus-sdk never
    /// refreshes; a 403 for missing permissions costs one extra request.
    pub refresh_on_forbidden: bool,
    /// Allow plain http to non-loopback hosts.
    pub allow_insecure_http: bool,
    /// Server certificate verification (`GLOBUS_SDK_VERIFY_SSL`, which
    /// globus-sdk applies to the exchange client too).
    pub tls_verification: TlsVerification,
    /// The `academy_version` header value.
    pub academy_version: String,
}

impl std::fmt::Debug for ExchangeClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeClientConfig")
            .field("base_url", &self.base_url.as_str())
            .field("authorizer", &self.authorizer)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .field("tls_verification", &self.tls_verification)
            .finish_non_exhaustive()
    }
}

impl ExchangeClientConfig {
    /// Defaults for `base_url` (no environment is read: webpki roots
    /// verification).
    pub fn new(base_url: Url) -> Self {
        ExchangeClientConfig {
            base_url,
            authorizer: None,
            retry: RetryPolicy::default(),
            timeout: None,
            refresh_on_forbidden: true,
            allow_insecure_http: false,
            tls_verification: TlsVerification::WebPki,
            academy_version: crate::config::ACADEMY_VERSION.into(),
        }
    }

    /// Defaults for the hosted exchange, with `GLOBUS_SDK_VERIFY_SSL`.
    pub fn hosted() -> Result<Self> {
        let mut config = ExchangeClientConfig::new(crate::config::parse_url(
            crate::config::DEFAULT_EXCHANGE_URL,
        )?);
        config.tls_verification = TlsVerification::from_env()?;
        Ok(config)
    }

    /// Sets the authorizer.
    pub fn with_authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.authorizer = Some(authorizer);
        self
    }
}

/// How [`AcademyGlobusClient::listen_reconnecting`] reconnects.
#[derive(Debug, Clone)]
pub struct ReconnectPolicy {
    /// Consecutive failed connections before giving up with the error.
    pub max_failures: u32,
    /// Backoff between failed connections (its `backoff`/`max_sleep`).
    pub backoff: RetryPolicy,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            max_failures: 10,
            backoff: RetryPolicy::default(),
        }
    }
}

/// Raw client of the hosted exchange.
///
/// ```no_run
/// # async fn f() -> academy_globus_client::Result<()> {
/// use std::sync::Arc;
/// use academy_exchange::UserId;
/// use academy_globus_client::{AcademyGlobusClient, ExchangeClientConfig};
/// use academy_globus_client::authorizer::StaticTokenAuthorizer;
/// let config = ExchangeClientConfig::hosted()?
///     .with_authorizer(Arc::new(StaticTokenAuthorizer::new("token".into())));
/// let client = AcademyGlobusClient::new(config)?;
/// let me = UserId::new(None);
/// client.register_client(&me.clone().into()).await?;
/// let heartbeat = client.get_heartbeat(&me.into()).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct AcademyGlobusClient {
    http: HttpClient,
}

fn mailbox(id: &EntityId) -> Value {
    json!({ "mailbox": id.to_json() })
}

fn invalid(what: &str, e: impl std::fmt::Display) -> Error {
    Error::InvalidResponse(format!("{what}: {e}"))
}

impl AcademyGlobusClient {
    /// Builds the client and its HTTP stack.
    pub fn new(config: ExchangeClientConfig) -> Result<Self> {
        let version = HeaderValue::from_str(&config.academy_version)
            .map_err(|_| Error::Config("invalid academy_version".into()))?;
        let mut b = HttpClient::builder(config.base_url)
            .retry(config.retry)
            .timeout(config.timeout)
            .refresh_on_forbidden(config.refresh_on_forbidden)
            .allow_insecure_http(config.allow_insecure_http)
            .tls_verification(config.tls_verification)
            .default_header(HeaderName::from_static("academy_version"), version);
        if let Some(a) = config.authorizer {
            b = b.authorizer(a);
        }
        Ok(AcademyGlobusClient { http: b.build()? })
    }

    /// Wraps an already built HTTP client (which should send the
    /// `academy_version` header).
    pub fn from_http(http: HttpClient) -> Self {
        AcademyGlobusClient { http }
    }

    /// The underlying HTTP client.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Value,
    ) -> Result<crate::http::BufferedResponse> {
        self.http
            .execute(method, path, RequestBody::Json(body), HeaderMap::new())
            .await
    }

    /// `POST /mailbox` for a user (or any id without an agent MRO).
    pub async fn register_client(&self, id: &EntityId) -> Result<()> {
        self.call(Method::POST, "mailbox", mailbox(id))
            .await
            .map(drop)
    }

    /// `POST /mailbox` for an agent with its MRO (most-derived first,
    /// ending with `academy.agent.Agent`).
    pub async fn register_agent(&self, id: &AgentId, mro: &[impl AsRef<str>]) -> Result<()> {
        let agent: Vec<&str> = mro.iter().map(AsRef::as_ref).collect();
        let body = json!({ "mailbox": id.to_json(), "agent": agent.join(",") });
        self.call(Method::POST, "mailbox", body).await.map(drop)
    }

    /// `GET /mailbox` (still served; 1.0.0 clients use the heartbeat).
    pub async fn status(&self, id: &EntityId) -> Result<MailboxStatus> {
        #[derive(Deserialize)]
        struct R {
            status: MailboxStatus,
        }
        Ok(self
            .call(Method::GET, "mailbox", mailbox(id))
            .await?
            .json::<R>()?
            .status)
    }

    /// `DELETE /mailbox`.
    pub async fn terminate(&self, id: &EntityId) -> Result<()> {
        self.call(Method::DELETE, "mailbox", mailbox(id))
            .await
            .map(drop)
    }

    /// `PUT /message`. Retried on transient failures like every call, so a
    /// message may be enqueued twice if the server failed after enqueueing.
    pub async fn send(&self, message: &Message) -> Result<()> {
        let body = json!({ "message": message.to_json() });
        self.call(Method::PUT, "message", body).await.map(drop)
    }

    /// `GET /message`: long-poll one message (`timeout` seconds, server
    /// default when `None`). A 408 means no message arrived in time.
    pub async fn recv(&self, id: &EntityId, timeout: Option<f64>) -> Result<Message> {
        self.recv_from(id, timeout, None).await.map(|(_, m)| m)
    }

    /// `GET /message` with acknowledgement: `last_id` is the id of the last
    /// message this receiver processed (`Some(0)`: none yet), sent as the
    /// body field `last_id`; the server first re-queues what it handed out
    /// after that. Returns the message with its id (`None` from a server
    /// without ids, such as academy-py's). `None` behaves as
    /// [`Self::recv`]. A 408 means no message arrived in time.
    ///
    /// ```no_run
    /// # async fn f(client: academy_globus_client::AcademyGlobusClient,
    /// #            me: academy_exchange::EntityId) -> academy_globus_client::Result<()> {
    /// let mut last = Some(0);
    /// loop {
    ///     let (id, message) = client.recv_from(&me, Some(30.0), last).await?;
    ///     println!("{message:?}");
    ///     last = id.or(last);
    /// }
    /// # }
    /// ```
    pub async fn recv_from(
        &self,
        id: &EntityId,
        timeout: Option<f64>,
        last_id: Option<u64>,
    ) -> Result<(Option<u64>, Message)> {
        let mut body = mailbox(id);
        if let Some(t) = timeout {
            body["timeout"] = json!(t);
        }
        if let Some(l) = last_id {
            body["last_id"] = json!(l);
        }
        #[derive(Deserialize)]
        struct R {
            message: String,
            #[serde(default)]
            id: Option<Value>,
        }
        let r: R = self.call(Method::GET, "message", body).await?.json()?;
        let message = Message::from_json(&r.message).map_err(|e| invalid("received message", e))?;
        Ok((r.id.and_then(|v| v.as_u64()), message))
    }

    /// `GET /discover`: agents whose MRO matches `agent` (`<module>.<name>`).
    pub async fn discover(&self, agent: &str, allow_subclasses: bool) -> Result<Vec<AgentId>> {
        #[derive(Deserialize)]
        struct R {
            agent_ids: String,
        }
        let body = json!({ "agent": agent, "allow_subclasses": allow_subclasses });
        let r: R = self.call(Method::GET, "discover", body).await?.json()?;
        r.agent_ids
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                uuid::Uuid::parse_str(s.trim())
                    .map(|u| AgentId::from_uid(u, None))
                    .map_err(|e| invalid("discover agent id", e))
            })
            .collect()
    }

    /// `GET /mailbox/heartbeat`: seconds since the last heartbeat, or
    /// `None` if there never was one.
    pub async fn get_heartbeat(&self, id: &EntityId) -> Result<Option<f64>> {
        #[derive(Deserialize)]
        struct R {
            heartbeat: Option<f64>,
        }
        Ok(self
            .call(Method::GET, "mailbox/heartbeat", mailbox(id))
            .await?
            .json::<R>()?
            .heartbeat)
    }

    /// `POST /mailbox/heartbeat`.
    pub async fn update_heartbeat(&self, id: &EntityId) -> Result<()> {
        self.call(Method::POST, "mailbox/heartbeat", mailbox(id))
            .await
            .map(drop)
    }

    /// `GET /mailbox/stats`.
    pub async fn get_agent_stats(&self, id: &EntityId) -> Result<AgentStats> {
        self.call(Method::GET, "mailbox/stats", mailbox(id))
            .await?
            .json()
    }

    /// `POST /mailbox/share`.
    pub async fn share_mailbox(&self, id: &EntityId, group_id: &str) -> Result<()> {
        let body = json!({ "mailbox": id.to_json(), "group_id": group_id });
        self.call(Method::POST, "mailbox/share", body)
            .await
            .map(drop)
    }

    /// `GET /mailbox/share`: the group ids a mailbox is shared with.
    pub async fn get_shared_groups(&self, id: &EntityId) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct R {
            group_ids: Vec<String>,
        }
        Ok(self
            .call(Method::GET, "mailbox/share", mailbox(id))
            .await?
            .json::<R>()?
            .group_ids)
    }

    /// `DELETE /mailbox/share`.
    pub async fn remove_shared_group(&self, id: &EntityId, group_id: &str) -> Result<()> {
        let body = json!({ "mailbox": id.to_json(), "group_id": group_id });
        self.call(Method::DELETE, "mailbox/share", body)
            .await
            .map(drop)
    }

    /// Opens one `GET /mailbox/listen` connection. `timeout` is the
    /// server's idle timeout in seconds; the stream ends when the server
    /// closes it. Opening is not retried (the auth layer still refreshes
    /// once on 401/403); use [`Self::listen_reconnecting`] for a loop.
    pub async fn listen(&self, id: &EntityId, timeout: Option<f64>) -> Result<MessageStream> {
        let events = self.open_listen(id, timeout, None).await?;
        Ok(Box::pin(
            events.map(|item| item.and_then(|(_, message)| message)),
        ))
    }

    /// Opens one `GET /mailbox/listen` connection with acknowledgement:
    /// with `Some(last)`, the `Last-Event-ID: <last>` header tells the
    /// server the last event this receiver processed (`0`: none), and it
    /// re-sends what it handed out after that first. Items carry the event
    /// ids (`None` from a server without ids). `None` behaves as
    /// [`Self::listen`].
    ///
    /// ```no_run
    /// # async fn f(client: academy_globus_client::AcademyGlobusClient,
    /// #            me: academy_exchange::EntityId) -> academy_globus_client::Result<()> {
    /// use futures::StreamExt as _;
    /// let mut last = None;
    /// loop {
    ///     let mut events = client.listen_from(&me, Some(60.0), last).await?;
    ///     while let Some(Ok((id, message))) = events.next().await {
    ///         println!("{message:?}");
    ///         last = id.or(last);
    ///     }
    ///     last = last.or(Some(0));
    /// }
    /// # }
    /// ```
    pub async fn listen_from(
        &self,
        id: &EntityId,
        timeout: Option<f64>,
        last_event_id: Option<u64>,
    ) -> Result<IdMessageStream> {
        let events = self.open_listen(id, timeout, last_event_id).await?;
        Ok(Box::pin(events.map(|item| {
            item.and_then(|(seq, message)| message.map(|m| (seq, m)))
        })))
    }

    async fn open_listen(
        &self,
        id: &EntityId,
        timeout: Option<f64>,
        last_event_id: Option<u64>,
    ) -> Result<EventStream> {
        let mut body = mailbox(id);
        if let Some(t) = timeout {
            body["timeout"] = json!(t);
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        );
        // The opt-in to acknowledged delivery (academy-exchange-server's
        // `DELIVERY_HEADER`), on every stream: our server honours
        // Last-Event-ID only with it, and lets an acknowledging stream
        // supersede the mailbox's earlier ones (which the `AckCadence`
        // relies on). Other servers ignore it.
        headers.insert(
            HeaderName::from_static("academy-delivery"),
            HeaderValue::from_static("ack"),
        );
        if let Some(last) = last_event_id {
            headers.insert(
                HeaderName::from_static("last-event-id"),
                HeaderValue::from(last),
            );
        }
        let resp = self
            .http
            .open_stream(
                Method::GET,
                "mailbox/listen",
                RequestBody::Json(body),
                headers,
            )
            .await?;
        Ok(event_stream(resp.into_body()))
    }

    /// Listens for ever: reconnects when the server ends the stream and,
    /// with backoff, after transient failures (connection errors, 429, 5xx,
    /// broken streams). Ends with the error on a client error (400, 401,
    /// 403, 404, 419, …), on [`Error::LoginRequired`], or after
    /// `policy.max_failures` consecutive failed connections. Messages that
    /// fail to parse are yielded as errors and listening goes on.
    ///
    /// Reconnections acknowledge: the first connection sends no
    /// `Last-Event-ID`; every later one sends the id of the last event
    /// received in this session (`0` if none yet), so our exchange server
    /// re-sends what a cut connection lost.
    pub fn listen_reconnecting(
        &self,
        id: EntityId,
        timeout: Option<f64>,
        policy: ReconnectPolicy,
    ) -> MessageStream {
        Box::pin(
            self.listen_reconnecting_from(id, timeout, policy, None)
                .map(|item| item.map(|(_, message)| message)),
        )
    }

    /// As [`Self::listen_reconnecting`], with the event ids and an initial
    /// `last_event_id` for the first connection (e.g. the last id of a
    /// previous session; `None`: no header on the first connection). Every
    /// reconnection sends the last id received (or, before any,
    /// `last_event_id`, or `0`).
    pub fn listen_reconnecting_from(
        &self,
        id: EntityId,
        timeout: Option<f64>,
        policy: ReconnectPolicy,
        last_event_id: Option<u64>,
    ) -> IdMessageStream {
        enum St {
            Connect(u32, Option<u64>),
            Streaming(EventStream, bool, Option<u64>, Unacknowledged),
            Done,
        }
        let client = self.clone();
        Box::pin(futures::stream::unfold(
            St::Connect(0, last_event_id),
            move |mut st| {
                let client = client.clone();
                let id = id.clone();
                let policy = policy.clone();
                async move {
                    loop {
                        st = match st {
                            St::Done => return None,
                            St::Connect(failures, last) => {
                                match client.open_listen(&id, timeout, last).await {
                                    Ok(stream) => St::Streaming(
                                        stream,
                                        false,
                                        last,
                                        Unacknowledged::default(),
                                    ),
                                    Err(e)
                                        if is_fatal(&e) || failures + 1 >= policy.max_failures =>
                                    {
                                        return Some((Err(e), St::Done));
                                    }
                                    Err(e) => {
                                        let delay = policy.backoff.backoff(failures);
                                        tracing::debug!(error = %e, delay_ms = delay.as_millis() as u64, "listen failed; reconnecting");
                                        tokio::time::sleep(delay).await;
                                        St::Connect(failures + 1, Some(last.unwrap_or(0)))
                                    }
                                }
                            }
                            St::Streaming(mut stream, got_any, last, mut unacked) => {
                                match stream.next().await {
                                    Some(Ok((seq, message))) => {
                                        // An unreadable event counts as received
                                        // too: re-sending it would not help.
                                        let last = seq.or(last);
                                        let next = if unacked.returned(seq) {
                                            // Reopen, acknowledging up to `last`.
                                            St::Connect(0, Some(last.unwrap_or(0)))
                                        } else {
                                            St::Streaming(stream, true, last, unacked)
                                        };
                                        return Some((message.map(|m| (seq, m)), next));
                                    }
                                    Some(Err(e)) => {
                                        tracing::debug!(error = %e, "event stream broke; reconnecting");
                                        tokio::time::sleep(policy.backoff.backoff(0)).await;
                                        St::Connect(1, Some(last.unwrap_or(0)))
                                    }
                                    None => {
                                        // A stream that ends without delivering
                                        // anything gets a short pause, so a server
                                        // closing at once is not spun on.
                                        if !got_any {
                                            tokio::time::sleep(policy.backoff.backoff(0)).await;
                                        }
                                        St::Connect(0, Some(last.unwrap_or(0)))
                                    }
                                }
                            }
                        };
                    }
                }
            },
        ))
    }
}

fn is_fatal(e: &Error) -> bool {
    match e {
        Error::Api(api) => api.http_status < 500 && api.http_status != 429,
        Error::LoginRequired { .. } | Error::Config(_) | Error::TokenStore { .. } => true,
        _ => false,
    }
}
