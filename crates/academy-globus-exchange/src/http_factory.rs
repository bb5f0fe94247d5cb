//! The plain HTTP exchange (`globus-exchange-client.md` §7): the same HTTP
//! API with static headers (a ready-made `Authorization`, or none), for
//! servers without Globus auth or with an externally obtained token.
//!
//! Differences from academy-py's `HttpExchangeFactory`, wire unchanged:
//! transient failures are retried with globus-sdk's policy (5 retries,
//! jittered exponential backoff, `Retry-After`) instead of 1 retry after
//! 1 s, and user registration is retried too (§9.17); a 403 is not
//! "re-authenticated" (static headers cannot be renewed — use
//! [`crate::GlobusExchangeFactory`] for renewable credentials).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use academy_exchange::transport::downcast_registration;
use academy_exchange::{
    AgentId, AgentRegistration, AgentStats, AgentType, EntityId, ExchangeClientConfig,
    ExchangeError, ExchangeFactory, ExchangeTransport, Message, MessageStream, UserId,
};
use academy_globus_client::{AcademyGlobusClient, HttpClient, RetryPolicy};
use async_trait::async_trait;
use http::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::mailbox::MailboxClient;
use crate::receive::ReceivePolicy;

/// `exchange_type` of the plain HTTP exchange.
pub const HTTP_EXCHANGE_TYPE: &str = "http";

/// Default `request_timeout_s`: the longest server wait asked for.
pub const DEFAULT_REQUEST_TIMEOUT_S: f64 = 60.0;

fn default_request_timeout_s() -> f64 {
    DEFAULT_REQUEST_TIMEOUT_S
}

/// Factory of [`HttpExchangeTransport`]s; serialises to JSON to be
/// shipped to agent processes.
///
/// ```no_run
/// # async fn demo() -> Result<(), academy_exchange::ExchangeError> {
/// use academy_exchange::ExchangeFactory;
/// use academy_globus_exchange::HttpExchangeFactory;
/// let factory = HttpExchangeFactory::new("http://127.0.0.1:8700".parse().unwrap());
/// let user = factory.create_user_client(Some("me"), true).await?;
/// let json = factory.to_json()?; // for an agent process
/// # let _ = (user, json); Ok(()) }
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct HttpExchangeFactory {
    /// Exchange base URL.
    pub url: Url,
    /// Headers sent with every request (e.g. `Authorization`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The longest wait asked of the server per receive request, seconds
    /// (must not exceed the server's `listen_timeout_s`).
    #[serde(default = "default_request_timeout_s")]
    pub request_timeout_s: f64,
    /// Configuration of the clients this factory creates.
    #[serde(default)]
    pub config: ExchangeClientConfig,
    /// Retry policy of the HTTP stack (not serialised: globus-sdk's by default).
    #[serde(skip)]
    pub retry: RetryPolicy,
    /// Reaction of receivers to transient failures (not serialised).
    #[serde(skip)]
    pub receive: ReceivePolicy,
}

impl std::fmt::Debug for HttpExchangeFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpExchangeFactory")
            .field("url", &self.url.as_str())
            .field(
                "headers",
                &self
                    .headers
                    .keys()
                    .map(|k| format!("{k}: <redacted>"))
                    .collect::<Vec<_>>(),
            )
            .field("request_timeout_s", &self.request_timeout_s)
            .field("config", &self.config)
            .finish()
    }
}

impl HttpExchangeFactory {
    /// A factory for the exchange at `url`, no extra headers.
    pub fn new(url: Url) -> Self {
        HttpExchangeFactory {
            url,
            headers: BTreeMap::new(),
            request_timeout_s: DEFAULT_REQUEST_TIMEOUT_S,
            config: ExchangeClientConfig::default(),
            retry: RetryPolicy::default(),
            receive: ReceivePolicy::default(),
        }
    }

