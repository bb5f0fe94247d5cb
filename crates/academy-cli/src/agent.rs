//! The demo agent: its actions, the shipped factory file, and the hidden
//! `academy agent run` command that serves a registered agent in its own
//! process until its mailbox is terminated or it is shut down.

use std::path::Path;
use std::sync::Arc;

use academy_exchange::{
    ActionError, ActionInvocation, AgentStopReason, AgentType, ExchangeFactory, RequestHandler,
};
use academy_globus_exchange::{GlobusExchangeFactory, HttpExchangeFactory};
use serde_json::{Value, json};

use crate::cli::AgentRunArgs;
use crate::context::Context;
use crate::error::{CliError, Result, io};

/// The demo agent's type (its Python-style MRO).
pub fn demo_agent_type() -> AgentType {
    AgentType::new("academy_demo.Calculator")
}

/// The demo agent's actions: `echo(x) -> x`, `add(a, b) -> a + b`
/// (integers stay integers), `fail(message)` raises `ValueError`.
#[derive(Debug, Default, Clone, Copy)]
pub struct DemoActions;

fn number(v: Option<&Value>, name: &str) -> std::result::Result<Value, ActionError> {
    match v {
        Some(n @ Value::Number(_)) => Ok(n.clone()),
        Some(other) => Err(ActionError::new(
            "TypeError",
            format!("{name} must be a number, not {other}"),
        )),
        None => Err(ActionError::new(
            "TypeError",
            format!("add() missing required argument: '{name}'"),
        )),
    }
}

fn add(a: &Value, b: &Value) -> std::result::Result<Value, ActionError> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64())
        && let Some(sum) = x.checked_add(y)
    {
        return Ok(json!(sum));
    }
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => Ok(json!(x + y)),
        _ => Err(ActionError::new(
            "TypeError",
            "unsupported operand types for +",
        )),
    }
}

#[async_trait::async_trait]
impl RequestHandler for DemoActions {
    async fn action(&self, call: ActionInvocation) -> std::result::Result<Value, ActionError> {
        let arg = |i: usize, name: &str| call.args.get(i).or_else(|| call.kwargs.get(name));
        match call.name.as_str() {
            "echo" => Ok(arg(0, "value").cloned().unwrap_or(Value::Null)),
            "add" => add(&number(arg(0, "a"), "a")?, &number(arg(1, "b"), "b")?),
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

/// The factory file shipped to the agent process:
/// `{"exchange_type": "globus"|"http", "factory": <factory JSON>}`.
pub fn factory_file(factory: &dyn ExchangeFactory) -> Result<String> {
    let inner: Value = serde_json::from_str(&factory.to_json().map_err(exchange("factory JSON"))?)
        .map_err(|e| CliError::Other(format!("factory JSON: {e}")))?;
    Ok(json!({ "exchange_type": factory.exchange_type(), "factory": inner }).to_string())
}

fn exchange(context: &str) -> impl FnOnce(academy_exchange::ExchangeError) -> CliError + '_ {
    move |source| CliError::Exchange {
        context: context.to_string(),
        source,
    }
}

/// Reads a factory file written by [`factory_file`].
pub fn read_factory(path: &Path) -> Result<Box<dyn ExchangeFactory>> {
    let text =
        std::fs::read_to_string(path).map_err(io(format!("cannot read {}", path.display())))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| CliError::BadInput(format!("invalid factory file {}: {e}", path.display())))?;
    let inner = v.get("factory").map(Value::to_string).unwrap_or_default();
    match v.get("exchange_type").and_then(Value::as_str) {
        Some("globus") => Ok(Box::new(
            GlobusExchangeFactory::from_json(&inner).map_err(exchange("factory file"))?,
        )),
        Some("http") => Ok(Box::new(
            HttpExchangeFactory::from_json(&inner).map_err(exchange("factory file"))?,
        )),
        other => Err(CliError::BadInput(format!(
            "factory file {}: unsupported exchange_type {other:?}",
            path.display()
        ))),
    }
}

/// `academy agent run`: serve until stopped; exit 0 when the mailbox was
/// terminated or the agent was shut down, else an error.
pub async fn run(ctx: &Context, args: &AgentRunArgs) -> Result<()> {
    let factory = read_factory(&args.factory)?;
    let reg_text = std::fs::read_to_string(&args.registration)
        .map_err(io(format!("cannot read {}", args.registration.display())))?;
    let registration = factory
        .registration_from_json(&reg_text)
        .map_err(exchange("registration file"))?;
    let agent = factory
        .create_agent_client(registration.as_ref(), Arc::new(DemoActions))
        .await
        .map_err(|e| match e {
            academy_exchange::ExchangeError::BadEntityId(_) => CliError::UnknownMailbox {
                mailbox: registration.agent_id().to_string(),
            },
            academy_exchange::ExchangeError::MailboxTerminated(_) => CliError::Terminated {
                mailbox: registration.agent_id().to_string(),
            },
            e => exchange("starting the agent")(e),
        })?;
    // The launcher waits for this line.
    ctx.out.json(&json!({
        "ready": true,
        "agent": agent.agent_id().uid().to_string(),
        "pid": std::process::id(),
    }));
    let reason = agent.wait_stopped().await;
    if let Err(e) = agent.close().await {
        tracing::warn!(error = %e, "closing the agent client");
    }
    tracing::info!(?reason, "agent stopped");
    match reason {
        AgentStopReason::Shutdown { .. }
        | AgentStopReason::MailboxTerminated
        | AgentStopReason::Closed => Ok(()),
        AgentStopReason::ListenerError(e) => {
            Err(CliError::Other(format!("the agent stopped receiving: {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use academy_exchange::{EntityId, UserId};

    fn call(name: &str, args: Vec<Value>) -> ActionInvocation {
        ActionInvocation {
            name: name.into(),
            args,
            kwargs: Default::default(),
            caller: EntityId::from(UserId::new(None)),
            tag: uuid::Uuid::new_v4(),
        }
    }

    #[tokio::test]
    async fn actions() {
        let a = DemoActions;
        assert_eq!(
            a.action(call("echo", vec![json!("hi")])).await.unwrap(),
            json!("hi")
        );
        assert_eq!(
            a.action(call("add", vec![json!(2), json!(3)]))
                .await
                .unwrap(),
            json!(5)
        );
        assert_eq!(
            a.action(call("add", vec![json!(0.5), json!(1)]))
                .await
                .unwrap(),
            json!(1.5)
        );
        assert!(
            a.action(call("add", vec![json!("x"), json!(1)]))
                .await
                .is_err()
        );
        assert!(matches!(
            a.action(call("nope", vec![])).await,
            Err(ActionError::UnknownAction(_))
        ));
    }
}
