//! Fault injection: 16 sender/receiver pairs talk through a loopback fault
//! proxy (`academy_testkit::fault_proxy`) to our exchange server, using
//! the HTTP transport of `academy-globus-exchange`. The proxy drops
//! connections mid-request and mid-response (which also truncates event
//! streams), delays them, and answers 502 and 503 with and without
//! `Retry-After`.
//!
//! What must hold: every message is delivered exactly once and in
//! per-sender order, and the run ends by itself.
//!
//! CI size: 5 000 messages; `ACADEMY_SOAK_FAULT_MESSAGES` (100 000 in
//! `cargo xtask soak`).

#![allow(clippy::unwrap_used)] // Test code: a panic is a failed assertion.

use std::sync::atomic::Ordering;
use std::time::Duration;

use academy_e2e::cutter::Cutter;
use academy_e2e::traffic::{TrafficConfig, create_pairs, run};
use academy_e2e::{bounded, report, size};
use academy_exchange_server::config::BackendConfig;
use academy_exchange_server::{ServerConfig, serve};
use academy_globus_exchange::HttpExchangeFactory;
use academy_testkit::fault_proxy::{FaultPlan, FaultProxy};
use academy_testkit::redis::RedisServer;

const PAIRS: usize = 16;

async fn scenario(name: &str, backend: Option<BackendConfig>, seed: u64) {
    let total = size("ACADEMY_SOAK_FAULT_MESSAGES", 5_000);
    let mut config = ServerConfig::default().with_bind("127.0.0.1:0".parse().unwrap());
    config.listen_timeout_s = 30;
    if let Some(b) = backend {
        config.backend = b;
    }
    let server = serve(config).await.unwrap();
    let plan = FaultPlan {
        seed,
        fault_rate: 0.2,
        // Deep enough to cut event streams after some events, not only in
        // their headers, and later responses of kept-alive connections.
        max_offset: 2048,
        max_delay: Duration::from_millis(50),
    };
    let proxy = FaultProxy::start(server.addr(), plan).await.unwrap();
    // Connections live for 4-64 KiB, so faults keep being drawn.
    let cutter = Cutter::start(proxy.addr(), seed, 4 << 10, 64 << 10).await;
    let factory =
        HttpExchangeFactory::new(cutter.url().parse().unwrap()).with_request_timeout_s(5.0);
    let pairs = create_pairs(&factory, PAIRS).await;
    let traffic = TrafficConfig {
        per_pair: total.div_ceil(PAIRS as u64),
        idle_limit: Duration::from_secs(30),
        drain: Duration::from_secs(1),
        pad: 64,
        progress: None,
    };
    let out = run(&pairs, &traffic).await;
    let c = proxy.counts();
    report(
        name,
        &[
            ("messages", out.sent.to_string()),
            ("delivered", out.delivered.to_string()),
            ("lost", out.lost.to_string()),
            ("duplicated", out.duplicated.to_string()),
            ("out_of_order", out.out_of_order.to_string()),
            (
                "connections",
                c.connections.load(Ordering::Relaxed).to_string(),
            ),
            ("faults", (c.faults() + cutter.cuts()).to_string()),
            ("connections_cut", cutter.cuts().to_string()),
            (
                "dropped_requests",
                c.dropped_requests.load(Ordering::Relaxed).to_string(),
            ),
            (
                "dropped_responses",
                c.dropped_responses.load(Ordering::Relaxed).to_string(),
            ),
            (
                "http_503",
                c.unavailable.load(Ordering::Relaxed).to_string(),
            ),
            (
                "http_502",
                c.bad_gateway.load(Ordering::Relaxed).to_string(),
            ),
            ("delays", c.delays.load(Ordering::Relaxed).to_string()),
            ("send_errors_surfaced", out.send_errors.to_string()),
            ("listen_errors_surfaced", out.listen_errors.to_string()),
            ("max_send_ms", out.max_send.as_millis().to_string()),
            ("max_receive_gap_ms", out.max_gap.as_millis().to_string()),
            ("elapsed_s", format!("{:.1}", out.elapsed.as_secs_f64())),
            ("error_samples", format!("{:?}", out.error_samples)),
        ],
    );
    assert!(c.faults() > 0, "the proxy injected no fault");
    assert_eq!(out.sent, traffic.per_pair * PAIRS as u64);
    assert!(
        out.exact(),
        "{name}: lost {}, duplicated {}, out of order {} of {} messages ({} faults injected)",
        out.lost,
        out.duplicated,
        out.out_of_order,
        out.sent,
        c.faults() + cutter.cuts()
    );
    for p in &pairs {
        p.sender.close().await.unwrap();
        p.receiver.close().await.unwrap();
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_in_order_through_faults_memory_backend() {
    bounded(240, scenario("fault_injection_memory", None, 7)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_in_order_through_faults_redis_backend() {
    bounded(240, async {
        let redis = RedisServer::start().await.unwrap();
        let backend = ServerConfig::from_toml_str(
            &academy_e2e::server_process::redis_backend_toml(redis.port()),
        )
        .unwrap()
        .backend;
        scenario("fault_injection_redis", Some(backend), 11).await;
    })
    .await;
}

/// The smallest form of a cut delivery: the receiver's connection is cut
/// after the server wrote a message (here: after reading only the first
/// bytes of it). The message stays in flight on the server until the
/// receiver comes back and says which id it processed last (`0`: none), and
/// is then delivered again.
async fn cut_after_first_bytes(method_path: &str, marker: &[u8]) -> u16 {
    use academy_e2e::http::{call, client};
    use academy_exchange::message::Body;
    use academy_exchange::{EntityId, Message, UserId};
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut config = ServerConfig::default().with_bind("127.0.0.1:0".parse().unwrap());
    config.listen_timeout_s = 5;
    let server = serve(config).await.unwrap();
    let base = server.base_url();
    let http = client();
    let receiver: EntityId = UserId::new(None).into();
    let sender: EntityId = UserId::new(None).into();
    for id in [&receiver, &sender] {
        let a = call(
            &http,
            "POST",
            &format!("{base}/mailbox"),
            json!({"mailbox": id.to_json()}).to_string(),
            &[],
        )
        .await;
        assert_eq!(a.status, 200);
    }
    let m = Message::request(sender, receiver.clone(), Body::PingRequest, None);
    let a = call(
        &http,
        "PUT",
        &format!("{base}/message"),
        json!({"message": m.to_json()}).to_string(),
        &[],
    )
    .await;
    assert_eq!(a.status, 200);

    let body = json!({"mailbox": receiver.to_json(), "timeout": 5}).to_string();
    let mut s = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    s.write_all(
        format!(
            "{method_path} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1];
    // Byte by byte up to the marker, then the line is cut.
    while !got.ends_with(marker) {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.push(buf[0]);
    }
    drop(s);
    let again = call(
        &http,
        "GET",
        &format!("{base}/message"),
        // As an acknowledging client (academy-globus-client) does after a
        // cut: "the last id I processed is 0", so the server re-sends what
        // it has in flight. A client that echoes no id (academy-py) gets
        // the Python server's at-most-once delivery instead.
        json!({"mailbox": receiver.to_json(), "timeout": 2, "last_id": 0}).to_string(),
        &[],
    )
    .await;
    server.shutdown().await;
    again.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_cut_off_mid_event_stream_is_not_lost() {
    let status = bounded(
        60,
        cut_after_first_bytes("GET /mailbox/listen", b"data: {\"hea"),
    )
    .await;
    assert_eq!(
        status, 200,
        "the message cut off mid-event was lost (answer {status})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_cut_off_mid_long_poll_is_not_lost() {
    let status = bounded(60, cut_after_first_bytes("GET /message", b"{\"mess")).await;
    assert_eq!(
        status, 200,
        "the message cut off mid-response was lost (answer {status})"
    );
}
