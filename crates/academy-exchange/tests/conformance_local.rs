//! The conformance suite against the in-process exchange.

#![allow(clippy::unwrap_used)] // tests may unwrap (preamble)

use std::time::Duration;

use academy_exchange::LocalExchangeFactory;
use academy_exchange::conformance;

async fn bounded<F: std::future::Future<Output = ()>>(fut: F) {
    tokio::time::timeout(Duration::from_secs(120), fut)
        .await
        .expect("conformance run timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_exchange_passes_the_whole_suite() {
    bounded(conformance::run_all(&LocalExchangeFactory::new())).await;
}

#[tokio::test]
async fn local_exchange_passes_on_a_current_thread_runtime() {
    // The same checks on a single-threaded runtime catch missed wake-ups
    // that a second worker thread could hide.
    let factory = LocalExchangeFactory::new();
    bounded(conformance::run_transport_checks(&factory)).await;
    bounded(conformance::run_client_checks(&factory)).await;
}

#[tokio::test]
async fn checks_can_share_one_exchange() {
    // Backends usually run the suite against a shared server: checks must
    // not see each other's mailboxes.
    let factory = LocalExchangeFactory::new();
    bounded(async {
        tokio::join!(
            conformance::discover(&factory),
            conformance::discover(&factory),
            conformance::agent_stats(&factory),
            conformance::concurrent_senders(&factory),
        );
    })
    .await;
}