    /// Adds a header sent with every request.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Sets the client configuration.
    pub fn with_config(mut self, config: ExchangeClientConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets `request_timeout_s`.
    pub fn with_request_timeout_s(mut self, secs: f64) -> Self {
        self.request_timeout_s = secs;
        self
    }

    /// Sets the HTTP stack's retry policy.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets how receivers react to transient failures.
    pub fn with_receive_policy(mut self, receive: ReceivePolicy) -> Self {
        self.receive = receive;
        self
    }

    /// Reads a factory from [`ExchangeFactory::to_json`] output.
    pub fn from_json(json: &str) -> Result<Self, ExchangeError> {
        serde_json::from_str(json)
            .map_err(|e| ExchangeError::Serialization(format!("HttpExchangeFactory JSON: {e}")))
    }

    fn client(&self) -> Result<AcademyGlobusClient, ExchangeError> {
        let mut b = HttpClient::builder(self.url.clone())
            .retry(self.retry.clone())
            // Long polls are bounded by the server and by the receiver.
            .timeout(None)
            .default_header(
                HeaderName::from_static("academy_version"),
                HeaderValue::from_static(academy_globus_client::config::ACADEMY_VERSION),
            );
        for (k, v) in &self.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| {
                ExchangeError::InvalidMessage(format!("invalid header name {k:?}: {e}"))
            })?;
            let mut value = HeaderValue::from_str(v).map_err(|_| {
                ExchangeError::InvalidMessage(format!("invalid value for header {k:?}"))
            })?;
            value.set_sensitive(true);
            b = b.default_header(name, value);
        }
        let http = b
            .build()
            .map_err(|e| ExchangeError::transport("building the HTTP client", e))?;
        Ok(AcademyGlobusClient::from_http(http))
    }

    fn request_timeout(&self) -> Result<Duration, ExchangeError> {
        Duration::try_from_secs_f64(self.request_timeout_s)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                ExchangeError::InvalidMessage(format!(
                    "request_timeout_s must be a positive number, not {}",
                    self.request_timeout_s
                ))
            })
    }

    /// A transport bound to `mailbox_id`, or to a newly registered user
    /// mailbox named `name` when `mailbox_id` is `None`.
    pub async fn transport(
        &self,
        mailbox_id: Option<EntityId>,
        name: Option<&str>,
    ) -> Result<HttpExchangeTransport, ExchangeError> {
        let client = self.client()?;
        let mailbox_id = match mailbox_id {
            Some(id) => id,
            None => {
                let id = EntityId::from(UserId::new(name.map(str::to_string)));
                MailboxClient::register_user(&client, &id).await?;
                id
            }
        };
        Ok(HttpExchangeTransport {
            mailbox: MailboxClient::new(
                client,
                mailbox_id,
                self.request_timeout()?,
                self.receive.clone(),
            ),
        })
    }
}

#[async_trait]
impl ExchangeFactory for HttpExchangeFactory {
    fn exchange_type(&self) -> &str {
        HTTP_EXCHANGE_TYPE
    }

    fn config(&self) -> ExchangeClientConfig {
        self.config
    }

    fn to_json(&self) -> Result<String, ExchangeError> {
        serde_json::to_string(self).map_err(|e| ExchangeError::Serialization(e.to_string()))
    }

    fn registration_from_json(
        &self,
        json: &str,
    ) -> Result<Box<dyn AgentRegistration>, ExchangeError> {
        Ok(Box::new(HttpAgentRegistration::from_json(json)?))
    }

    async fn create_user_transport(
        &self,
        name: Option<&str>,
    ) -> Result<Arc<dyn ExchangeTransport>, ExchangeError> {
        Ok(Arc::new(self.transport(None, name).await?))
    }

    async fn create_agent_transport(
        &self,
        registration: &dyn AgentRegistration,
    ) -> Result<Arc<dyn ExchangeTransport>, ExchangeError> {
        let reg = downcast_registration::<HttpAgentRegistration>(registration)?;
        Ok(Arc::new(
            self.transport(Some(reg.agent_id.clone().into()), None)
                .await?,
        ))
    }
}

/// A registration on the plain HTTP exchange (academy-py's
/// `HttpAgentRegistration`): the agent id only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpAgentRegistration {
    /// The registered agent.
    pub agent_id: AgentId,
    /// Always `"http"`.
    #[serde(default = "http_type")]
    pub exchange_type: String,
}

fn http_type() -> String {
    HTTP_EXCHANGE_TYPE.to_string()
}

