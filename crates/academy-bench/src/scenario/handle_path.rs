//! An extra row of scenario 1 for our client: the full client path an
//! application uses, `Handle::action` (or `Handle::ping`) from a
//! `UserExchangeClient` to an `AgentExchangeClient` whose request handler
//! echoes its first argument. Compared with the transport-level row it
//! adds request/response matching, argument decoding and result
//! encoding, and the clients' heartbeat tasks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use academy_exchange::{
    ActionError, ActionInvocation, AgentType, ExchangeFactory as _, RequestHandler,
};
use academy_globus_exchange::HttpExchangeFactory;
use serde_json::{Map, Value};

use super::round_trip::Block;
use super::{Measured, Target, own_cpu_us};
use crate::client::AGENT_TYPE;
use crate::error::BenchError;
use crate::payload::Payload;
use crate::server_process::ServerProcess;

/// Extra time one call may take beyond the cap.
const CALL_GRACE: Duration = Duration::from_secs(5);

struct Echo;

#[async_trait::async_trait]
impl RequestHandler for Echo {
    async fn action(&self, call: ActionInvocation) -> Result<Value, ActionError> {
        Ok(call.args.into_iter().next().unwrap_or(Value::Null))
    }
}

/// Runs the calls; latencies in µs.
pub async fn run(
    server: &ServerProcess,
    target: &Target,
    payload: Payload,
    block: Block,
) -> Result<Measured<Vec<f64>>, BenchError> {
    let Block { count, warmup, cap } = block;
    let url = url::Url::parse(&format!("{}/", target.url))
        .map_err(|e| BenchError::Child(format!("bad server URL: {e}")))?;
    let mut factory = HttpExchangeFactory::new(url);
    if let Some(t) = &target.token {
        factory = factory.with_header("Authorization", format!("Bearer {}", t.expose()));
    }
    let user = factory.create_user_client(None, true).await?;
    let registration = user
        .register_agent(&AgentType::new(AGENT_TYPE), None)
        .await?;
    let agent = factory
        .create_agent_client(registration.as_ref(), Arc::new(Echo))
        .await?;
    let handle = user.get_handle(registration.agent_id().clone());
    let arg = payload.bytes().map(|n| Value::String("x".repeat(n)));
    let call = async || -> Result<f64, BenchError> {
        let start = Instant::now();
        match &arg {
            None => {
                handle.ping().await?;
            }
            Some(a) => {
                handle.action("echo", vec![a.clone()], Map::new()).await?;
            }
        }
        Ok(start.elapsed().as_secs_f64() * 1e6)
    };
    let outcome = async {
        for _ in 0..warmup {
            tokio::time::timeout(cap + CALL_GRACE, call())
                .await
                .map_err(|_| BenchError::Timeout("Handle warm-up".into()))??;
        }
        let before = server.sample()?;
        let client_before = own_cpu_us();
        let deadline = Instant::now() + cap;
        let mut latencies = Vec::with_capacity(count);
        while latencies.len() < count && Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now()) + CALL_GRACE;
            match tokio::time::timeout(left, call()).await {
                Ok(r) => latencies.push(r?),
                Err(_) => break,
            }
        }
        let after = server.sample()?;
        Ok(Measured {
            value: latencies,
            server_cpu_us: after.cpu_us - before.cpu_us,
            client_cpu_us: own_cpu_us() - client_before,
        })
    }
    .await;
    let _ = user
        .terminate(&registration.agent_id().clone().into())
        .await;
    let _ = agent.close().await;
    let _ = user.close().await;
    outcome
}
