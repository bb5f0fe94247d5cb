//! Checks of the transport contract.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{SHORT, bounded};
use crate::error::ExchangeError;
use crate::factory::ExchangeFactory;
use crate::identifier::{AgentId, EntityId, UserId};
use crate::message::{ActionRequest, Body, ErrorCode, Message};
use crate::status::MailboxStatus;
use crate::transport::{AgentRegistration, AgentType, ExchangeTransport};

pub(crate) type Transport = Arc<dyn ExchangeTransport>;

pub(crate) async fn user<F: ExchangeFactory + ?Sized>(f: &F, name: &str) -> Transport {
    let t = bounded("create_user_transport", f.create_user_transport(Some(name)))
        .await
        .unwrap_or_else(|e| panic!("conformance: create_user_transport failed: {e}"));
    assert!(
        t.mailbox_id().is_user(),
        "conformance: a user transport must be bound to a UserId, got {}",
        t.mailbox_id()
    );
    t
}

pub(crate) fn test_type(tag: &str) -> AgentType {
    // A unique module per call keeps discover results independent of other checks.
    AgentType::new(format!("conformance_{}.{tag}", Uuid::new_v4().simple()))
}

pub(crate) async fn agent<F: ExchangeFactory + ?Sized>(
    f: &F,
    by: &Transport,
    agent_type: &AgentType,
) -> (Box<dyn AgentRegistration>, Transport) {
    let reg = bounded(
        "register_agent",
        by.register_agent(agent_type, Some("conf-agent")),
    )
    .await
    .unwrap_or_else(|e| panic!("conformance: register_agent failed: {e}"));
    assert_eq!(
        reg.exchange_type(),
        f.exchange_type(),
        "conformance: registration exchange_type"
    );
    assert_eq!(reg.agent_id().name(), Some("conf-agent"));
    let t = bounded("create_agent_transport", f.create_agent_transport(&*reg))
        .await
        .unwrap_or_else(|e| panic!("conformance: create_agent_transport failed: {e}"));
    assert_eq!(
        t.mailbox_id(),
        &EntityId::from(reg.agent_id().clone()),
        "conformance: agent transport bound to the wrong mailbox"
    );
    (reg, t)
}

fn eid(reg: &dyn AgentRegistration) -> EntityId {
    reg.agent_id().clone().into()
}

fn numbered_request(src: &EntityId, dest: &EntityId, sender: usize, seq: usize) -> Message {
    let body = ActionRequest::json("n", &[json!(sender), json!(seq)], &Value::Null);
    Message::request(src.clone(), dest.clone(), Body::ActionRequest(body), None)
}

fn numbers(m: &Message) -> (usize, usize) {
    let Ok(Body::ActionRequest(r)) = m.body() else {
        panic!(
            "conformance: expected an action-request, got {:?}",
            m.raw_body()
        );
    };
    let args = r.args().unwrap_or_default();
    let n = |i: usize| args.get(i).and_then(Value::as_u64).unwrap_or(u64::MAX) as usize;
    (n(0), n(1))
}

async fn recv(t: &Transport) -> Message {
    bounded("recv", t.recv(Some(super::WAIT)))
        .await
        .unwrap_or_else(|e| panic!("conformance: recv on {} failed: {e}", t.mailbox_id()))
}

async fn cleanup(users: &[&Transport]) {
    for u in users {
        let _ = bounded("terminate user", u.terminate(u.mailbox_id())).await;
        let _ = bounded("close", u.close()).await;
    }
}

