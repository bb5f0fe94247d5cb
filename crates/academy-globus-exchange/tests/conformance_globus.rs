//! The academy-exchange conformance suite against `GlobusExchangeTransport`
//! over our server with the Globus authenticator and the Globus Auth
//! emulator: a headless launcher (confidential client), every agent a
//! Globus Auth client whose process side uses dependent tokens.
#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns: a panic is a failed assertion.

mod common;

use academy_exchange::conformance;
use academy_testkit::redis::RedisServer;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn globus_transport_headless_memory_backend() {
    bounded(300, async {
        let emu = emulator().await;
        let server = globus_server(&emu, None).await;
        let factory = globus_factory(&emu, &server, headless_app(&emu));
        conformance::run_all(&factory).await;
        server.shutdown().await;
        emu.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn globus_transport_user_login_redis_backend() {
    bounded(300, async {
        let emu = emulator().await;
        let redis = RedisServer::start().await.unwrap();
        let server = globus_server(&emu, Some(redis_backend(&redis))).await;
        let factory = globus_factory(&emu, &server, user_app(&emu, None));
        conformance::run_all(&factory).await;
        server.shutdown().await;
        emu.shutdown().await.unwrap();
    })
    .await;
}
