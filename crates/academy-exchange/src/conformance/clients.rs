//! Checks of the user and agent clients over a backend.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::transport::{Transport, agent, test_type, user};
use super::{WAIT, bounded};
use crate::client::{ActionError, ActionInvocation, AgentStopReason, RequestHandler};
use crate::error::ExchangeError;
use crate::factory::ExchangeFactory;
use crate::identifier::{AgentId, EntityId};
use crate::message::{Body, ErrorCode, Message};
use crate::status::MailboxStatus;

/// The agent the client checks talk to.
///
/// Actions: `echo(x)`, `add(a, b, scale=1)`, `fail(msg)` (raises
/// `ValueError`), `block()` (never returns; reports start and cancellation
/// on the channels).
struct TestAgent {
    started: mpsc::UnboundedSender<Uuid>,
    dropped: mpsc::UnboundedSender<Uuid>,
}

struct DropReport(mpsc::UnboundedSender<Uuid>, Uuid);

impl Drop for DropReport {
    fn drop(&mut self) {
        let _ = self.0.send(self.1);
    }
}

#[async_trait]
impl RequestHandler for TestAgent {
    async fn action(&self, call: ActionInvocation) -> Result<Value, ActionError> {
        match call.name.as_str() {
            "echo" => Ok(call.args.into_iter().next().unwrap_or(Value::Null)),
            "add" => {
                let n = |i: usize| call.args.get(i).and_then(Value::as_i64).unwrap_or(0);
                let scale = call
                    .kwargs
                    .get("scale")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                Ok(json!((n(0) + n(1)) * scale))
            }
            "fail" => Err(ActionError::new(
                "ValueError",
                call.args
                    .first()
                    .and_then(Value::as_str)
                    .unwrap_or("failed"),
            )),
            "block" => {
                let _report = DropReport(self.dropped.clone(), call.tag);
                let _ = self.started.send(call.tag);
                std::future::pending::<()>().await;
                Ok(Value::Null)
            }
            other => Err(ActionError::UnknownAction(other.to_string())),
        }
    }
}

struct Fixture {
    started: mpsc::UnboundedReceiver<Uuid>,
    dropped: mpsc::UnboundedReceiver<Uuid>,
    handler: Arc<dyn RequestHandler>,
}

fn fixture() -> Fixture {
    let (stx, srx) = mpsc::unbounded_channel();
    let (dtx, drx) = mpsc::unbounded_channel();
    Fixture {
        started: srx,
        dropped: drx,
        handler: Arc::new(TestAgent {
            started: stx,
            dropped: dtx,
        }),
    }
}