/// A request and its response travel intact (header and body byte-exact).
pub async fn send_and_recv<F: ExchangeFactory + ?Sized>(f: &F) {
    let u = user(f, "conf-send").await;
    let (reg, a) = agent(f, &u, &test_type("Echo")).await;
    let label = Some(Uuid::new_v4());
    let request = Message::request(
        u.mailbox_id().clone(),
        eid(&*reg),
        Body::ActionRequest(ActionRequest::json(
            "echo",
            &[json!("héllo ☃"), json!({"a": [1, 2.5]})],
            &json!({"k": null}),
        )),
        label,
    );
    bounded("send", u.send(&request))
        .await
        .expect("conformance: send to a registered agent failed");
    let got = recv(&a).await;
    assert_eq!(
        got.header, request.header,
        "conformance: header changed in transit"
    );
    assert_eq!(
        got.raw_body(),
        request.raw_body(),
        "conformance: body changed in transit"
    );
    assert_eq!(
        got.to_json(),
        request.to_json(),
        "conformance: message not byte-exact"
    );
    let response = got
        .create_response(Body::SuccessResponse)
        .expect("response");
    bounded("send response", a.send(&response))
        .await
        .expect("conformance: response send failed");
    let back = recv(&u).await;
    assert!(back.is_response());
    assert_eq!(back.tag(), request.tag());
    assert_eq!(back.label(), label);
    // Listening yields the same messages as recv.
    let again = numbered_request(u.mailbox_id(), &eid(&*reg), 0, 1);
    bounded("send", u.send(&again)).await.expect("send");
    let mut stream = a.listen(None);
    let first = bounded("listen", stream.next()).await;
    match first {
        Some(Ok(m)) => assert_eq!(m.tag(), again.tag()),
        other => panic!("conformance: listen yielded {other:?}"),
    }
    drop(stream);
    bounded("close agent transport", a.close())
        .await
        .expect("close");
    bounded("close twice", a.close())
        .await
        .expect("conformance: close must be idempotent");
    cleanup(&[&u]).await;
}

/// Unknown mailboxes: send and heartbeat_status fail with `BadEntityId`,
/// terminate is a no-op, status is `Missing`.
pub async fn unknown_mailbox_errors<F: ExchangeFactory + ?Sized>(f: &F) {
    let u = user(f, "conf-unknown").await;
    let ghost = EntityId::from(AgentId::new(None));
    let m = numbered_request(u.mailbox_id(), &ghost, 0, 0);
    match bounded("send", u.send(&m)).await {
        Err(ExchangeError::BadEntityId(id)) => assert_eq!(id, ghost),
        other => panic!("conformance: send to unknown mailbox gave {other:?}"),
    }
    match bounded("heartbeat_status", u.heartbeat_status(&ghost)).await {
        Err(ExchangeError::BadEntityId(id)) => assert_eq!(id, ghost),
        other => panic!("conformance: heartbeat_status of unknown gave {other:?}"),
    }
    bounded("terminate", u.terminate(&ghost))
        .await
        .expect("conformance: terminate of an unknown mailbox must be a no-op");
    let ghost_user = EntityId::from(UserId::new(None));
    bounded("terminate", u.terminate(&ghost_user))
        .await
        .expect("terminate unknown user");
    assert_eq!(
        bounded("status", u.status(&ghost)).await.expect("status"),
        MailboxStatus::Missing
    );
    cleanup(&[&u]).await;
}

/// Terminated mailboxes: send, recv, listen and heartbeat_status fail with
/// `MailboxTerminated`; terminate is idempotent; discover hides it.
pub async fn terminated_mailbox_errors<F: ExchangeFactory + ?Sized>(f: &F) {
    let u = user(f, "conf-terminated").await;
    let ty = test_type("Doomed");
    let (reg, a) = agent(f, &u, &ty).await;
    let id = eid(&*reg);
    // A receiver blocked before termination is woken by it.
    let a2 = a.clone();
    let blocked = tokio::spawn(async move { a2.recv(Some(super::WAIT)).await });
    tokio::task::yield_now().await;
    bounded("terminate", u.terminate(&id))
        .await
        .expect("terminate");
    match bounded("blocked recv", blocked).await {
        Ok(Err(ExchangeError::MailboxTerminated(x))) => assert_eq!(x, id),
        other => panic!("conformance: a blocked recv after terminate gave {other:?}"),
    }
    let m = numbered_request(u.mailbox_id(), &id, 0, 0);
    match bounded("send", u.send(&m)).await {
        Err(ExchangeError::MailboxTerminated(x)) => assert_eq!(x, id),
        other => panic!("conformance: send to terminated mailbox gave {other:?}"),
    }
    match bounded("recv", a.recv(Some(SHORT))).await {
        Err(ExchangeError::MailboxTerminated(_)) => {}
        other => panic!("conformance: recv on terminated mailbox gave {other:?}"),
    }
    let mut stream = a.listen(None);
    match bounded("listen", stream.next()).await {
        Some(Err(ExchangeError::MailboxTerminated(_))) => {}
        other => panic!("conformance: listen on terminated mailbox gave {other:?}"),
    }
    assert!(
        bounded("listen end", stream.next()).await.is_none(),
        "conformance: listen must end after its terminal error"
    );
    match bounded("heartbeat_status", u.heartbeat_status(&id)).await {
        Err(ExchangeError::MailboxTerminated(x)) => assert_eq!(x, id),
        other => panic!("conformance: heartbeat_status of terminated gave {other:?}"),
    }
    bounded("terminate again", u.terminate(&id))
        .await
        .expect("conformance: terminate must be idempotent");
    assert_eq!(
        bounded("status", u.status(&id)).await.expect("status"),
        MailboxStatus::Terminated
    );
    assert!(
        bounded("discover", u.discover(ty.name(), true))
            .await
            .expect("discover")
            .is_empty(),
        "conformance: discover must hide terminated agents"
    );
    cleanup(&[&u]).await;
}

