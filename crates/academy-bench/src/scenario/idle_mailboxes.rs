//! Scenario 3, idle mailboxes: the server memory one registered, unused
//! mailbox costs. (RSS with N mailboxes − RSS before) / N, on a fresh
//! server. With the Redis backend the mailboxes live in Redis, so Redis's
//! `used_memory` growth is reported too. Mailboxes are created with our
//! client, 32 requests at a time: the client does not change what the
//! server stores.

use std::time::Instant;

use academy_exchange::{EntityId, UserId};
use futures::StreamExt as _;

use super::Env;
use crate::client::RustClient;
use crate::error::BenchError;
use crate::results::IdleMailboxRow;
use crate::server_process::{Backend, Implementation, ServerProcess, ServerSettings};

/// Concurrent registrations.
const CONCURRENCY: usize = 32;

/// Wall-clock cap of the whole scenario.
const CAP: std::time::Duration = std::time::Duration::from_secs(300);

/// Creates `env.plan.idle_mailboxes` mailboxes on a fresh server.
pub async fn run(
    env: &Env,
    implementation: Implementation,
    backend: Backend,
) -> Result<IdleMailboxRow, BenchError> {
    let redis = match backend {
        Backend::Redis => Some(
            academy_testkit::redis::RedisServer::start()
                .await
                .map_err(|e| BenchError::Redis(format!("{e:#}")))?,
        ),
        Backend::Memory => None,
    };
    let settings = ServerSettings {
        redis_port: redis.as_ref().map(|r| r.port()),
        ..ServerSettings::default()
    };
    let server = ServerProcess::start(implementation, &settings, &env.python).await?;
    let redis_url = redis.as_ref().map(|r| r.url());
    let outcome = tokio::time::timeout(CAP, measure(env, &server, redis_url.as_deref()))
        .await
        .unwrap_or_else(|_| Err(BenchError::Timeout("idle mailbox creation".into())));
    server.stop().await;
    drop(redis);
    let m = outcome?;
    let n = env.plan.idle_mailboxes as u64;
    Ok(IdleMailboxRow {
        server: implementation,
        backend,
        mailboxes: n,
        rss_before_kib: m.before,
        rss_after_kib: m.after,
        bytes_per_mailbox: (m.after as f64 - m.before as f64) * 1024.0 / n as f64,
        redis_bytes_per_mailbox: m.redis.map(|(b, a)| (a as f64 - b as f64) / n as f64),
        create_s: m.create_s,
    })
}

struct Measurement {
    before: u64,
    after: u64,
    redis: Option<(u64, u64)>,
    create_s: f64,
}

/// Redis `used_memory` in bytes.
async fn redis_used_memory(url: &str) -> Result<u64, BenchError> {
    let client = redis::Client::open(url).map_err(|e| BenchError::Redis(e.to_string()))?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| BenchError::Redis(e.to_string()))?;
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut conn)
        .await
        .map_err(|e| BenchError::Redis(e.to_string()))?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| BenchError::Redis("INFO memory without used_memory".into()))
}

async fn measure(
    env: &Env,
    server: &ServerProcess,
    redis_url: Option<&str>,
) -> Result<Measurement, BenchError> {
    let http = RustClient::new(server.base_url(), None)?.http()?;
    // One request first, so that lazily built server state is not counted.
    http.register_client(&UserId::new(None).into()).await?;
    let before = server.sample()?.rss_kib;
    let redis_before = match redis_url {
        Some(u) => Some(redis_used_memory(u).await?),
        None => None,
    };
    let started = Instant::now();
    let failures = futures::stream::iter(0..env.plan.idle_mailboxes)
        .map(|_| {
            let http = http.clone();
            async move {
                let id: EntityId = UserId::new(None).into();
                http.register_client(&id).await
            }
        })
        .buffer_unordered(CONCURRENCY)
        .filter(|r| std::future::ready(r.is_err()))
        .count()
        .await;
    let create_s = started.elapsed().as_secs_f64();
    if failures > 0 {
        return Err(BenchError::Child(format!(
            "{failures} of {} mailbox registrations failed",
            env.plan.idle_mailboxes
        )));
    }
    let after = server.sample()?.rss_kib;
    let redis = match (redis_url, redis_before) {
        (Some(u), Some(b)) => Some((b, redis_used_memory(u).await?)),
        _ => None,
    };
    Ok(Measurement {
        before,
        after,
        redis,
        create_s,
    })
}
