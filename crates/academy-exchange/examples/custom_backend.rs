//! A custom exchange backend that passes the conformance suite.
//!
//! Another backend implements [`ExchangeTransport`] and [`ExchangeFactory`]
//! and proves itself by calling [`academy_exchange::conformance::run_all`]
//! from its tests. This example shows the shape with a backend that adds
//! per-mailbox traffic accounting on top of any other backend (here the
//! in-process [`LocalExchange`](academy_exchange::LocalExchange)); a storage
//! backend (SQL, NATS, …) implements the same two traits the same way.
//!
//! Run: `cargo run -p academy-exchange --example custom_backend`

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use academy_exchange::transport::MessageStream;
use academy_exchange::{
    AgentId, AgentRegistration, AgentStats, AgentType, EntityId, ExchangeClientConfig,
    ExchangeError, ExchangeFactory, ExchangeTransport, LocalExchangeFactory, Message,
};
use async_trait::async_trait;
use futures::StreamExt;

/// Messages sent and received, per mailbox, across every transport of one factory.
#[derive(Debug, Default)]
struct Traffic {
    sent: HashMap<EntityId, u64>,
    received: HashMap<EntityId, u64>,
}

/// The factory of the accounting backend.
#[derive(Debug)]
struct AccountingFactory<F> {
    inner: F,
    traffic: Arc<Mutex<Traffic>>,
}

/// A transport that counts what passes through the inner transport.
#[derive(Debug)]
struct AccountingTransport {
    inner: Arc<dyn ExchangeTransport>,
    traffic: Arc<Mutex<Traffic>>,
}

fn count(traffic: &Mutex<Traffic>, id: &EntityId, received: bool) {
    // A poisoned lock only means another task panicked mid-count; keep counting.
    let mut t = traffic.lock().unwrap_or_else(|p| p.into_inner());
    let map = if received {
        &mut t.received
    } else {
        &mut t.sent
    };
    *map.entry(id.clone()).or_default() += 1;
}

#[async_trait]
impl ExchangeTransport for AccountingTransport {
    fn mailbox_id(&self) -> &EntityId {
        self.inner.mailbox_id()
    }
    async fn close(&self) -> Result<(), ExchangeError> {
        self.inner.close().await
    }
    async fn discover(
        &self,
        agent: &str,
        allow_subclasses: bool,
    ) -> Result<Vec<AgentId>, ExchangeError> {
        self.inner.discover(agent, allow_subclasses).await
    }
    fn listen(&self, timeout: Option<Duration>) -> MessageStream {
        let traffic = self.traffic.clone();
        let me = self.inner.mailbox_id().clone();
        self.inner
            .listen(timeout)
            .inspect(move |item| {
                if item.is_ok() {
                    count(&traffic, &me, true);
                }
            })
            .boxed()
    }
    async fn recv(&self, timeout: Option<Duration>) -> Result<Message, ExchangeError> {
        let message = self.inner.recv(timeout).await?;
        count(&self.traffic, self.inner.mailbox_id(), true);
        Ok(message)
    }
    async fn register_agent(
        &self,
        agent: &AgentType,
        name: Option<&str>,
    ) -> Result<Box<dyn AgentRegistration>, ExchangeError> {
        self.inner.register_agent(agent, name).await
    }
    async fn send(&self, message: &Message) -> Result<(), ExchangeError> {
        self.inner.send(message).await?;
        count(&self.traffic, message.src(), false);
        Ok(())
    }
    async fn terminate(&self, uid: &EntityId) -> Result<(), ExchangeError> {
        self.inner.terminate(uid).await
    }
    async fn heartbeat_status(&self, uid: &EntityId) -> Result<Option<f64>, ExchangeError> {
        self.inner.heartbeat_status(uid).await
    }
    async fn update_heartbeat(&self) -> Result<(), ExchangeError> {
        self.inner.update_heartbeat().await
    }
    async fn agent_stats(&self, uid: &EntityId) -> Result<AgentStats, ExchangeError> {
        self.inner.agent_stats(uid).await
    }
}

#[async_trait]
impl<F: ExchangeFactory> ExchangeFactory for AccountingFactory<F> {
    fn exchange_type(&self) -> &str {
        // Registrations come from the inner exchange, so the type is its type.
        self.inner.exchange_type()
    }
    fn config(&self) -> ExchangeClientConfig {
        self.inner.config()
    }
    fn to_json(&self) -> Result<String, ExchangeError> {
        self.inner.to_json()
    }
    fn registration_from_json(
        &self,
        json: &str,
    ) -> Result<Box<dyn AgentRegistration>, ExchangeError> {
        self.inner.registration_from_json(json)
    }
    async fn create_user_transport(
        &self,
        name: Option<&str>,
    ) -> Result<Arc<dyn ExchangeTransport>, ExchangeError> {
        let inner = self.inner.create_user_transport(name).await?;
        Ok(Arc::new(AccountingTransport {
            inner,
            traffic: self.traffic.clone(),
        }))
    }
    async fn create_agent_transport(
        &self,
        registration: &dyn AgentRegistration,
    ) -> Result<Arc<dyn ExchangeTransport>, ExchangeError> {
        let inner = self.inner.create_agent_transport(registration).await?;
        Ok(Arc::new(AccountingTransport {
            inner,
            traffic: self.traffic.clone(),
        }))
    }
}

#[tokio::main]
async fn main() {
    let factory = AccountingFactory {
        inner: LocalExchangeFactory::new(),
        traffic: Arc::default(),
    };
    // Panics with a description if the backend breaks the exchange contract.
    academy_exchange::conformance::run_all(&factory).await;

    let traffic = factory.traffic.lock().unwrap_or_else(|p| p.into_inner());
    let sent: u64 = traffic.sent.values().sum();
    let received: u64 = traffic.received.values().sum();
    println!(
        "conformance suite passed: {sent} messages sent, {received} received through the accounting backend"
    );
}