/// `recv` and `listen` with a timeout fail with `Timeout` on an empty mailbox.
pub async fn recv_timeout<F: ExchangeFactory + ?Sized>(f: &F) {
    let u = user(f, "conf-timeout").await;
    let started = std::time::Instant::now();
    match bounded("recv", u.recv(Some(SHORT))).await {
        Err(ExchangeError::Timeout(_)) => {}
        other => panic!("conformance: recv on an empty mailbox gave {other:?}"),
    }
    assert!(
        started.elapsed() >= SHORT.mul_f32(0.9),
        "conformance: recv timed out early"
    );
    let mut stream = u.listen(Some(SHORT));
    match bounded("listen", stream.next()).await {
        Some(Err(ExchangeError::Timeout(_))) => {}
        other => panic!("conformance: listen with timeout gave {other:?}"),
    }
    cleanup(&[&u]).await;
}

/// One sender's messages arrive in order.
pub async fn fifo_order<F: ExchangeFactory + ?Sized>(f: &F) {
    let u = user(f, "conf-fifo").await;
    let (reg, a) = agent(f, &u, &test_type("Fifo")).await;
    for i in 0..25 {
        bounded(
            "send",
            u.send(&numbered_request(u.mailbox_id(), &eid(&*reg), 0, i)),
        )
        .await
        .expect("send");
    }
    for i in 0..25 {
        assert_eq!(
            numbers(&recv(&a).await),
            (0, i),
            "conformance: FIFO order broken"
        );
    }
    cleanup(&[&u]).await;
}

/// 8 senders × 50 messages: each delivered exactly once, per-sender order kept.
pub async fn concurrent_senders<F: ExchangeFactory + ?Sized>(f: &F) {
    const SENDERS: usize = 8;
    const EACH: usize = 50;
    let owner = user(f, "conf-concurrent").await;
    let (reg, a) = agent(f, &owner, &test_type("Sink")).await;
    let dest = eid(&*reg);
    let mut senders = Vec::new();
    for s in 0..SENDERS {
        senders.push(user(f, &format!("conf-sender-{s}")).await);
    }
    let mut tasks = Vec::new();
    for (s, t) in senders.iter().enumerate() {
        let t = t.clone();
        let dest = dest.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                t.send(&numbered_request(t.mailbox_id(), &dest, s, i))
                    .await?;
            }
            Ok::<(), ExchangeError>(())
        }));
    }
    let mut next = HashMap::new();
    for _ in 0..SENDERS * EACH {
        let (s, i) = numbers(&recv(&a).await);
        let expected = next.entry(s).or_insert(0usize);
        assert_eq!(
            i, *expected,
            "conformance: sender {s} out of order or duplicated"
        );
        *expected += 1;
    }
    for t in tasks {
        bounded("sender", t)
            .await
            .expect("join")
            .expect("conformance: concurrent send failed");
    }
    assert!(next.values().all(|n| *n == EACH));
    match bounded("recv", a.recv(Some(SHORT))).await {
        Err(ExchangeError::Timeout(_)) => {}
        other => panic!("conformance: extra message after all were received: {other:?}"),
    }
    let refs: Vec<&Transport> = std::iter::once(&owner).chain(senders.iter()).collect();
    cleanup(&refs).await;
}