impl HttpAgentRegistration {
    /// The registration of `agent_id`.
    pub fn new(agent_id: AgentId) -> Self {
        HttpAgentRegistration {
            agent_id,
            exchange_type: http_type(),
        }
    }

    /// Reads the JSON form; rejects another `exchange_type`.
    pub fn from_json(json: &str) -> Result<Self, ExchangeError> {
        academy_exchange::transport::registration_from_json(json, HTTP_EXCHANGE_TYPE, |r: &Self| {
            &r.exchange_type
        })
    }
}

academy_exchange::impl_agent_registration!(HttpAgentRegistration, HTTP_EXCHANGE_TYPE);

/// A transport to an exchange over plain HTTP with static headers.
#[derive(Debug)]
pub struct HttpExchangeTransport {
    mailbox: MailboxClient,
}

#[async_trait]
impl ExchangeTransport for HttpExchangeTransport {
    fn mailbox_id(&self) -> &EntityId {
        self.mailbox.mailbox_id()
    }

    async fn close(&self) -> Result<(), ExchangeError> {
        Ok(())
    }

    async fn discover(
        &self,
        agent: &str,
        allow_subclasses: bool,
    ) -> Result<Vec<AgentId>, ExchangeError> {
        self.mailbox.discover(agent, allow_subclasses).await
    }

    fn listen(&self, timeout: Option<Duration>) -> MessageStream {
        self.mailbox.listen(timeout)
    }

    async fn recv(&self, timeout: Option<Duration>) -> Result<Message, ExchangeError> {
        self.mailbox.recv(timeout).await
    }

    async fn register_agent(
        &self,
        agent: &AgentType,
        name: Option<&str>,
    ) -> Result<Box<dyn AgentRegistration>, ExchangeError> {
        let aid = AgentId::new(name.map(str::to_string));
        self.mailbox.register_agent_mailbox(&aid, agent).await?;
        Ok(Box::new(HttpAgentRegistration::new(aid)))
    }

    async fn send(&self, message: &Message) -> Result<(), ExchangeError> {
        self.mailbox.send(message).await
    }

    async fn terminate(&self, uid: &EntityId) -> Result<(), ExchangeError> {
        self.mailbox.terminate(uid).await
    }

    async fn heartbeat_status(&self, uid: &EntityId) -> Result<Option<f64>, ExchangeError> {
        self.mailbox.heartbeat_status(uid).await
    }

    async fn update_heartbeat(&self) -> Result<(), ExchangeError> {
        self.mailbox.update_heartbeat().await
    }

    async fn agent_stats(&self, uid: &EntityId) -> Result<AgentStats, ExchangeError> {
        self.mailbox.agent_stats(uid).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bad_headers_and_timeouts_are_typed_errors() {
        let url: Url = "http://127.0.0.1:9"
            .parse()
            .unwrap_or_else(|_| unreachable!());
        let f = HttpExchangeFactory::new(url.clone()).with_header("bad header", "x");
        let id = EntityId::from(UserId::new(None));
        assert!(matches!(
            f.transport(Some(id.clone()), None).await,
            Err(ExchangeError::InvalidMessage(m)) if m.contains("header name")
        ));
        let f = HttpExchangeFactory::new(url.clone()).with_header("authorization", "line\nbreak");
        assert!(matches!(
            f.transport(Some(id.clone()), None).await,
            Err(ExchangeError::InvalidMessage(_))
        ));
        let f = HttpExchangeFactory::new(url).with_request_timeout_s(-1.0);
        assert!(matches!(
            f.transport(Some(id), None).await,
            Err(ExchangeError::InvalidMessage(m)) if m.contains("request_timeout_s")
        ));
    }

    #[test]
    fn registration_json_is_academy_py_shaped() {
        let reg = HttpAgentRegistration::new(AgentId::new(Some("a".into())));
        let v: serde_json::Value =
            serde_json::from_str(&reg.to_json().unwrap_or_default()).unwrap_or_default();
        assert_eq!(v["exchange_type"], "http");
        assert_eq!(v["agent_id"]["name"], "a");
        let wrong = v.to_string().replace("\"http\"", "\"globus\"");
        assert!(HttpAgentRegistration::from_json(&wrong).is_err());
    }
}
