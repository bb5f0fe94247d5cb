//! Load: many concurrent agents on one server process (the real binary),
//! each answering action requests from one user, round after round.
//!
//! What must hold: every call is answered; after a warm-up round the
//! server's resident memory stays flat (no growth per message); its open
//! file descriptors stay flat while the agents run and come back to the
//! baseline once they are closed.
//!
//! CI size: 200 agents × 5 rounds × 5 calls (~5 000 calls, seconds);
//! `ACADEMY_SOAK_LOAD_AGENTS` / `ACADEMY_SOAK_LOAD_ROUNDS` (1 000 agents
//! for minutes in `cargo xtask soak`).

#![allow(clippy::unwrap_used)] // Test code: a panic is a failed assertion.

use std::sync::Arc;
use std::time::{Duration, Instant};

use academy_e2e::server_process::ServerProcess;
use academy_e2e::{bounded, procfs, report, size};
use academy_exchange::{
    ActionError, ActionInvocation, AgentType, ExchangeClientConfig, ExchangeFactory, RequestHandler,
};
use academy_globus_exchange::HttpExchangeFactory;
use serde_json::{Map, Value, json};

const CALLS_PER_ROUND: usize = 5;

/// Echoes its first argument.
struct Echo;

#[async_trait::async_trait]
impl RequestHandler for Echo {
    async fn action(&self, call: ActionInvocation) -> Result<Value, ActionError> {
        Ok(call.args.first().cloned().unwrap_or(Value::Null))
    }
}