/// Terminating an agent answers every unanswered request to it (queued or
/// already received) with error code 0 naming the agent, same tag and label.
pub async fn terminate_answers_pending<F: ExchangeFactory + ?Sized>(f: &F) {
    let u = user(f, "conf-pending").await;
    let (reg, a) = agent(f, &u, &test_type("Busy")).await;
    let id = eid(&*reg);
    let label = Some(Uuid::new_v4());
    let r1 = Message::request(u.mailbox_id().clone(), id.clone(), Body::PingRequest, label);
    let r2 = Message::request(u.mailbox_id().clone(), id.clone(), Body::PingRequest, label);
    for r in [&r1, &r2] {
        bounded("send", u.send(r)).await.expect("send");
    }
    // r1 is in progress (received, unanswered); r2 is still queued.
    assert_eq!(recv(&a).await.tag(), r1.tag());
    bounded("terminate", u.terminate(&id))
        .await
        .expect("terminate");
    let mut tags = Vec::new();
    for _ in 0..2 {
        let m = recv(&u).await;
        assert!(m.is_response());
        assert_eq!(m.src(), &id);
        assert_eq!(m.label(), label);
        match m.body() {
            Ok(Body::AcademyErrorResponse {
                error_code: ErrorCode::MailboxTerminated,
                mailbox_id: Some(mb),
            }) => assert_eq!(mb, id),
            other => panic!("conformance: expected error code 0, got {other:?}"),
        }
        tags.push(m.tag());
    }
    tags.sort();
    let mut want = vec![r1.tag(), r2.tag()];
    want.sort();
    assert_eq!(
        tags, want,
        "conformance: every pending request answered exactly once"
    );
    // A terminated requester is skipped without failing the termination.
    let gone = user(f, "conf-gone").await;
    let (reg2, _a2) = agent(f, &u, &test_type("Busy2")).await;
    let r3 = Message::request(
        gone.mailbox_id().clone(),
        eid(&*reg2),
        Body::PingRequest,
        None,
    );
    bounded("send", gone.send(&r3)).await.expect("send");
    bounded("terminate requester", u.terminate(gone.mailbox_id()))
        .await
        .expect("terminate");
    bounded("terminate agent", u.terminate(&eid(&*reg2)))
        .await
        .expect("conformance: terminate must skip requesters whose mailbox is terminated");
    cleanup(&[&u, &gone]).await;
}

/// Discover by most-derived name, by base with subclasses, never terminated agents.
pub async fn discover<F: ExchangeFactory + ?Sized>(f: &F) {
    let u = user(f, "conf-discover").await;
    let base = test_type("Base");
    let derived = AgentType::new(format!("{}Derived", base.name())).with_base(base.name());
    let (rb, _) = agent(f, &u, &base).await;
    let (rd, _) = agent(f, &u, &derived).await;
    let (rd2, _) = agent(f, &u, &derived).await;
    let sorted = |mut v: Vec<AgentId>| {
        v.sort_by_key(|a| a.uid());
        v
    };
    let found = sorted(
        bounded("discover", u.discover(base.name(), true))
            .await
            .expect("discover"),
    );
    assert_eq!(
        found,
        sorted(vec![
            rb.agent_id().clone(),
            rd.agent_id().clone(),
            rd2.agent_id().clone()
        ]),
        "conformance: discover with subclasses"
    );
    let exact = bounded("discover", u.discover(base.name(), false))
        .await
        .expect("discover");
    assert_eq!(
        exact,
        vec![rb.agent_id().clone()],
        "conformance: discover without subclasses"
    );
    let d = sorted(
        bounded("discover", u.discover(derived.name(), false))
            .await
            .expect("discover"),
    );
    assert_eq!(
        d,
        sorted(vec![rd.agent_id().clone(), rd2.agent_id().clone()])
    );
    let all = bounded(
        "discover",
        u.discover(crate::transport::AGENT_BASE_TYPE, true),
    )
    .await
    .expect("discover");
    assert!(all.contains(rb.agent_id()) && all.contains(rd.agent_id()));
    bounded("terminate", u.terminate(&eid(&*rd)))
        .await
        .expect("terminate");
    let d = bounded("discover", u.discover(derived.name(), true))
        .await
        .expect("discover");
    assert_eq!(
        d,
        vec![rd2.agent_id().clone()],
        "conformance: terminated agents are hidden"
    );
    assert!(
        bounded("discover", u.discover("conformance_nothing.Here", true))
            .await
            .expect("discover")
            .is_empty()
    );
    cleanup(&[&u]).await;
}

