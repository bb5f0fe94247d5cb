//! `AcademyGlobusClient` against a real loopback server: wire format of
//! every route, 403 → refresh through a real token endpoint, and SSE.

// Helpers outside `#[test]` functions unwrap too: a panic is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use academy_exchange::{AgentId, Body, EntityId, MailboxStatus, Message, UserId};
use academy_globus_client::authorizer::{RenewingAuthorizer, StaticTokenAuthorizer};
use academy_globus_client::{
    AcademyGlobusClient, AuthClient, AuthClientConfig, Error, ExchangeClientConfig,
    ReconnectPolicy, RetryPolicy,
};
use common::{Action, ScriptServer, bounded, token_json};
use futures::StreamExt as _;
use http::Method;
use serde_json::json;

fn client(server: &ScriptServer) -> AcademyGlobusClient {
    let config = ExchangeClientConfig::new(server.url())
        .with_authorizer(Arc::new(StaticTokenAuthorizer::new("xtok".into())));
    AcademyGlobusClient::new(config).unwrap()
}

fn ping(dest: &EntityId) -> Message {
    Message::request(
        UserId::new(None).into(),
        dest.clone(),
        Body::PingRequest,
        None,
    )
}

#[tokio::test]
async fn routes_send_double_encoded_json_bodies_and_headers() {
    let server = ScriptServer::start().await;
    let c = client(&server);
    let user: EntityId = UserId::new(Some("me".into())).into();
    let agent = AgentId::new(None);
    let agent_e: EntityId = agent.clone().into();
    let msg = ping(&agent_e);

    server.script(
        Method::POST,
        "mailbox",
        vec![Action::status(200), Action::status(200)],
    );
    server.script(
        Method::GET,
        "mailbox",
        vec![Action::json(200, json!({"status": "TERMINATED"}))],
    );
    server.script(Method::DELETE, "mailbox", vec![Action::status(200)]);
    server.script(Method::PUT, "message", vec![Action::status(200)]);
    server.script(
        Method::GET,
        "message",
        vec![Action::json(200, json!({"message": msg.to_json()}))],
    );
    let u1 = uuid::Uuid::new_v4();
    let u2 = uuid::Uuid::new_v4();
    server.script(
        Method::GET,
        "discover",
        vec![Action::json(
            200,
            json!({"agent_ids": format!("{u1},{u2},")}),
        )],
    );
    server.script(
        Method::GET,
        "mailbox/heartbeat",
        vec![
            Action::json(200, json!({"heartbeat": 1.5})),
            Action::json(200, json!({"heartbeat": null})),
        ],
    );
    server.script(Method::POST, "mailbox/heartbeat", vec![Action::status(200)]);
    server.script(
        Method::GET,
        "mailbox/stats",
        vec![Action::json(
            200,
            json!({"incoming": 3, "outgoing": 1, "completed": 2, "in_progress": 1, "queued": 0}),
        )],
    );
    server.script(Method::POST, "mailbox/share", vec![Action::status(200)]);
    server.script(
        Method::GET,
        "mailbox/share",
        vec![Action::json(200, json!({"group_ids": ["g1"]}))],
    );
    server.script(Method::DELETE, "mailbox/share", vec![Action::status(200)]);

    bounded(30, async {
        c.register_client(&user).await.unwrap();
        c.register_agent(&agent, &["mod.MyAgent", "academy.agent.Agent"])
            .await
            .unwrap();
        assert_eq!(c.status(&user).await.unwrap(), MailboxStatus::Terminated);
        c.terminate(&user).await.unwrap();
        c.send(&msg).await.unwrap();
        assert_eq!(c.recv(&agent_e, Some(2.5)).await.unwrap(), msg);
        let found = c.discover("mod.MyAgent", true).await.unwrap();
        assert_eq!(
            found.iter().map(|a| a.uid()).collect::<Vec<_>>(),
            vec![u1, u2]
        );
        assert_eq!(c.get_heartbeat(&agent_e).await.unwrap(), Some(1.5));
        assert_eq!(c.get_heartbeat(&agent_e).await.unwrap(), None);
        c.update_heartbeat(&agent_e).await.unwrap();
        assert_eq!(c.get_agent_stats(&agent_e).await.unwrap().incoming, 3);
        c.share_mailbox(&user, "g1").await.unwrap();
        assert_eq!(c.get_shared_groups(&user).await.unwrap(), vec!["g1"]);
        c.remove_shared_group(&user, "g1").await.unwrap();
    })
    .await;

    let seen = server.seen();
    assert_eq!(seen.len(), 14);
    for s in &seen {
        assert_eq!(s.header("academy_version").as_deref(), Some("1.0.0"));
        assert_eq!(s.header("authorization").as_deref(), Some("Bearer xtok"));
        assert_eq!(
            s.header("content-type").as_deref(),
            Some("application/json")
        );
    }
    // Identifiers are a JSON string holding the id JSON.
    let register = seen[0].json();
    assert_eq!(register, json!({"mailbox": user.to_json()}));
    let inner: serde_json::Value =
        serde_json::from_str(register["mailbox"].as_str().unwrap()).unwrap();
    assert_eq!(inner["role"], "user");
    assert_eq!(
        seen[1].json(),
        json!({"mailbox": agent.to_json(), "agent": "mod.MyAgent,academy.agent.Agent"})
    );
    assert_eq!(seen[3].method, Method::DELETE);
    assert_eq!(seen[4].json(), json!({"message": msg.to_json()}));
    assert_eq!(
        seen[5].json(),
        json!({"mailbox": agent_e.to_json(), "timeout": 2.5})
    );
    assert_eq!(
        seen[6].json(),
        json!({"agent": "mod.MyAgent", "allow_subclasses": true})
    );
    assert_eq!(
        seen[11].json(),
        json!({"mailbox": user.to_json(), "group_id": "g1"})
    );
}

