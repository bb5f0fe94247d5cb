//! Scenario 4: many listening mailboxes on one server. `listeners`
//! mailboxes each hold an open event stream (our client, one connection
//! each); 16 senders send `messages` to random mailboxes; each message
//! carries its send time, and the delivery latency is measured where it
//! arrives (same process, same clock).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use academy_exchange::message::{ActionRequest, Body};
use academy_exchange::{EntityId, Message, UserId};
use futures::StreamExt as _;
use rand::Rng as _;
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::Env;
use crate::client::{RustClient, listen_connected};
use crate::error::BenchError;
use crate::results::{Config, FanInRow};
use crate::server_process::{Backend, Implementation, ServerProcess, ServerSettings};
use crate::stats::Summary;

/// Concurrent senders.
const SENDERS: usize = 16;
/// Concurrent registrations and stream openings during set-up.
const SETUP_CONCURRENCY: usize = 64;
/// The streams must outlive the set-up of all the others.
const LISTEN_TIMEOUT_S: u64 = 600;

/// Runs the fan-in against a fresh in-memory server.
pub async fn run(env: &Env, implementation: Implementation) -> Result<FanInRow, BenchError> {
    let settings = ServerSettings {
        listen_timeout_s: Some(LISTEN_TIMEOUT_S),
        ..ServerSettings::default()
    };
    let server = ServerProcess::start(implementation, &settings, &env.python).await?;
    // Set-up (registrations, streams) gets its own allowance on top of the
    // messages' cap.
    let cap = env.plan.fan_in_cap + Duration::from_secs(300);
    let outcome = tokio::time::timeout(cap, measure(env, &server))
        .await
        .unwrap_or_else(|_| Err(BenchError::Timeout("fan-in".into())));
    server.stop().await;
    let (listeners, sent, delivered, latencies, before, listening, after) = outcome?;
    Ok(FanInRow {
        config: Config {
            server: implementation,
            client: Implementation::Rust,
            backend: Backend::Memory,
            auth: false,
        },
        listeners,
        sent,
        delivered,
        latency: Summary::of(&latencies),
        rss_before_kib: before,
        rss_listening_kib: listening,
        rss_after_kib: after,
    })
}

type Outcome = (usize, u64, u64, Vec<f64>, u64, u64, u64);

async fn measure(env: &Env, server: &ServerProcess) -> Result<Outcome, BenchError> {
    let n = env.plan.fan_in_listeners;
    let client = RustClient::new(server.base_url(), None)?;
    let http = client.http()?;
    let sender = client.user().await?;
    let before = server.sample()?.rss_kib;

    let ids: Vec<EntityId> = futures::stream::iter(0..n)
        .map(|_| {
            let http = http.clone();
            async move {
                let id: EntityId = UserId::new(None).into();
                http.register_client(&id).await.map(|_| id)
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let streams: Vec<_> = futures::stream::iter(ids.iter().cloned())
        .map(|id| {
            let http = http.clone();
            async move { listen_connected(&http, &id, LISTEN_TIMEOUT_S as f64).await }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let listening = server.sample()?.rss_kib;

    let epoch = Instant::now();
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(env.plan.fan_in_messages)));
    let delivered = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let all_in = Arc::new(Notify::new());
    let target = env.plan.fan_in_messages as u64;
    let mut tasks = Vec::with_capacity(n);
    for mut stream in streams {
        let (latencies, delivered, all_in) = (latencies.clone(), delivered.clone(), all_in.clone());
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let now = epoch.elapsed().as_nanos() as f64;
                if let Some(sent_ns) = sent_at(&message)
                    && let Ok(mut l) = latencies.lock()
                {
                    l.push((now - sent_ns) / 1e3);
                }
                if delivered.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1 >= target {
                    all_in.notify_one();
                }
            }
        }));
    }

    let ids = Arc::new(ids);
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let deadline = Instant::now() + env.plan.fan_in_cap;
    let per_sender = env.plan.fan_in_messages.div_ceil(SENDERS);
    let mut senders = Vec::with_capacity(SENDERS);
    for _ in 0..SENDERS {
        let (ids, sender, sent) = (ids.clone(), sender.clone(), sent.clone());
        senders.push(tokio::spawn(async move {
            for _ in 0..per_sender {
                if Instant::now() > deadline
                    || sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= target
                {
                    return;
                }
                let dest = ids[rand::rng().random_range(0..ids.len())].clone();
                let stamp = epoch.elapsed().as_nanos() as u64;
                let body =
                    Body::ActionRequest(ActionRequest::json("t", &[json!(stamp)], &json!({})));
                let message = Message::request(sender.id().clone(), dest, body, None);
                if sender.send(&message).await.is_err() {
                    return;
                }
            }
        }));
    }
    let cap = env.plan.fan_in_cap + Duration::from_secs(10);
    for s in senders {
        let abort = s.abort_handle();
        if tokio::time::timeout(cap, s).await.is_err() {
            abort.abort();
        }
    }
    let sent = sent.load(std::sync::atomic::Ordering::Relaxed).min(target);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while delivered.load(std::sync::atomic::Ordering::Relaxed) < sent {
            all_in.notified().await;
        }
    })
    .await;
    let after = server.sample()?.rss_kib;
    for t in &tasks {
        t.abort();
    }
    let latencies = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    let delivered = delivered.load(std::sync::atomic::Ordering::Relaxed);
    Ok((n, sent, delivered, latencies, before, listening, after))
}

/// The send time (ns since the run's epoch) carried in the first argument.
fn sent_at(message: &Message) -> Option<f64> {
    let pargs = message.raw_body().get("pargs")?.as_str()?;
    let args: Value = serde_json::from_str(pargs).ok()?;
    args.get(0)?.as_f64()
}