/// Bytes of server memory one accepted message may keep in the memory
/// backend: its entry in the deduplication window of retried sends
/// (`academy_exchange_server::backend::DEDUP_WINDOW`, at most 262 144
/// entries, so bounded); with Redis those entries live in Redis.
const MEMORY_BACKEND_BYTES_PER_MESSAGE: f64 = 320.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_agents_redis_backend_flat_memory_and_fds() {
    let redis = academy_testkit::redis::RedisServer::start().await.unwrap();
    let toml = format!(
        "listen_timeout_s = 30\n{}",
        academy_e2e::server_process::redis_backend_toml(redis.port())
    );
    scenario("load_redis", &toml, 0.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_agents_memory_backend_bounded_memory_and_fds() {
    scenario(
        "load_memory",
        "listen_timeout_s = 30\n",
        MEMORY_BACKEND_BYTES_PER_MESSAGE,
    )
    .await;
}

async fn scenario(name: &str, toml: &str, bytes_per_message: f64) {
    if !academy_e2e::has_procfs() {
        eprintln!("skipped: needs /proc");
        return;
    }
    let agents_n = size("ACADEMY_SOAK_LOAD_AGENTS", 200) as usize;
    let rounds = size("ACADEMY_SOAK_LOAD_ROUNDS", 5).max(3) as usize;
    let limit = 200 + (agents_n as u64 * rounds as u64) / 10;
    bounded(limit, async {
        let mut server = ServerProcess::start(toml, "warn").await;
        let pid = server.pid().unwrap();
        let fds_idle = procfs::fd_count(pid).unwrap();
        let config = ExchangeClientConfig {
            heartbeat_interval: Duration::from_secs(2),
            ..ExchangeClientConfig::default()
        };
        let factory = HttpExchangeFactory::new(server.base_url().parse().unwrap())
            .with_request_timeout_s(10.0)
            .with_config(config);
        let user = Arc::new(
            factory
                .create_user_client(Some("load"), true)
                .await
                .unwrap(),
        );
        let mut agents = Vec::new();
        let mut handles = Vec::new();
        let ty = AgentType::new("e2e.Echo");
        for i in 0..agents_n {
            let reg = user
                .register_agent(&ty, Some(&format!("echo-{i}")))
                .await
                .unwrap();
            let agent = factory
                .create_agent_client(&*reg, Arc::new(Echo))
                .await
                .unwrap();
            handles.push(user.get_handle(reg.agent_id().clone()));
            agents.push(agent);
        }
        let mut rss = Vec::new();
        let mut fds = Vec::new();
        let mut calls = 0u64;
        let mut slowest = Duration::ZERO;
        let started = Instant::now();
        for round in 0..rounds {
            let mut tasks = Vec::new();
            for (i, h) in handles.iter().enumerate() {
                let h = h.clone();
                tasks.push(tokio::spawn(async move {
                    let mut slowest = Duration::ZERO;
                    for c in 0..CALLS_PER_ROUND {
                        let v = json!([round, i, c]);
                        let t = Instant::now();
                        let got = h.action("echo", vec![v.clone()], Map::new()).await.unwrap();
                        slowest = slowest.max(t.elapsed());
                        assert_eq!(got, v);
                    }
                    slowest
                }));
            }
            for t in tasks {
                slowest = slowest.max(t.await.unwrap());
            }
            calls += (agents_n * CALLS_PER_ROUND) as u64;
            rss.push(procfs::rss_kib(pid).unwrap());
            fds.push(procfs::fd_count(pid).unwrap());
        }
        let elapsed = started.elapsed();
        for a in &agents {
            a.close().await.unwrap();
        }
        user.close().await.unwrap();
        drop(handles);
        drop(agents);
        drop(user);
        // Connections closed by the clients must be released by the server
        // (polled: there is no event for "the kernel closed a socket").
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut fds_after = procfs::fd_count(pid).unwrap();
        while fds_after > fds_idle + 2 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            fds_after = procfs::fd_count(pid).unwrap();
        }
        let log = std::fs::read_to_string(server.log_path()).unwrap_or_default();
        server.stop().await;

        // Warm-up is the first half of the rounds: the clients' connection
        // pools (and with them the server's buffers) keep growing for a
        // while (see the fd figures); flatness is judged on the second half.
        let warm_rounds = rounds / 2;
        let warm = rss[warm_rounds - 1];
        let last = *rss.last().unwrap();
        let after_warmup_calls = ((rounds - warm_rounds) * agents_n * CALLS_PER_ROUND) as u64;
        let growth_per_call = (last.saturating_sub(warm) * 1024) as f64 / after_warmup_calls as f64;
        report(
            name,
            &[
                ("agents", agents_n.to_string()),
                ("calls", calls.to_string()),
                ("elapsed_s", format!("{:.1}", elapsed.as_secs_f64())),
                (
                    "calls_per_s",
                    format!("{:.0}", calls as f64 / elapsed.as_secs_f64()),
                ),
                ("slowest_call_ms", slowest.as_millis().to_string()),
                ("rss_kib_per_round", format!("{rss:?}")),
                (
                    "growth_bytes_per_call_after_warmup",
                    format!("{growth_per_call:.1}"),
                ),
                ("fds_idle", fds_idle.to_string()),
                ("fds_per_round", format!("{fds:?}")),
                ("fds_after_close", fds_after.to_string()),
            ],
        );
        assert!(!log.contains("panicked"), "server panicked:\n{log}");
        // Flat: a generous absolute slack for allocator noise, plus what
        // the backend is documented to keep per message (two per call).
        let allowed = 8.0 * 1024.0 * 1024.0 + bytes_per_message * 2.0 * after_warmup_calls as f64;
        assert!(
            ((last.saturating_sub(warm)) * 1024) as f64 <= allowed,
            "server memory grows with traffic: {rss:?} KiB ({growth_per_call:.1} B/call)"
        );
        // Each client holds a few pooled connections; a leak would grow
        // with the calls, not with the clients.
        let fd_cap = 6 * (agents_n + 1) + 16;
        assert!(
            fds.iter().all(|f| *f <= fd_cap),
            "server fds beyond {fd_cap} under steady load: {fds:?}"
        );
        assert!(
            fds_after <= fds_idle + 2,
            "fd leak: {fds_idle} idle, {fds_after} after all clients closed"
        );
    })
    .await;
}
