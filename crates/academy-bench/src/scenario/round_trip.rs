//! Scenario 1: a user sends a request to an agent through the exchange and
//! the agent answers, at the transport level on both sides (user `send` →
//! agent's listen stream → agent `send`s the echo → user's listen stream).
//! One trip at a time; latency from building the request to receiving the
//! response.

use std::time::{Duration, Instant};

use academy_exchange::{EntityId, Message};
use futures::StreamExt as _;
use futures::stream::BoxStream;
use serde_json::{Value, json};

use super::{Env, Measured, Target};
use crate::client::{Endpoint, RustClient};
use crate::error::BenchError;
use crate::payload::{Payload, echo};
use crate::python_driver::PythonDriver;
use crate::server_process::{Implementation, ServerProcess};

/// Extra time a single trip may take beyond the cap before it counts as lost.
const TRIP_GRACE: Duration = Duration::from_secs(5);

/// One block of trips: the measured trips of a payload are split into
/// `Plan::rtt_blocks` blocks, run in turn for every cell of the matrix, so
/// that every cell sees the same machine (a shared host's speed drifts).
#[derive(Debug, Clone, Copy)]
pub struct Block {
    /// Measured trips.
    pub count: usize,
    /// Unmeasured trips first.
    pub warmup: usize,
    /// Cap of the measured trips.
    pub cap: Duration,
}

/// The block of a payload.
pub fn block(env: &Env, payload: Payload) -> Block {
    let total = match payload {
        Payload::Bytes(n) if n > 100 * 1024 => env.plan.rtt_count_large,
        _ => env.plan.rtt_count,
    };
    let blocks = env.plan.rtt_blocks.max(1);
    let count = total.div_ceil(blocks);
    Block {
        count,
        warmup: (env.plan.rtt_warmup / blocks).clamp(1, count),
        cap: env.plan.rtt_cap / blocks as u32,
    }
}

/// Runs the trips with `client` against `server`; latencies in µs.
pub async fn run(
    env: &Env,
    server: &ServerProcess,
    target: &Target,
    client: Implementation,
    payload: Payload,
    block: Block,
) -> Result<Measured<Vec<f64>>, BenchError> {
    let Block { count, warmup, cap } = block;
    match client {
        Implementation::Rust => rust(server, target, payload, count, warmup, cap).await,
        Implementation::Python => {
            let params = json!({
                "scenario": "round_trip",
                "url": target.url,
                "headers": target.py_headers(),
                "payload_bytes": payload.bytes(),
                "count": count,
                "warmup": warmup,
                "cap_s": cap.as_secs_f64(),
            });
            let mut driver = PythonDriver::start(&env.python, &params).await?;
            let before = server.sample()?;
            let client_before = driver.sample()?;
            driver.go().await?;
            let result = driver.result(cap + TRIP_GRACE * 2).await;
            let after = server.sample()?;
            let client_after = driver.sample().map_or(client_before.cpu_us, |s| s.cpu_us);
            driver.finish().await;
            let result = result?;
            let latencies = result
                .get("latencies_us")
                .and_then(Value::as_array)
                .ok_or_else(|| BenchError::Child("driver result without latencies_us".into()))?
                .iter()
                .filter_map(Value::as_f64)
                .collect();
            Ok(Measured {
                value: latencies,
                server_cpu_us: after.cpu_us - before.cpu_us,
                client_cpu_us: client_after - client_before.cpu_us,
            })
        }
    }
}

async fn echo_loop(agent: Endpoint) {
    let mut requests = agent.listen();
    while let Some(Ok(message)) = requests.next().await {
        if message.is_request()
            && let Ok(answer) = echo(&message)
            && agent.send(&answer).await.is_err()
        {
            return;
        }
    }
}

type Responses = BoxStream<'static, Result<Message, BenchError>>;

async fn trip(
    user: &Endpoint,
    dest: &EntityId,
    payload: Payload,
    responses: &mut Responses,
) -> Result<f64, BenchError> {
    let start = Instant::now();
    let request = payload.request(user.id(), dest);
    user.send(&request).await?;
    let response = responses
        .next()
        .await
        .ok_or_else(|| BenchError::Child("listen stream ended".into()))??;
    let elapsed = start.elapsed();
    if response.tag() != request.tag() {
        return Err(BenchError::Child("response tag does not match".into()));
    }
    Ok(elapsed.as_secs_f64() * 1e6)
}

async fn rust(
    server: &ServerProcess,
    target: &Target,
    payload: Payload,
    count: usize,
    warmup: usize,
    cap: Duration,
) -> Result<Measured<Vec<f64>>, BenchError> {
    let client = RustClient::new(&target.url, target.token.clone())?;
    let user = client.user().await?;
    let agent = client.agent(&user).await?;
    let dest = agent.id().clone();
    let echo_task = tokio::spawn(echo_loop(agent));
    let mut responses = user.listen();
    let outcome = async {
        for _ in 0..warmup {
            tokio::time::timeout(
                cap + TRIP_GRACE,
                trip(&user, &dest, payload, &mut responses),
            )
            .await
            .map_err(|_| BenchError::Timeout("round-trip warm-up".into()))??;
        }
        let before = server.sample()?;
        let client_before = super::own_cpu_us();
        let deadline = Instant::now() + cap;
        let mut latencies = Vec::with_capacity(count);
        while latencies.len() < count && Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now()) + TRIP_GRACE;
            match tokio::time::timeout(left, trip(&user, &dest, payload, &mut responses)).await {
                Ok(r) => latencies.push(r?),
                Err(_) => break,
            }
        }
        let after = server.sample()?;
        Ok(Measured {
            value: latencies,
            server_cpu_us: after.cpu_us - before.cpu_us,
            client_cpu_us: super::own_cpu_us() - client_before,
        })
    }
    .await;
    echo_task.abort();
    drop(responses);
    user.terminate(&dest).await;
    user.terminate(user.id()).await;
    outcome
}
