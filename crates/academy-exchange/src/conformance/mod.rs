//! The backend-independent conformance suite (feature `conformance`).
//!
//! Every exchange backend — [`LocalExchange`](crate::LocalExchange), the
//! HTTP and Globus transports, the Redis-backed server — runs the same
//! checks of the transport contract (`globus-exchange-client.md` §2, §8;
//! `exchange-http-api.md` §7–§10) and of the clients on top of it. Modelled
//! on `object_store`'s `integration` module: each check is a public async
//! function that panics with a description when the backend misbehaves, so
//! a backend's test file calls [`run_all`] or picks single checks.
//!
//! The only input is an [`ExchangeFactory`] connected to a fresh or shared
//! exchange; the suite creates every user it needs with
//! [`ExchangeFactory::create_user_transport`] and every agent by
//! registering it, so checks do not interfere with each other or with
//! other mailboxes. Every wait is bounded ([`WAIT`]).
//!
//! ```no_run
//! // tests/conformance_mybackend.rs
//! # async fn demo() {
//! let factory = academy_exchange::LocalExchangeFactory::new();
//! academy_exchange::conformance::run_all(&factory).await;
//! # }
//! ```

mod clients;
mod transport;

use std::future::Future;
use std::time::Duration;

pub use clients::{
    agent_client_checks_mailbox, client_action_ping_and_errors, client_cancel_and_shutdown,
    client_status_from_heartbeats, user_client_close_fails_pending,
};
pub use transport::{
    agent_stats, concurrent_senders, discover, fifo_order, heartbeats, recv_timeout,
    register_agents_batch, registration_round_trip, send_and_recv, terminate_answers_pending,
    terminated_mailbox_errors, unknown_mailbox_errors,
};

use crate::factory::ExchangeFactory;

/// Upper bound of every wait in the suite; generous for remote backends.
pub const WAIT: Duration = Duration::from_secs(20);

/// A short wait used where nothing must arrive (timeouts under test).
pub const SHORT: Duration = Duration::from_millis(300);

/// Runs `fut`, failing the check if it takes longer than [`WAIT`].
pub(crate) async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("conformance: {what} did not finish within {WAIT:?}"),
    }
}

/// Runs every check in sequence against `factory`.
pub async fn run_all<F: ExchangeFactory + ?Sized>(factory: &F) {
    run_transport_checks(factory).await;
    run_client_checks(factory).await;
}

/// The checks of the [`ExchangeTransport`](crate::ExchangeTransport) contract.
pub async fn run_transport_checks<F: ExchangeFactory + ?Sized>(factory: &F) {
    send_and_recv(factory).await;
    unknown_mailbox_errors(factory).await;
    terminated_mailbox_errors(factory).await;
    recv_timeout(factory).await;
    fifo_order(factory).await;
    concurrent_senders(factory).await;
    terminate_answers_pending(factory).await;
    discover(factory).await;
    heartbeats(factory).await;
    agent_stats(factory).await;
    register_agents_batch(factory).await;
    registration_round_trip(factory).await;
}

/// The checks of the user and agent clients over this backend.
pub async fn run_client_checks<F: ExchangeFactory + ?Sized>(factory: &F) {
    agent_client_checks_mailbox(factory).await;
    client_action_ping_and_errors(factory).await;
    client_cancel_and_shutdown(factory).await;
    client_status_from_heartbeats(factory).await;
    user_client_close_fails_pending(factory).await;
}
