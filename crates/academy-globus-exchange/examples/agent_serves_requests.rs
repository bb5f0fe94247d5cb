//! An agent serving requests over the plain HTTP exchange, all on loopback:
//! an embedded exchange server (memory backend, no auth), a user client
//! from [`HttpExchangeFactory`] that registers the agent, and an
//! [`AgentExchangeClient`](academy_exchange::AgentExchangeClient) whose
//! [`RequestHandler`] runs `add`, `echo` and `fail`. The user calls each
//! action through a `Handle` — `fail` shows how a `user-error-response`
//! reaches the caller as [`ExchangeError::RemoteAction`] — then shuts the
//! agent down and waits for it to stop.
//!
//! ```text
//! cargo run -p academy-globus-exchange --example agent_serves_requests
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use academy_exchange::{
    ActionError, ActionInvocation, AgentStopReason, AgentType, ExchangeError, ExchangeFactory as _,
    RequestHandler,
};
use academy_exchange_server::ServerConfig;
use academy_globus_exchange::HttpExchangeFactory;
use anyhow::{Context as _, bail};
use serde_json::{Map, Value, json};

/// How long any single step may take before the example gives up.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// The agent's actions: `add(a, b)`, `echo(value)`, and `fail(message)`,
/// which raises a `ValueError`.
struct Calculator;

#[async_trait::async_trait]
impl RequestHandler for Calculator {
    async fn action(&self, call: ActionInvocation) -> Result<Value, ActionError> {
        let arg = |i: usize, name: &str| call.args.get(i).or_else(|| call.kwargs.get(name));
        match call.name.as_str() {
            "add" => {
                let (Some(a), Some(b)) = (
                    arg(0, "a").and_then(Value::as_i64),
                    arg(1, "b").and_then(Value::as_i64),
                ) else {
                    return Err(ActionError::new("TypeError", "add() takes two integers"));
                };
                a.checked_add(b)
                    .map(Value::from)
                    .ok_or_else(|| ActionError::new("OverflowError", "integer overflow"))
            }
            "echo" => Ok(arg(0, "value").cloned().unwrap_or(Value::Null)),
            "fail" => Err(ActionError::new(
                "ValueError",
                arg(0, "message")
                    .and_then(Value::as_str)
                    .unwrap_or("failed on purpose"),
            )),
            other => Err(ActionError::UnknownAction(other.to_string())),
        }
    }
}

/// Bounds one step of the example.
async fn step<T>(what: &str, fut: impl Future<Output = T>) -> anyhow::Result<T> {
    tokio::time::timeout(STEP_TIMEOUT, fut)
        .await
        .with_context(|| format!("{what}: timed out after {STEP_TIMEOUT:?}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The exchange: memory backend, no auth, a free loopback port.
    let config = ServerConfig::default().with_bind(SocketAddr::from(([127, 0, 0, 1], 0)));
    let server = academy_exchange_server::serve(config).await?;
    let url = server.base_url();
    println!("exchange listening on {url}");

    // The user registers the agent; the agent client serves it here.
    let factory = HttpExchangeFactory::new(url.parse()?);
    let user = step(
        "user client",
        factory.create_user_client(Some("example-user"), true),
    )
    .await??;
    let registration = step(
        "register agent",
        user.register_agent(&AgentType::new("example.Calculator"), Some("calculator")),
    )
    .await??;
    let agent = step(
        "agent client",
        factory.create_agent_client(registration.as_ref(), Arc::new(Calculator)),
    )
    .await??;
    println!("agent {} is serving", registration.agent_id());

    let handle = user.get_handle(registration.agent_id().clone());
    let sum = step(
        "add",
        handle.action("add", vec![json!(2), json!(40)], Map::new()),
    )
    .await??;
    println!("add(2, 40) = {sum}");

    let mut kwargs = Map::new();
    kwargs.insert("value".into(), json!({"greeting": "hello", "n": [1, 2, 3]}));
    let echoed = step("echo", handle.action("echo", vec![], kwargs)).await??;
    println!("echo(value=...) = {echoed}");

    // The action's exception comes back as a user-error-response.
    match step(
        "fail",
        handle.action("fail", vec![json!("no such thing")], Map::new()),
    )
    .await?
    {
        Err(ExchangeError::RemoteAction(exception)) => {
            println!("fail(\"no such thing\") raised: {exception}");
        }
        other => bail!("fail: expected ExchangeError::RemoteAction, got {other:?}"),
    }

    // Shut down and terminate the agent's mailbox; the agent client stops.
    step("shutdown", handle.shutdown(Some(true))).await??;
    let reason = step("agent stop", agent.wait_stopped()).await?;
    println!("agent stopped: {reason:?}");
    if !matches!(reason, AgentStopReason::Shutdown { .. }) {
        bail!("unexpected stop reason: {reason:?}");
    }

    step("agent close", agent.close()).await??;
    step("user close", user.close()).await??;
    step("server shutdown", server.shutdown()).await?;
    Ok(())
}
