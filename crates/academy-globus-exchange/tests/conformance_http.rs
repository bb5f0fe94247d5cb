//! The academy-exchange conformance suite over HTTP without Globus auth:
//! `HttpExchangeFactory` against our server, memory and Redis backends.
#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns: a panic is a failed assertion.

mod common;

use academy_exchange::conformance;
use academy_testkit::redis::RedisServer;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_transport_memory_backend() {
    bounded(300, async {
        let server = null_server(None).await;
        conformance::run_all(&http_factory(&server)).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_transport_redis_backend() {
    bounded(300, async {
        let redis = RedisServer::start().await.unwrap();
        let server = null_server(Some(redis_backend(&redis))).await;
        conformance::run_all(&http_factory(&server)).await;
        server.shutdown().await;
    })
    .await;
}
