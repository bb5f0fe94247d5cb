//! Restarts: the exchange server killed with SIGKILL mid-run and started
//! again (Redis backend); two server processes on one Redis with one
//! killed; Redis itself killed and restarted with append-only persistence.
//!
//! What must hold: listeners reconnect by themselves, no message is lost
//! or duplicated, per-sender order is kept, and while the outage lasts a
//! client call reports it with a typed transport error (not a hang).
//!
//! The server runs as a separate process: the real binary, located by
//! `academy_e2e::server_process::server_binary`.
//!
//! CI size: 4 pairs × 250 messages per scenario;
//! `ACADEMY_SOAK_RESTART_MESSAGES` for more.

#![allow(clippy::unwrap_used)] // Test code: a panic is a failed assertion.

use std::time::{Duration, Instant};

use academy_e2e::front::Front;
use academy_e2e::server_process::{ServerProcess, redis_backend_toml};
use academy_e2e::traffic::{Outcome, TrafficConfig, create_pairs, run};
use academy_e2e::{bounded, report, size};
use academy_exchange::{ExchangeError, ExchangeFactory, ExchangeTransport};
use academy_globus_client::RetryPolicy;
use academy_globus_exchange::HttpExchangeFactory;
use academy_testkit::redis::{RedisOptions, RedisServer};

const PAIRS: usize = 4;

fn traffic(progress: tokio::sync::watch::Sender<u64>) -> TrafficConfig {
    let total = size("ACADEMY_SOAK_RESTART_MESSAGES", 1_000);
    TrafficConfig {
        per_pair: total.div_ceil(PAIRS as u64),
        idle_limit: Duration::from_secs(40),
        drain: Duration::from_secs(1),
        pad: 64,
        progress: Some(progress),
    }
}

/// How long a killed server stays down (`ACADEMY_SOAK_OUTAGE_MS`, 2 s in CI).
fn outage_length() -> Duration {
    Duration::from_millis(size("ACADEMY_SOAK_OUTAGE_MS", 2_000))
}

fn server_toml(redis: &RedisServer) -> String {
    format!(
        "listen_timeout_s = 30\n{}",
        redis_backend_toml(redis.port())
    )
}

fn factory(url: &str) -> HttpExchangeFactory {
    HttpExchangeFactory::new(url.parse().unwrap()).with_request_timeout_s(5.0)
}

/// A probe without retries: what a caller sees *while* the outage lasts.
async fn probe(transport: &dyn ExchangeTransport) -> Result<(), ExchangeError> {
    transport
        .heartbeat_status(transport.mailbox_id())
        .await
        .map(|_| ())
}

async fn wait_progress(rx: &mut tokio::sync::watch::Receiver<u64>, at_least: u64) {
    rx.wait_for(|v| *v >= at_least).await.unwrap();
}

fn assert_exact(name: &str, out: &Outcome) {
    assert!(
        out.exact(),
        "{name}: lost {}, duplicated {}, out of order {} of {} (errors: {:?})",
        out.lost,
        out.duplicated,
        out.out_of_order,
        out.sent,
        out.error_samples
    );
}

fn figures(
    name: &str,
    out: &Outcome,
    outage: Duration,
    recovery: Duration,
    extra: &[(&str, String)],
) {
    let mut f = vec![
        ("messages", out.sent.to_string()),
        ("delivered", out.delivered.to_string()),
        ("lost", out.lost.to_string()),
        ("duplicated", out.duplicated.to_string()),
        ("out_of_order", out.out_of_order.to_string()),
        ("outage_ms", outage.as_millis().to_string()),
        ("recovery_ms", recovery.as_millis().to_string()),
        ("send_errors_surfaced", out.send_errors.to_string()),
        ("listen_errors_surfaced", out.listen_errors.to_string()),
        ("max_send_ms", out.max_send.as_millis().to_string()),
        ("max_receive_gap_ms", out.max_gap.as_millis().to_string()),
        ("elapsed_s", format!("{:.1}", out.elapsed.as_secs_f64())),
    ];
    f.extend(extra.iter().cloned());
    report(name, &f);
}