#[tokio::test]
async fn errors_carry_status_and_text() {
    let server = ScriptServer::start().await;
    let c = client(&server);
    let id: EntityId = UserId::new(None).into();
    server.script(
        Method::GET,
        "message",
        vec![Action::text(419, "Mailbox was closed")],
    );
    server.script(
        Method::GET,
        "discover",
        vec![Action::json(200, json!({"agent_ids": "not-a-uuid"}))],
    );
    let err = bounded(10, c.recv(&id, None)).await.unwrap_err();
    let api = err.api().unwrap();
    assert_eq!(
        (api.http_status, api.text.as_str()),
        (419, "Mailbox was closed")
    );
    assert!(matches!(
        bounded(10, c.discover("a.B", false)).await,
        Err(Error::InvalidResponse(_))
    ));
}

/// The exchange answers an expired token with 403: the client renews
/// through a real refresh grant and resends once.
#[tokio::test]
async fn forbidden_triggers_refresh_grant_and_one_resend() {
    let server = ScriptServer::start().await;
    server.script(
        Method::POST,
        "v2/oauth2/token",
        vec![Action::json(
            200,
            token_json("fresh", None, "exchange", 3600),
        )],
    );
    server.script(
        Method::GET,
        "mailbox/heartbeat",
        vec![
            Action::text(403, "Token expired or revoked."),
            Action::json(200, json!({"heartbeat": 2.0})),
        ],
    );
    let auth =
        AuthClient::native("native-id", AuthClientConfig::with_base_url(server.url())).unwrap();
    let authorizer = RenewingAuthorizer::from_refresh_token(auth, "RT".into())
        .with_access_token("stale".into(), i64::MAX / 2);
    let config = ExchangeClientConfig::new(server.url()).with_authorizer(Arc::new(authorizer));
    let c = AcademyGlobusClient::new(config).unwrap();
    let id: EntityId = UserId::new(None).into();
    assert_eq!(bounded(10, c.get_heartbeat(&id)).await.unwrap(), Some(2.0));
    let hb = server.seen_at("mailbox/heartbeat");
    assert_eq!(hb.len(), 2);
    assert_eq!(
        hb[0].header("authorization").as_deref(),
        Some("Bearer stale")
    );
    assert_eq!(
        hb[1].header("authorization").as_deref(),
        Some("Bearer fresh")
    );
    let grant = &server.seen_at("v2/oauth2/token")[0];
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&grant.body).unwrap();
    assert!(form.contains(&("grant_type".into(), "refresh_token".into())));
    assert!(form.contains(&("refresh_token".into(), "RT".into())));
    assert!(form.contains(&("client_id".into(), "native-id".into())));
    assert!(grant.header("authorization").is_none());
}

