//! A Rust agent that a Python academy-py 1.0.0 user calls, over the plain
//! HTTP exchange on loopback: an embedded exchange server (memory backend,
//! no auth) and a Rust agent serving `add`, `echo` and `fail`, registered
//! by a Rust user client.
//!
//! With `ACADEMY_PY_PYTHON` set to a Python that has academy-py 1.0.0, the
//! example runs `examples/py/call_rust_agent.py`: academy-py's
//! `HttpExchangeFactory(url)` creates a user client and calls each action
//! with the json serializer (the only one a Rust agent speaks); the
//! example checks its output and exits non-zero on a failure.
//!
//! ```text
//! ACADEMY_PY_PYTHON=/work/main/target/venv/bin/python \
//!     cargo run -p academy-globus-exchange --example python_user_calls_rust_agent
//! ```
//!
//! Without `ACADEMY_PY_PYTHON` it prints the server URL and a Python
//! snippet to paste, then serves until ctrl-C (or the agent is shut down);
//! with `--once` it exits right after printing.
//!
//! ```text
//! cargo run -p academy-globus-exchange --example python_user_calls_rust_agent -- --once
//! ```

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use academy_exchange::{
    ActionError, ActionInvocation, AgentExchangeClient, AgentStopReason, AgentType,
    ExchangeFactory as _, RequestHandler,
};
use academy_exchange_server::ServerConfig;
use academy_globus_exchange::HttpExchangeFactory;
use anyhow::{Context as _, bail};
use serde_json::Value;
use tokio::process::Command;

/// How long any single Rust-side step may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the Python user may take (interpreter start-up included).
const PYTHON_TIMEOUT: Duration = Duration::from_secs(120);
/// The interpreter with academy-py 1.0.0.
const PYTHON_ENV: &str = "ACADEMY_PY_PYTHON";
/// The Python user, run by path.
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/py/call_rust_agent.py"
);
/// Lines the Python user must print for the run to count as a success.
const EXPECTED: [&str; 4] = [
    "add(2, 40) = 42",
    "echo(value=...) = {'from': 'python'}",
    "fail raised ",
    "ok",
];

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

/// Runs the Python user and checks what it printed.
async fn run_python(python: &Path, url: &str, uid: &str, name: &str) -> anyhow::Result<()> {
    println!("running {} {SCRIPT} {url} {uid} {name}", python.display());
    let child = Command::new(python)
        .args([SCRIPT, url, uid, name])
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", python.display()))?;
    let out = tokio::time::timeout(PYTHON_TIMEOUT, child.wait_with_output())
        .await
        .with_context(|| format!("the Python user did not finish in {PYTHON_TIMEOUT:?}"))??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in stdout.lines() {
        println!("  python> {line}");
    }
    let missing: Vec<_> = EXPECTED
        .iter()
        .filter(|want| !stdout.lines().any(|l| l.starts_with(*want)))
        .collect();
    if !out.status.success() || !missing.is_empty() {
        bail!(
            "the Python user failed ({}; missing {missing:?}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// A self-contained academy-py program calling the agent.
fn snippet(url: &str, uid: &str, name: &str) -> String {
    format!(
        r#"import asyncio, uuid
from academy.exchange.cloud.client import HttpExchangeFactory
from academy.handle import Handle
from academy.identifier import AgentId
from academy.serialize import SerializationStrategy

async def main():
    client = await HttpExchangeFactory('{url}').create_user_client(name='py-user')
    try:
        handle = Handle(
            AgentId(uid=uuid.UUID('{uid}'), name='{name}'),
            exchange=client,
            request_serializer=SerializationStrategy.JSON,
        )
        print(await handle.add(2, 40))
        print(await handle.echo('hello from python'))
    finally:
        await client.close()

asyncio.run(asyncio.wait_for(main(), 60))"#
    )
}

/// Serves until ctrl-C or until the agent stops on its own.
async fn serve_until_interrupted(agent: &AgentExchangeClient) -> anyhow::Result<()> {
    println!("serving; press ctrl-C to stop");
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for ctrl-C")?,
        reason = agent.wait_stopped() => println!("agent stopped: {reason:?}"),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let once = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--once") => true,
        Some(other) => bail!("unknown argument {other:?} (only --once is accepted)"),
    };

    // The exchange: memory backend, no auth, a free loopback port.
    let config = ServerConfig::default().with_bind(SocketAddr::from(([127, 0, 0, 1], 0)));
    let server = academy_exchange_server::serve(config).await?;
    let url = server.base_url();
    println!("exchange listening on {url}");

    let factory = HttpExchangeFactory::new(url.parse()?);
    let user = step(
        "user client",
        factory.create_user_client(Some("rust-user"), true),
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
    let uid = registration.agent_id().uid().to_string();
    let name = registration.agent_id().name().unwrap_or("calculator");
    println!("agent {uid} ({name}) is serving");

    let outcome = match std::env::var_os(PYTHON_ENV) {
        Some(python) => run_python(Path::new(&python), &url, &uid, name).await,
        None => {
            println!("{PYTHON_ENV} is not set; call the agent from academy-py 1.0.0 with:\n");
            println!("{}\n", snippet(&url, &uid, name));
            println!("or: python {SCRIPT} {url} {uid} {name}");
            if once {
                Ok(())
            } else {
                serve_until_interrupted(&agent).await
            }
        }
    };

    // Stop the agent (unless it already stopped) before reporting.
    if agent.stop_reason().is_none() {
        let handle = user.get_handle(registration.agent_id().clone());
        step("shutdown", handle.shutdown(Some(true))).await??;
        let reason = step("agent stop", agent.wait_stopped()).await?;
        println!("agent stopped: {reason:?}");
        if outcome.is_ok() && !matches!(reason, AgentStopReason::Shutdown { .. }) {
            bail!("unexpected stop reason: {reason:?}");
        }
    }
    step("agent close", agent.close()).await??;
    step("user close", user.close()).await??;
    step("server shutdown", server.shutdown()).await?;
    outcome
}