/// Kill -9 the only server in the middle of a run, then start it again on
/// the same port; the Redis backend keeps the mailboxes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_killed_and_restarted_mid_run() {
    bounded(240, async {
        let redis = RedisServer::start().await.unwrap();
        let mut server = ServerProcess::start(&server_toml(&redis), "warn").await;
        let url = server.base_url();
        let f = factory(&url);
        let pairs = create_pairs(&f, PAIRS).await;
        let probe_t = factory(&url)
            .with_retry_policy(RetryPolicy::none())
            .create_user_transport(Some("probe"))
            .await
            .unwrap();
        let (tx, mut rx) = tokio::sync::watch::channel(0);
        let config = traffic(tx);
        let total = config.per_pair * PAIRS as u64;
        let run = tokio::spawn({
            let pairs = pairs.clone();
            async move { run(&pairs, &config).await }
        });
        wait_progress(&mut rx, total / 3).await;
        let killed = Instant::now();
        server.kill9().await;
        // While it is down, a call says so, with a typed error.
        let during = probe(probe_t.as_ref()).await;
        assert!(
            matches!(during, Err(ExchangeError::Transport { .. })),
            "while the server is down: {during:?}"
        );
        // The outage lasts a while (the fault's duration, not a wait for an event).
        tokio::time::sleep(outage_length()).await;
        server.restart().await;
        let outage = killed.elapsed();
        let delivered_at_restart = *rx.borrow();
        let restarted = Instant::now();
        wait_progress(&mut rx, delivered_at_restart + 1).await;
        let recovery = restarted.elapsed();
        probe(probe_t.as_ref()).await.unwrap();
        let out = run.await.unwrap();
        figures("restart_server_kill9", &out, outage, recovery, &[]);
        assert_eq!(out.sent, total);
        assert_exact("server kill -9 and restart", &out);
        server.stop().await;
    })
    .await;
}

/// Two server processes on one Redis behind a failover front; one is
/// killed mid-run and stays down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_two_servers_killed_mid_run() {
    bounded(240, async {
        let redis = RedisServer::start().await.unwrap();
        let mut a = ServerProcess::start(&server_toml(&redis), "warn").await;
        let mut b = ServerProcess::start(&server_toml(&redis), "warn").await;
        let front = Front::start(vec![a.addr(), b.addr()]).await;
        let f = factory(&front.url());
        let pairs = create_pairs(&f, PAIRS).await;
        let (tx, mut rx) = tokio::sync::watch::channel(0);
        let config = traffic(tx);
        let total = config.per_pair * PAIRS as u64;
        let run = tokio::spawn({
            let pairs = pairs.clone();
            async move { run(&pairs, &config).await }
        });
        wait_progress(&mut rx, total / 3).await;
        let killed = Instant::now();
        let at_kill = *rx.borrow();
        a.kill9().await;
        wait_progress(&mut rx, at_kill + 1).await;
        let recovery = killed.elapsed();
        let out = run.await.unwrap();
        figures(
            "restart_one_of_two_servers",
            &out,
            Duration::ZERO,
            recovery,
            &[],
        );
        assert_eq!(out.sent, total);
        assert_exact("one of two servers killed", &out);
        b.stop().await;
    })
    .await;
}

/// Redis killed with SIGKILL mid-run and restarted on the same port and
/// data directory (append-only file, fsync always).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_with_persistence() {
    bounded(240, async {
        let mut redis = RedisServer::start_with(RedisOptions {
            appendonly: true,
            ..RedisOptions::default()
        })
        .await
        .unwrap();
        let port = redis.port();
        let dir = redis.dir().to_path_buf();
        let mut server = ServerProcess::start(
            &server_toml(&redis),
            &std::env::var("ACADEMY_E2E_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .await;
        let url = server.base_url();
        let f = factory(&url);
        let pairs = create_pairs(&f, PAIRS).await;
        let probe_t = factory(&url)
            .with_retry_policy(RetryPolicy::none())
            .create_user_transport(Some("probe"))
            .await
            .unwrap();
        let (tx, mut rx) = tokio::sync::watch::channel(0);
        let config = traffic(tx);
        let total = config.per_pair * PAIRS as u64;
        let run = tokio::spawn({
            let pairs = pairs.clone();
            async move { run(&pairs, &config).await }
        });
        wait_progress(&mut rx, total / 3).await;
        let killed = Instant::now();
        redis.kill().await.unwrap();
        // The exchange is up but its store is not: the caller is told.
        let during = probe(probe_t.as_ref()).await;
        assert!(during.is_err(), "while Redis is down the probe succeeded");
        let during = format!("{:?}", during.unwrap_err());
        let redis2 = RedisServer::start_with(RedisOptions {
            appendonly: true,
            dir: Some(dir),
            port: Some(port),
            ..RedisOptions::default()
        })
        .await
        .unwrap();
        let outage = killed.elapsed();
        let at_restart = *rx.borrow();
        let restarted = Instant::now();
        wait_progress(&mut rx, at_restart + 1).await;
        let recovery = restarted.elapsed();
        let out = run.await.unwrap();
        figures(
            "restart_redis",
            &out,
            outage,
            recovery,
            &[("probe_error_during_outage", during)],
        );
        if let Ok(path) = std::env::var("ACADEMY_E2E_KEEP_LOG") {
            std::fs::copy(server.log_path(), path).unwrap();
        }
        assert_eq!(out.sent, total);
        assert_exact("Redis kill -9 and restart", &out);
        server.stop().await;
        drop(redis2);
        drop(redis);
    })
    .await;
}
