//! Our client side.
//!
//! Round trips and throughput use what an application uses: an
//! [`HttpExchangeFactory`] minting one [`ExchangeTransport`] (one HTTP
//! connection pool) per mailbox, like academy-py's one
//! `HttpExchangeTransport` and aiohttp session per mailbox. With
//! authentication the bearer token is a static `Authorization` header on
//! both sides.
//!
//! Set-up heavy scenarios (idle mailboxes, fan-in) talk to the exchange
//! through the raw [`AcademyGlobusClient`] underneath, sharing one pool,
//! because they need to know when an event stream is open.

use std::sync::Arc;

use academy_exchange::{AgentType, EntityId, ExchangeTransport, Message};
use academy_globus_client::{AcademyGlobusClient, ExchangeClientConfig, Secret};
use academy_globus_exchange::HttpExchangeFactory;
use futures::stream::{BoxStream, StreamExt as _};
use url::Url;

use crate::error::BenchError;

/// Agent type registered for benchmark agents.
pub const AGENT_TYPE: &str = "bench.BenchEcho";

/// Creates endpoints against one exchange.
#[derive(Clone)]
pub struct RustClient {
    base_url: Url,
    token: Option<Secret>,
    factory: HttpExchangeFactory,
}

impl std::fmt::Debug for RustClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RustClient")
            .field("base_url", &self.base_url.as_str())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl RustClient {
    /// A client of the exchange at `base_url`, with a bearer token when the
    /// server authenticates.
    pub fn new(base_url: &str, token: Option<Secret>) -> Result<Self, BenchError> {
        let base_url = Url::parse(&format!("{}/", base_url.trim_end_matches('/')))
            .map_err(|e| BenchError::Child(format!("bad server URL {base_url:?}: {e}")))?;
        let mut factory = HttpExchangeFactory::new(base_url.clone());
        if let Some(t) = &token {
            factory = factory.with_header("Authorization", format!("Bearer {}", t.expose()));
        }
        Ok(RustClient {
            base_url,
            token,
            factory,
        })
    }

    /// A raw client with its own connection pool (set-up heavy scenarios).
    pub fn http(&self) -> Result<AcademyGlobusClient, BenchError> {
        let mut config = ExchangeClientConfig::new(self.base_url.clone());
        if let Some(token) = &self.token {
            config = config.with_authorizer(Arc::new(
                academy_globus_client::authorizer::StaticTokenAuthorizer::new(token.clone()),
            ));
        }
        Ok(AcademyGlobusClient::new(config)?)
    }

    /// Registers a new user mailbox and binds a transport to it.
    pub async fn user(&self) -> Result<Endpoint, BenchError> {
        let transport = self.factory.transport(None, None).await?;
        Ok(Endpoint {
            transport: Arc::new(transport),
        })
    }

    /// Registers an agent mailbox through `user` and binds a new transport
    /// (with its own connection pool) to it.
    pub async fn agent(&self, user: &Endpoint) -> Result<Endpoint, BenchError> {
        let registration = user
            .transport
            .register_agent(&AgentType::new(AGENT_TYPE), None)
            .await?;
        let id: EntityId = registration.agent_id().clone().into();
        let transport = self.factory.transport(Some(id), None).await?;
        Ok(Endpoint {
            transport: Arc::new(transport),
        })
    }
}

/// One mailbox seen from our client: its transport.
#[derive(Debug, Clone)]
pub struct Endpoint {
    transport: Arc<dyn ExchangeTransport>,
}

impl Endpoint {
    /// The mailbox id.
    pub fn id(&self) -> &EntityId {
        self.transport.mailbox_id()
    }

    /// `ExchangeTransport::send`.
    pub async fn send(&self, message: &Message) -> Result<(), BenchError> {
        Ok(self.transport.send(message).await?)
    }

    /// `ExchangeTransport::listen` without a timeout.
    pub fn listen(&self) -> BoxStream<'static, Result<Message, BenchError>> {
        self.transport
            .listen(None)
            .map(|r| r.map_err(BenchError::from))
            .boxed()
    }

    /// `ExchangeTransport::terminate` (best effort clean-up).
    pub async fn terminate(&self, id: &EntityId) {
        let _ = self.transport.terminate(id).await;
    }
}

/// Opens one event stream on `id` with the raw client and returns once the
/// server has accepted it, so that the caller knows the mailbox is being
/// listened to.
pub async fn listen_connected(
    http: &AcademyGlobusClient,
    id: &EntityId,
    timeout_s: f64,
) -> Result<BoxStream<'static, Result<Message, BenchError>>, BenchError> {
    let stream = http.listen(id, Some(timeout_s)).await?;
    Ok(stream.map(|r| r.map_err(BenchError::from)).boxed())
}