/// A new mailbox has no heartbeat; `update_heartbeat` records one for the
/// transport's own mailbox.
pub async fn heartbeats<F: ExchangeFactory + ?Sized>(f: &F) {
    let u = user(f, "conf-heartbeat").await;
    let (reg, a) = agent(f, &u, &test_type("Beat")).await;
    let id = eid(&*reg);
    assert_eq!(
        bounded("heartbeat_status", u.heartbeat_status(&id))
            .await
            .expect("heartbeat_status"),
        None,
        "conformance: a mailbox that never beat reports None"
    );
    bounded("update_heartbeat", a.update_heartbeat())
        .await
        .expect("update_heartbeat");
    let age = bounded("heartbeat_status", u.heartbeat_status(&id))
        .await
        .expect("heartbeat_status")
        .expect("conformance: heartbeat not recorded");
    assert!(
        (0.0..10.0).contains(&age) || (-1.0..0.0).contains(&age),
        "conformance: implausible age {age}"
    );
    assert_eq!(
        bounded("status", u.status(&id)).await.expect("status"),
        MailboxStatus::Active
    );
    cleanup(&[&u]).await;
}

/// Stats per `exchange-http-api.md` §8.
pub async fn agent_stats<F: ExchangeFactory + ?Sized>(f: &F) {
    let u = user(f, "conf-stats").await;
    let (reg, a) = agent(f, &u, &test_type("Counted")).await;
    let id = eid(&*reg);
    let zero = bounded("agent_stats", u.agent_stats(&id))
        .await
        .expect("agent_stats");
    assert_eq!(zero, crate::status::AgentStats::default());
    for i in 0..3 {
        bounded("send", u.send(&numbered_request(u.mailbox_id(), &id, 0, i)))
            .await
            .expect("send");
    }
    // Answer one, hold one in progress, leave one queued.
    let first = recv(&a).await;
    bounded(
        "respond",
        a.send(
            &first
                .create_response(Body::SuccessResponse)
                .expect("response"),
        ),
    )
    .await
    .expect("send response");
    let _second = recv(&a).await;
    let s = bounded("agent_stats", u.agent_stats(&id))
        .await
        .expect("agent_stats");
    assert_eq!(
        (s.incoming, s.outgoing, s.completed, s.in_progress, s.queued),
        (3, 0, 1, 1, 1),
        "conformance: agent stats {s:?}"
    );
    let us = bounded("agent_stats", u.agent_stats(u.mailbox_id()))
        .await
        .expect("agent_stats");
    assert_eq!(
        (us.outgoing, us.queued),
        (3, 1),
        "conformance: requester stats {us:?}"
    );
    cleanup(&[&u]).await;
}

/// `register_agents` returns registrations in input order, all usable.
pub async fn register_agents_batch<F: ExchangeFactory + ?Sized>(f: &F) {
    let u = user(f, "conf-batch").await;
    let ty = test_type("Batch");
    let names = ["b0", "b1", "b2"];
    let input: Vec<(AgentType, Option<String>)> = names
        .iter()
        .map(|n| (ty.clone(), Some(n.to_string())))
        .collect();
    let regs = bounded("register_agents", u.register_agents(&input))
        .await
        .expect("register_agents");
    let got: Vec<Option<&str>> = regs.iter().map(|r| r.agent_id().name()).collect();
    assert_eq!(got, names.iter().map(|n| Some(*n)).collect::<Vec<_>>());
    let mut found = bounded("discover", u.discover(ty.name(), false))
        .await
        .expect("discover");
    found.sort_by_key(|a| a.uid());
    let mut want: Vec<AgentId> = regs.iter().map(|r| r.agent_id().clone()).collect();
    want.sort_by_key(|a| a.uid());
    assert_eq!(found, want);
    cleanup(&[&u]).await;
}

/// A registration survives `to_json` → `registration_from_json` and still
/// connects an agent transport.
pub async fn registration_round_trip<F: ExchangeFactory + ?Sized>(f: &F) {
    let u = user(f, "conf-ship").await;
    let reg = bounded(
        "register_agent",
        u.register_agent(&test_type("Shipped"), None),
    )
    .await
    .expect("register_agent");
    let json = reg
        .to_json()
        .expect("conformance: registration must serialise");
    assert!(
        json.contains("exchange_type"),
        "conformance: registration JSON lacks exchange_type"
    );
    let back = f
        .registration_from_json(&json)
        .expect("conformance: registration_from_json");
    assert_eq!(back.agent_id(), reg.agent_id());
    assert_eq!(back.exchange_type(), reg.exchange_type());
    let t = bounded("create_agent_transport", f.create_agent_transport(&*back))
        .await
        .expect("transport");
    let m = numbered_request(u.mailbox_id(), t.mailbox_id(), 7, 7);
    bounded("send", u.send(&m)).await.expect("send");
    assert_eq!(numbers(&recv(&t).await), (7, 7));
    cleanup(&[&u]).await;
}