#[tokio::test]
async fn revoked_refresh_token_is_login_required() {
    let server = ScriptServer::start().await;
    server.script(
        Method::POST,
        "v2/oauth2/token",
        vec![Action::json(400, json!({"error": "invalid_grant"}))],
    );
    let auth =
        AuthClient::native("native-id", AuthClientConfig::with_base_url(server.url())).unwrap();
    let authorizer = RenewingAuthorizer::from_refresh_token(auth, "RT".into());
    let config = ExchangeClientConfig::new(server.url()).with_authorizer(Arc::new(authorizer));
    let c = AcademyGlobusClient::new(config).unwrap();
    let err = bounded(10, c.update_heartbeat(&UserId::new(None).into()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::LoginRequired { .. }), "{err:?}");
    assert!(err.to_string().contains("log in again"));
    // The exchange was never called with a missing token.
    assert!(server.seen_at("mailbox/heartbeat").is_empty());
}

fn sse_event(m: &Message) -> String {
    format!("data: {}\r\n\r\n", m.to_json())
}

#[tokio::test]
async fn listen_parses_events_and_ignores_pings() {
    let server = ScriptServer::start().await;
    let id: EntityId = UserId::new(None).into();
    let (m1, m2) = (ping(&id), ping(&id));
    let e2 = sse_event(&m2);
    let (a, b) = e2.split_at(17);
    server.script(
        Method::GET,
        "mailbox/listen",
        vec![Action::Sse(vec![
            ": ping\r\n\r\n".into(),
            sse_event(&m1),
            a.into(),
            b.into(),
            "data: not json\r\n\r\n".into(),
        ])],
    );
    let c = client(&server);
    let items: Vec<_> = bounded(10, async {
        c.listen(&id, Some(5.0))
            .await
            .unwrap()
            .collect::<Vec<_>>()
            .await
    })
    .await;
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].as_ref().unwrap(), &m1);
    assert_eq!(items[1].as_ref().unwrap(), &m2);
    assert!(matches!(items[2], Err(Error::InvalidResponse(_))));
    let req = &server.seen_at("mailbox/listen")[0];
    assert_eq!(req.header("accept").as_deref(), Some("text/event-stream"));
    assert_eq!(req.json(), json!({"mailbox": id.to_json(), "timeout": 5.0}));
}

#[tokio::test]
async fn listen_is_not_retried() {
    let server = ScriptServer::start().await;
    server.script(
        Method::GET,
        "mailbox/listen",
        vec![Action::text(503, "busy")],
    );
    let c = client(&server);
    let err = bounded(10, c.listen(&UserId::new(None).into(), None))
        .await
        .err()
        .unwrap();
    assert_eq!(err.http_status(), Some(503));
    assert_eq!(server.seen_at("mailbox/listen").len(), 1);
}

#[tokio::test]
async fn reconnecting_listener_survives_transients_and_stops_on_419() {
    let server = ScriptServer::start().await;
    let id: EntityId = UserId::new(None).into();
    let (m1, m2) = (ping(&id), ping(&id));
    server.script(
        Method::GET,
        "mailbox/listen",
        vec![
            Action::Sse(vec![sse_event(&m1)]),
            Action::text(503, "busy"),
            Action::Reset,
            Action::Sse(vec![sse_event(&m2)]),
            Action::text(419, "Mailbox was closed"),
        ],
    );
    let c = client(&server);
    let policy = ReconnectPolicy {
        max_failures: 5,
        backoff: RetryPolicy {
            max_sleep: Duration::from_millis(50),
            ..RetryPolicy::default()
        },
    };
    let items: Vec<_> = bounded(
        20,
        c.listen_reconnecting(id, Some(1.0), policy)
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap(), &m1);
    assert_eq!(items[1].as_ref().unwrap(), &m2);
    assert_eq!(items[2].as_ref().unwrap_err().http_status(), Some(419));
    assert_eq!(server.seen_at("mailbox/listen").len(), 5);
}

#[tokio::test]
async fn reconnecting_listener_gives_up_after_max_failures() {
    let server = ScriptServer::start().await;
    server.script(
        Method::GET,
        "mailbox/listen",
        (0..5).map(|_| Action::text(502, "bad gateway")).collect(),
    );
    let c = client(&server);
    let policy = ReconnectPolicy {
        max_failures: 3,
        backoff: RetryPolicy {
            max_sleep: Duration::from_millis(20),
            ..RetryPolicy::default()
        },
    };
    let items: Vec<_> = bounded(
        20,
        c.listen_reconnecting(UserId::new(None).into(), None, policy)
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].as_ref().unwrap_err().http_status(), Some(502));
    assert_eq!(server.seen_at("mailbox/listen").len(), 3);
}
