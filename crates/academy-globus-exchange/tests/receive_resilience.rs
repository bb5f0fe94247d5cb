//! Receiving under failures: transient faults are retried with backoff and
//! the listener recovers; a persistent failure surfaces as an error after a
//! bounded number of spaced attempts (never a silent death, never a hot loop).
#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns: a panic is a failed assertion.

mod common;

use std::time::{Duration, Instant};

use academy_exchange::message::ActionRequest;
use academy_exchange::{AgentType, Body, EntityId, ExchangeError, ExchangeTransport, Message};
use academy_globus_client::RetryPolicy;
use academy_globus_exchange::{HttpExchangeFactory, ReceivePolicy};
use academy_testkit::fault_proxy::{FaultPlan, FaultProxy};
use common::*;
use futures::StreamExt;
use serde_json::{Value, json};

fn fast_policy(max_failures: u32) -> ReceivePolicy {
    let backoff = RetryPolicy {
        jitter: false,
        max_sleep: Duration::from_millis(100),
        ..RetryPolicy::default()
    };
    ReceivePolicy {
        max_failures,
        backoff,
    }
}

fn request(src: &EntityId, dest: &EntityId, n: i64) -> Message {
    let body = ActionRequest::json("n", &[json!(n)], &Value::Null);
    Message::request(src.clone(), dest.clone(), Body::ActionRequest(body), None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_recovers_after_transient_faults() {
    bounded(60, async {
        let server = null_server(None).await;
        let direct = http_factory(&server);
        let plan = FaultPlan {
            seed: 7,
            fault_rate: 1.0,
            max_offset: 16,
            max_delay: Duration::from_millis(5),
        };
        let proxy = FaultProxy::start(server.addr(), plan).await.unwrap();
        let faulty = HttpExchangeFactory::new(proxy.url().parse().unwrap())
            .with_request_timeout_s(5.0)
            .with_retry_policy(RetryPolicy::none())
            .with_receive_policy(fast_policy(1000));
        let user = direct.transport(None, Some("sender")).await.unwrap();
        let reg = user
            .register_agent(&AgentType::new("tests.Sink"), None)
            .await
            .unwrap();
        let agent_id = EntityId::from(reg.agent_id().clone());
        let agent = faulty
            .transport(Some(agent_id.clone()), None)
            .await
            .unwrap();
        let mut stream = agent.listen(None);
        let next = tokio::spawn(async move { stream.next().await });
        // Wait until the listener has met faults, then heal the network.
        while proxy.counts().faults() < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        proxy.set_enabled(false);
        user.send(&request(user.mailbox_id(), &agent_id, 1))
            .await
            .unwrap();
        match next.await.unwrap() {
            Some(Ok(m)) => assert_eq!(m.dest(), &agent_id),
            other => panic!("listener did not recover: {other:?}"),
        }
        server.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_failure_surfaces_after_spaced_attempts() {
    bounded(60, async {
        // A port nobody listens on.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let factory = HttpExchangeFactory::new(url.parse().unwrap())
            .with_retry_policy(RetryPolicy::none())
            .with_receive_policy(fast_policy(4));
        let me = EntityId::from(academy_exchange::UserId::new(None));
        let t = factory.transport(Some(me), None).await.unwrap();
        let started = Instant::now();
        let mut stream = t.listen(None);
        match stream.next().await {
            Some(Err(ExchangeError::Transport { .. })) => {}
            other => panic!("expected a transport error, got {other:?}"),
        }
        assert!(
            stream.next().await.is_none(),
            "the stream ends after its error"
        );
        // Three pauses of 100 ms between four attempts.
        assert!(
            started.elapsed() >= Duration::from_millis(290),
            "{:?}",
            started.elapsed()
        );
        let started = Instant::now();
        match t.recv(None).await {
            Err(ExchangeError::Transport { .. }) => {}
            other => panic!("expected a transport error, got {other:?}"),
        }
        assert!(started.elapsed() >= Duration::from_millis(290));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_end_receiving_at_once() {
    bounded(60, async {
        let server = null_server(None).await;
        let factory = http_factory(&server);
        // Unknown mailbox: 404 → BadEntityId for both recv and listen.
        let ghost = EntityId::from(academy_exchange::UserId::new(None));
        let t = factory.transport(Some(ghost.clone()), None).await.unwrap();
        match t.recv(None).await {
            Err(ExchangeError::BadEntityId(id)) => assert_eq!(id, ghost),
            other => panic!("{other:?}"),
        }
        match t.listen(None).next().await {
            Some(Err(ExchangeError::BadEntityId(id))) => assert_eq!(id, ghost),
            other => panic!("{other:?}"),
        }
        // A wait longer than the server's listen_timeout_s (30 s) is a 400
        // that names the setting instead of a hot loop.
        let user = factory.transport(None, None).await.unwrap();
        let too_long = http_factory(&server).with_request_timeout_s(300.0);
        let t = too_long
            .transport(Some(user.mailbox_id().clone()), None)
            .await
            .unwrap();
        match t.recv(None).await {
            Err(e @ ExchangeError::Transport { .. }) => {
                assert!(e.to_string().contains("request_timeout_s"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        server.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_connections_lose_no_message() {
    bounded(120, async {
        let server = null_server(None).await;
        let direct = http_factory(&server);
        // Cuts anywhere in requests and responses, 503s, 502s and delays.
        let plan = FaultPlan {
            seed: 11,
            fault_rate: 0.5,
            max_offset: 4096,
            max_delay: Duration::from_millis(20),
        };
        let proxy = FaultProxy::start(server.addr(), plan).await.unwrap();
        let faulty = HttpExchangeFactory::new(proxy.url().parse().unwrap())
            .with_request_timeout_s(2.0)
            .with_retry_policy(RetryPolicy::none())
            .with_receive_policy(fast_policy(1000));
        let user = direct.transport(None, Some("sender")).await.unwrap();
        let reg = user
            .register_agent(&AgentType::new("tests.Sink"), None)
            .await
            .unwrap();
        let agent_id = EntityId::from(reg.agent_id().clone());
        let agent = faulty
            .transport(Some(agent_id.clone()), None)
            .await
            .unwrap();
        const N: i64 = 40;
        for n in 0..N {
            user.send(&request(user.mailbox_id(), &agent_id, n))
                .await
                .unwrap();
        }
        let mut stream = agent.listen(None);
        let mut got = Vec::new();
        while got.len() < N as usize {
            let m = stream.next().await.unwrap().unwrap();
            let Ok(Body::ActionRequest(r)) = m.body() else {
                panic!("unexpected {m:?}")
            };
            got.push(r.args().unwrap()[0].as_i64().unwrap());
        }
        drop(stream);
        assert_eq!(got, (0..N).collect::<Vec<_>>(), "in order, each once");
        // Long polls through the same faults.
        for n in N..N + 20 {
            user.send(&request(user.mailbox_id(), &agent_id, n))
                .await
                .unwrap();
        }
        for n in N..N + 20 {
            let m = agent.recv(None).await.unwrap();
            let Ok(Body::ActionRequest(r)) = m.body() else {
                panic!("unexpected {m:?}")
            };
            assert_eq!(r.args().unwrap()[0].as_i64().unwrap(), n);
        }
        assert!(proxy.counts().faults() > 0, "the proxy injected no fault");
        server.shutdown().await;
    })
    .await;
}
