//! Scenario 2: one-way throughput. `pairs` senders each send their share
//! of the messages to their own receiver mailbox, awaiting every send (as
//! a program calling `send` in a loop does); receivers count deliveries on
//! their listen streams. Rate = delivered / (start → last delivery).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use serde_json::{Value, json};

use super::{Env, Measured, Target};
use crate::client::RustClient;
use crate::error::BenchError;
use crate::payload::Payload;
use crate::python_driver::PythonDriver;
use crate::server_process::{Implementation, ServerProcess};

/// Receivers wait this long after the cap for messages in flight.
const GRACE: Duration = Duration::from_secs(2);

/// What one run delivered.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outcome {
    /// Messages sent.
    pub sent: u64,
    /// Messages delivered.
    pub received: u64,
    /// Start → last delivery.
    pub elapsed_s: f64,
}

/// Runs `pairs` sender→receiver pairs with `client` against `server`.
pub async fn run(
    env: &Env,
    server: &ServerProcess,
    target: &Target,
    client: Implementation,
    pairs: usize,
) -> Result<Measured<Outcome>, BenchError> {
    let per_pair = (env.plan.tp_messages / pairs).max(1);
    let payload = Payload::Bytes(env.plan.tp_payload);
    let cap = env.plan.tp_cap;
    match client {
        Implementation::Rust => rust(server, target, pairs, per_pair, payload, cap).await,
        Implementation::Python => {
            let params = json!({
                "scenario": "throughput",
                "url": target.url,
                "headers": target.py_headers(),
                "payload_bytes": payload.bytes(),
                "pairs": pairs,
                "per_pair": per_pair,
                "cap_s": cap.as_secs_f64(),
            });
            let mut driver = PythonDriver::start(&env.python, &params).await?;
            let before = server.sample()?;
            let client_before = driver.sample()?;
            driver.go().await?;
            let result = driver.result(cap + GRACE + Duration::from_secs(10)).await;
            let after = server.sample()?;
            let client_after = driver.sample().map_or(client_before.cpu_us, |s| s.cpu_us);
            driver.finish().await;
            let result = result?;
            let num = |k: &str| result.get(k).and_then(Value::as_f64).unwrap_or(0.0);
            Ok(Measured {
                value: Outcome {
                    sent: num("sent") as u64,
                    received: num("received") as u64,
                    elapsed_s: num("elapsed_s"),
                },
                server_cpu_us: after.cpu_us - before.cpu_us,
                client_cpu_us: client_after - client_before.cpu_us,
            })
        }
    }
}

async fn rust(
    server: &ServerProcess,
    target: &Target,
    pairs: usize,
    per_pair: usize,
    payload: Payload,
    cap: Duration,
) -> Result<Measured<Outcome>, BenchError> {
    let client = RustClient::new(&target.url, target.token.clone())?;
    let mut endpoints = Vec::with_capacity(pairs);
    for _ in 0..pairs {
        let sender = client.user().await?;
        let receiver = client.agent(&sender).await?;
        endpoints.push((sender, receiver));
    }
    let sent = Arc::new(AtomicU64::new(0));
    let received = Arc::new(AtomicU64::new(0));
    let last_ns = Arc::new(AtomicU64::new(0));
    let before = server.sample()?;
    let client_before = super::own_cpu_us();
    let start = Instant::now();
    let deadline = start + cap;
    let mut receivers = Vec::with_capacity(pairs);
    let mut senders = Vec::with_capacity(pairs);
    for (sender, receiver) in &endpoints {
        let (received, last_ns) = (received.clone(), last_ns.clone());
        let dest = receiver.id().clone();
        let receiver = receiver.clone();
        receivers.push(tokio::spawn(async move {
            let mut stream = receiver.listen();
            let until = tokio::time::Instant::from_std(deadline + GRACE);
            for _ in 0..per_pair {
                match tokio::time::timeout_at(until, stream.next()).await {
                    Ok(Some(Ok(_))) => {
                        received.fetch_add(1, Ordering::Relaxed);
                        last_ns.fetch_max(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
                    }
                    _ => return,
                }
            }
        }));
        let (sender, sent) = (sender.clone(), sent.clone());
        senders.push(tokio::spawn(async move {
            for _ in 0..per_pair {
                if Instant::now() > deadline {
                    return;
                }
                if sender
                    .send(&payload.request(sender.id(), &dest))
                    .await
                    .is_err()
                {
                    return;
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for task in senders.into_iter().chain(receivers) {
        // Every task is bounded by the deadline (plus one send or GRACE);
        // a task stuck beyond that is cut off.
        let abort = task.abort_handle();
        if tokio::time::timeout(cap + GRACE + Duration::from_secs(10), task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
    let after = server.sample()?;
    let client_cpu_us = super::own_cpu_us() - client_before;
    for (sender, receiver) in &endpoints {
        sender.terminate(receiver.id()).await;
        sender.terminate(sender.id()).await;
    }
    Ok(Measured {
        value: Outcome {
            sent: sent.load(Ordering::Relaxed),
            received: received.load(Ordering::Relaxed),
            elapsed_s: last_ns.load(Ordering::Relaxed) as f64 / 1e9,
        },
        server_cpu_us: after.cpu_us - before.cpu_us,
        client_cpu_us,
    })
}