fn kwargs(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// `create_agent_client` refuses unknown (`BadEntityId`) and terminated
/// (`MailboxTerminated`) mailboxes.
pub async fn agent_client_checks_mailbox<F: ExchangeFactory + ?Sized>(f: &F) {
    let u = user(f, "conf-agent-check").await;
    let (reg, _) = agent(f, &u, &test_type("Checked")).await;
    // An unknown agent: the same registration with a fresh uid.
    let json = reg.to_json().expect("to_json");
    let old = reg.agent_id().uid().to_string();
    let fresh = Uuid::new_v4().to_string();
    assert!(
        json.contains(&old),
        "conformance: registration JSON must carry the agent uid"
    );
    let ghost = f
        .registration_from_json(&json.replace(&old, &fresh))
        .expect("registration_from_json");
    let fx = fixture();
    match bounded(
        "create_agent_client",
        f.create_agent_client(&*ghost, fx.handler.clone()),
    )
    .await
    {
        Err(ExchangeError::BadEntityId(_)) => {}
        other => panic!("conformance: agent client for unknown mailbox gave {other:?}"),
    }
    bounded("terminate", u.terminate(&reg.agent_id().clone().into()))
        .await
        .expect("terminate");
    match bounded(
        "create_agent_client",
        f.create_agent_client(&*reg, fx.handler.clone()),
    )
    .await
    {
        Err(ExchangeError::MailboxTerminated(_)) => {}
        other => panic!("conformance: agent client for terminated mailbox gave {other:?}"),
    }
    let _ = u.terminate(u.mailbox_id()).await;
}

/// Actions, pings, user errors, unknown actions, two handles sharing a
/// mailbox, error code 4 from a user client and code 5 for an incompatible
/// protocol.
pub async fn client_action_ping_and_errors<F: ExchangeFactory + ?Sized>(f: &F) {
    let fx = fixture();
    let client = bounded(
        "create_user_client",
        f.create_user_client(Some("conf-client"), true),
    )
    .await
    .expect("create_user_client");
    let reg = bounded(
        "register_agent",
        client.register_agent(&test_type("Calc"), Some("calc")),
    )
    .await
    .expect("register_agent");
    let agent_client = bounded(
        "create_agent_client",
        f.create_agent_client(&*reg, fx.handler.clone()),
    )
    .await
    .expect("create_agent_client");
    let h = client.get_handle(reg.agent_id().clone());
    bounded("ping", h.ping()).await.expect("conformance: ping");
    let v = bounded(
        "add",
        h.action(
            "add",
            vec![json!(1), json!(2)],
            kwargs(json!({"scale": 10})),
        ),
    )
    .await
    .expect("conformance: add");
    assert_eq!(v, json!(30));
    let payload = json!({"text": "héllo ☃ 😀", "nested": [1, 2.5, {"x": null, "y": [true]}]});
    let v = bounded("echo", h.action("echo", vec![payload.clone()], Map::new()))
        .await
        .expect("echo");
    assert_eq!(
        v, payload,
        "conformance: json payload changed in a round trip"
    );
    match bounded("fail", h.action("fail", vec![json!("boom")], Map::new())).await {
        Err(ExchangeError::RemoteAction(text)) => {
            assert!(text.contains("ValueError: boom"), "{text}")
        }
        other => panic!("conformance: failing action gave {other:?}"),
    }
    match bounded("unknown", h.action("nope", vec![], Map::new())).await {
        Err(ExchangeError::RemoteAction(text)) => {
            assert!(
                text.starts_with("AttributeError") && text.contains("nope"),
                "{text}"
            )
        }
        other => panic!("conformance: unknown action gave {other:?}"),
    }
    // Two handles to the same agent share the client's mailbox; labels keep
    // their answers apart.
    let h2 = client.get_handle(reg.agent_id().clone());
    assert_ne!(h.label(), h2.label());
    let calls = (0..10).map(|i| {
        let (h, h2) = (h.clone(), h2.clone());
        async move {
            let a = h.action("echo", vec![json!(i)], Map::new()).await;
            let b = h2.action("echo", vec![json!(100 + i)], Map::new()).await;
            (i, a, b)
        }
    });
    for (i, a, b) in bounded("concurrent actions", futures::future::join_all(calls)).await {
        assert_eq!(a.expect("echo"), json!(i));
        assert_eq!(b.expect("echo"), json!(100 + i));
    }
    // Raw requests: a ping through `request`, and a cancel of nothing (code 2).
    let agent_eid = EntityId::from(reg.agent_id().clone());
    let pong = bounded("request", client.request(&agent_eid, Body::PingRequest))
        .await
        .expect("request");
    assert_eq!(pong.body().expect("body"), Body::SuccessResponse);
    let r = bounded(
        "cancel nothing",
        client.request(
            &agent_eid,
            Body::CancelRequest {
                target_tag: Uuid::new_v4(),
            },
        ),
    )
    .await
    .expect("request");
    match crate::client::response_result(&r) {
        Err(ExchangeError::ErrorResponse {
            code: ErrorCode::ActionInvalidState,
            ..
        }) => {}
        other => panic!("conformance: cancel of nothing gave {other:?}"),
    }
    // A request to a user client gets code 4; an incompatible one gets code 5.
    let raw = user(f, "conf-raw").await;
    let to_user = Message::request(
        raw.mailbox_id().clone(),
        client.client_id().clone(),
        Body::PingRequest,
        None,
    );
    bounded("send", raw.send(&to_user)).await.expect("send");
    expect_code(&raw, ErrorCode::InvalidClient, client.client_id()).await;
    let mut old = Message::request(
        raw.mailbox_id().clone(),
        agent_eid.clone(),
        Body::PingRequest,
        None,
    );
    old.header.protocol_version = Some("2.0".into());
    bounded("send", raw.send(&old)).await.expect("send");
    expect_code(&raw, ErrorCode::IncompatibleProtocol, &agent_eid).await;
    // An agent calls another agent: responses are routed by the agent client.
    let reg_b = bounded(
        "register_agent",
        client.register_agent(&test_type("Peer"), None),
    )
    .await
    .expect("register_agent");
    let peer = bounded(
        "create_agent_client",
        f.create_agent_client(&*reg_b, fx.handler.clone()),
    )
    .await
    .expect("create_agent_client");
    let from_agent = agent_client.get_handle(reg_b.agent_id().clone());
    let v = bounded(
        "agent to agent",
        from_agent.action("echo", vec![json!("via agent")], Map::new()),
    )
    .await
    .expect("conformance: agent-to-agent action");
    assert_eq!(v, json!("via agent"));
    bounded("close peer", peer.close()).await.expect("close");
    let _ = raw
        .terminate(&EntityId::from(reg_b.agent_id().clone()))
        .await;
    assert_eq!(
        agent_client.stop_reason(),
        None,
        "conformance: the agent must keep serving"
    );
    bounded("close agent", agent_client.close())
        .await
        .expect("close");
    bounded("close user", client.close()).await.expect("close");
    let _ = raw.terminate(&agent_eid).await;
    let _ = raw.terminate(raw.mailbox_id()).await;
}

async fn expect_code(t: &Transport, code: ErrorCode, mailbox: &EntityId) {
    let m = bounded("recv", t.recv(Some(WAIT))).await.expect("recv");
    match m.body() {
        Ok(Body::AcademyErrorResponse {
            error_code,
            mailbox_id,
        }) => {
            assert_eq!(error_code, code);
            assert_eq!(mailbox_id.as_ref(), Some(mailbox));
        }
        other => panic!(
            "conformance: expected error code {}, got {other:?}",
            code.code()
        ),
    }
}

/// Dropping an awaiting action sends a cancel-request that cancels it; a
/// shutdown-request stops the agent, cancels running actions (code 3) and
/// terminates the mailbox when asked.
pub async fn client_cancel_and_shutdown<F: ExchangeFactory + ?Sized>(f: &F) {
    let mut fx = fixture();
    let client = bounded(
        "create_user_client",
        f.create_user_client(Some("conf-cancel"), true),
    )
    .await
    .expect("create_user_client");
    let reg = bounded(
        "register_agent",
        client.register_agent(&test_type("Blocker"), None),
    )
    .await
    .expect("register_agent");
    let agent_client = bounded(
        "create_agent_client",
        f.create_agent_client(&*reg, fx.handler.clone()),
    )
    .await
    .expect("create_agent_client");
    let h = client.get_handle(reg.agent_id().clone());
    // Cancellation by dropping the caller.
    let h1 = h.clone();
    let call = tokio::spawn(async move { h1.action("block", vec![], Map::new()).await });
    let tag = bounded("action start", fx.started.recv())
        .await
        .expect("started");
    call.abort();
    let cancelled = bounded("action cancelled", fx.dropped.recv())
        .await
        .expect("dropped");
    assert_eq!(
        cancelled, tag,
        "conformance: the cancel-request must cancel the abandoned action"
    );
    // Shutdown with a running action.
    let h2 = h.clone();
    let running = tokio::spawn(async move { h2.action("block", vec![], Map::new()).await });
    bounded("action start", fx.started.recv())
        .await
        .expect("started");
    bounded("shutdown", h.shutdown(Some(true)))
        .await
        .expect("shutdown");
    assert_eq!(
        bounded("wait_stopped", agent_client.wait_stopped()).await,
        AgentStopReason::Shutdown { terminated: true }
    );
    match bounded("running action", running).await.expect("join") {
        Err(ExchangeError::ErrorResponse {
            code: ErrorCode::ActionCancelled,
            ..
        }) => {}
        other => panic!("conformance: an action running at shutdown gave {other:?}"),
    }
    let agent_eid = EntityId::from(reg.agent_id().clone());
    assert_eq!(
        bounded("status", client.status(&agent_eid))
            .await
            .expect("status"),
        MailboxStatus::Terminated
    );
    // Calls to a terminated agent fail with MailboxTerminated.
    match bounded("action", h.action("echo", vec![json!(1)], Map::new())).await {
        Err(ExchangeError::MailboxTerminated(id)) => assert_eq!(id, agent_eid),
        other => panic!("conformance: action on a terminated agent gave {other:?}"),
    }
    bounded("close agent", agent_client.close())
        .await
        .expect("close");
    bounded("close user", client.close()).await.expect("close");
}

/// Status from heartbeats: a running client is `Active`, a registered
/// agent that never beat is `Inactive`, then `Terminated` and `Missing`.
pub async fn client_status_from_heartbeats<F: ExchangeFactory + ?Sized>(f: &F) {
    let fx = fixture();
    let client = bounded(
        "create_user_client",
        f.create_user_client(Some("conf-status"), true),
    )
    .await
    .expect("create_user_client");
    let reg = bounded(
        "register_agent",
        client.register_agent(&test_type("Idle"), None),
    )
    .await
    .expect("register_agent");
    let agent_eid = EntityId::from(reg.agent_id().clone());
    assert_eq!(
        client.status(&agent_eid).await.expect("status"),
        MailboxStatus::Inactive
    );
    let agent_client = bounded(
        "create_agent_client",
        f.create_agent_client(&*reg, fx.handler.clone()),
    )
    .await
    .expect("create_agent_client");
    // The first heartbeat is sent at start; wait for it to be visible.
    bounded("agent becomes active", async {
        while client.status(&agent_eid).await.expect("status") != MailboxStatus::Active {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    bounded("user active", async {
        while client.status(client.client_id()).await.expect("status") != MailboxStatus::Active {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(
        client
            .status(&EntityId::from(AgentId::new(None)))
            .await
            .expect("status"),
        MailboxStatus::Missing
    );
    client.terminate(&agent_eid).await.expect("terminate");
    assert_eq!(
        bounded("wait_stopped", agent_client.wait_stopped()).await,
        AgentStopReason::MailboxTerminated
    );
    assert_eq!(
        client.status(&agent_eid).await.expect("status"),
        MailboxStatus::Terminated
    );
    bounded("close agent", agent_client.close())
        .await
        .expect("close");
    bounded("close user", client.close()).await.expect("close");
}

/// Closing a user client fails its waiting calls with `Closed`, terminates
/// its mailbox, and is idempotent.
pub async fn user_client_close_fails_pending<F: ExchangeFactory + ?Sized>(f: &F) {
    let mut fx = fixture();
    let client = bounded(
        "create_user_client",
        f.create_user_client(Some("conf-close"), true),
    )
    .await
    .expect("create_user_client");
    let reg = bounded(
        "register_agent",
        client.register_agent(&test_type("Slow"), None),
    )
    .await
    .expect("register_agent");
    let agent_client = bounded(
        "create_agent_client",
        f.create_agent_client(&*reg, fx.handler.clone()),
    )
    .await
    .expect("create_agent_client");
    let h = client.get_handle(reg.agent_id().clone());
    let h1 = h.clone();
    let call = tokio::spawn(async move { h1.action("block", vec![], Map::new()).await });
    bounded("action start", fx.started.recv())
        .await
        .expect("started");
    let user_eid = client.client_id().clone();
    bounded("close", client.close()).await.expect("close");
    match bounded("pending call", call).await.expect("join") {
        Err(ExchangeError::Closed) => {}
        other => panic!("conformance: a call pending at close gave {other:?}"),
    }
    bounded("close again", client.close())
        .await
        .expect("conformance: close must be idempotent");
    match bounded("action after close", h.action("echo", vec![], Map::new())).await {
        Err(ExchangeError::Closed) => {}
        other => panic!("conformance: an action after close gave {other:?}"),
    }
    let observer = user(f, "conf-observer").await;
    assert_eq!(
        bounded("status", observer.status(&user_eid))
            .await
            .expect("status"),
        MailboxStatus::Terminated,
        "conformance: closing a user client terminates its mailbox"
    );
    bounded("close agent", agent_client.close())
        .await
        .expect("close");
    let _ = observer.terminate(&reg.agent_id().clone().into()).await;
    let _ = observer.terminate(observer.mailbox_id()).await;
}
