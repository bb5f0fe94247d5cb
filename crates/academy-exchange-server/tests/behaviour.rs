//! Route behaviour over real HTTP, run against the memory backend and
//! against a real redis-server: the same expectations for both.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use academy_exchange::message::Body as MsgBody;
use academy_exchange::{AgentId, EntityId, Message, UserId};
use academy_exchange_server::{ServerConfig, ServerHandle, serve};
use common::{Answer, HttpClient, RedisServer, call, call_raw, client};
use http_body_util::BodyExt;
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(60);

fn mb(id: &EntityId) -> Value {
    json!({ "mailbox": id.to_json() })
}

struct Ctx {
    http: HttpClient,
    base: String,
    receivers: academy_exchange_server::WaitingReceivers,
}

impl Ctx {
    fn new(server: &ServerHandle) -> Self {
        Ctx::with_base(server, server.base_url())
    }

    fn with_base(server: &ServerHandle, base: String) -> Self {
        Ctx {
            http: client(),
            base,
            receivers: server.receivers(),
        }
    }

    async fn call(&self, method: &str, path: &str, body: &Value) -> Answer {
        call(&self.http, method, &format!("{}{path}", self.base), body).await
    }
    async fn raw(&self, method: &str, path: &str, body: &'static str) -> Answer {
        call_raw(
            &self.http,
            method,
            &format!("{}{path}", self.base),
            body,
            &[],
        )
        .await
    }
    async fn create(&self, id: &EntityId, agent: Option<&str>) {
        let mut body = mb(id);
        if let Some(a) = agent {
            body["agent"] = json!(a);
        }
        let a = self.call("POST", "/mailbox", &body).await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.text, "");
    }
    async fn put(&self, m: &Message) -> Answer {
        self.call("PUT", "/message", &json!({ "message": m.to_json() }))
            .await
    }
    async fn recv(&self, id: &EntityId, timeout: f64) -> Answer {
        let mut body = mb(id);
        body["timeout"] = json!(timeout);
        self.call("GET", "/message", &body).await
    }
    async fn recv_message(&self, id: &EntityId) -> Message {
        let a = self.recv(id, 5.0).await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(
            a.content_type.as_deref(),
            Some("application/json; charset=utf-8")
        );
        Message::from_json(a.json()["message"].as_str().unwrap()).unwrap()
    }
    async fn status(&self, id: &EntityId) -> String {
        let a = self.call("GET", "/mailbox", &mb(id)).await;
        assert_eq!(a.status, 200, "{a:?}");
        a.json()["status"].as_str().unwrap().to_string()
    }
    async fn stats(&self, id: &EntityId) -> Value {
        let a = self.call("GET", "/mailbox/stats", &mb(id)).await;
        assert_eq!(a.status, 200, "{a:?}");
        a.json()
    }
}

async fn memory() -> (ServerHandle, Ctx) {
    let s = common::memory_server().await;
    let ctx = Ctx::new(&s);
    (s, ctx)
}

fn redis_config(redis: &RedisServer, extra: &str) -> ServerConfig {
    ServerConfig::from_toml_str(&format!(
        "[backend]\nkind = 'redis'\nhostname = '127.0.0.1'\nport = {}\n{extra}",
        redis.port()
    ))
    .unwrap()
    .with_bind("127.0.0.1:0".parse().unwrap())
}

async fn redis() -> (RedisServer, ServerHandle, Ctx) {
    let r = RedisServer::start().await;
    let s = serve(redis_config(&r, "")).await.unwrap();
    let ctx = Ctx::new(&s);
    (r, s, ctx)
}

// ---------------------------------------------------------------- flows

async fn request_response_flow(ctx: &Ctx) {
    let user: EntityId = UserId::new(Some("u".into())).into();
    let agent: EntityId = AgentId::new(None).into();
    assert_eq!(ctx.status(&agent).await, "MISSING");
    ctx.create(&user, None).await;
    ctx.create(&agent, Some("m.Adder,academy.agent.Agent"))
        .await;
    assert_eq!(ctx.status(&agent).await, "ACTIVE");

    let req = Message::request(user.clone(), agent.clone(), MsgBody::PingRequest, None);
    assert_eq!(ctx.put(&req).await.status, 200);
    let st = ctx.stats(&agent).await;
    assert_eq!(
        st,
        json!({"incoming": 1, "outgoing": 0, "completed": 0, "in_progress": 0, "queued": 1})
    );
    assert_eq!(ctx.stats(&user).await["outgoing"], 1);
    let got = ctx.recv_message(&agent).await;
    assert_eq!(got.to_json(), req.to_json());
    assert_eq!(ctx.stats(&agent).await["in_progress"], 1);

    let resp = got.create_response(MsgBody::SuccessResponse).unwrap();
    assert_eq!(ctx.put(&resp).await.status, 200);
    let back = ctx.recv_message(&user).await;
    assert_eq!(back.tag(), req.tag());
    assert!(back.is_response());
    let st = ctx.stats(&agent).await;
    assert_eq!(
        st,
        json!({"incoming": 1, "outgoing": 0, "completed": 1, "in_progress": 0, "queued": 0})
    );

    // Empty queue: 408 with the spec text.
    let a = ctx.recv(&agent, 0.2).await;
    assert_eq!((a.status, a.text.as_str()), (408, "Request timeout"));

    // Discover.
    let d = ctx
        .call(
            "GET",
            "/discover",
            &json!({"agent": "m.Adder", "allow_subclasses": false}),
        )
        .await;
    assert_eq!(d.json()["agent_ids"], agent.uid().to_string());
    let d = ctx
        .call(
            "GET",
            "/discover",
            &json!({"agent": "academy.agent.Agent", "allow_subclasses": false}),
        )
        .await;
    assert_eq!(d.json()["agent_ids"], "");
    let d = ctx
        .call(
            "GET",
            "/discover",
            &json!({"agent": "academy.agent.Agent", "allow_subclasses": true}),
        )
        .await;
    assert!(
        d.json()["agent_ids"]
            .as_str()
            .unwrap()
            .contains(&agent.uid().to_string())
    );
}

async fn header_normalisation(ctx: &Ctx) {
    let user: EntityId = UserId::new(None).into();
    ctx.create(&user, None).await;
    let raw = format!(
        r#"{{"header":{{"src":{src},"dest":{dst},"tag":"{tag}","kind":"request","extra":1}},"body":{{"z":1,"a":[1, 2]}}}}"#,
        src = user.to_json(),
        dst = user.to_json(),
        tag = uuid::Uuid::new_v4().simple(),
    );
    let a = ctx
        .call("PUT", "/message", &json!({ "message": raw }))
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let got = ctx.recv(&user, 5.0).await.json()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        got.contains(
            r#""label":null,"kind":"request","protocol_version":"1.1","academy_version":"0.5.0"}"#
        ),
        "{got}"
    );
    assert!(got.ends_with(r#""body":{"z":1,"a":[1,2]}}"#), "{got}");
    assert!(!got.contains("extra"));
}

async fn size_limits(ctx: &Ctx, limit: usize) {
    let user: EntityId = UserId::new(None).into();
    ctx.create(&user, None).await;
    let base = Message::request(user.clone(), user.clone(), MsgBody::PingRequest, None);
    let overhead = base.to_json().len() - r#"{"kind":"ping-request"}"#.len() + r#""""#.len();
    let exact = Message::with_raw_body(base.header.clone(), json!("x".repeat(limit - overhead)));
    assert_eq!(exact.to_json().len(), limit);
    assert_eq!(ctx.put(&exact).await.status, 200);
    let mut over = Message::with_raw_body(base.header.clone(), json!("é".repeat(limit / 2)));
    over.header.tag = uuid::Uuid::new_v4();
    let size = over.to_json().len();
    let a = ctx.put(&over).await;
    assert_eq!(a.status, 413);
    assert_eq!(
        a.text,
        format!("Message of size {size} larger than limit {limit}.")
    );
    // Check order: unknown destination wins over size (404 before 413).
    let ghost: EntityId = AgentId::new(None).into();
    let mut to_ghost = over.clone();
    to_ghost.header.dest = ghost;
    assert_eq!(ctx.put(&to_ghost).await.status, 404);
    // Over the request body limit.
    let huge = "x".repeat(1_048_577);
    let a = call_raw(
        &ctx.http,
        "PUT",
        &format!("{}/message", ctx.base),
        huge,
        &[],
    )
    .await;
    assert_eq!(a.status, 413);
    assert_eq!(ctx.stats(&user).await["queued"], 1);
}

async fn dedup(ctx: &Ctx) {
    let user: EntityId = UserId::new(None).into();
    let agent: EntityId = AgentId::new(None).into();
    ctx.create(&user, None).await;
    ctx.create(&agent, None).await;
    let req = Message::request(user.clone(), agent.clone(), MsgBody::PingRequest, None);
    assert_eq!(ctx.put(&req).await.status, 200);
    assert_eq!(ctx.put(&req).await.status, 200);
    assert_eq!(ctx.stats(&agent).await["queued"], 1);
    assert_eq!(ctx.stats(&user).await["outgoing"], 1);
    // A response repeats the tag but is not a duplicate of the request.
    let resp = req.create_response(MsgBody::SuccessResponse).unwrap();
    assert_eq!(ctx.put(&resp).await.status, 200);
    assert_eq!(ctx.stats(&user).await["queued"], 1);
}

async fn termination(ctx: &Ctx) {
    let user: EntityId = UserId::new(None).into();
    let agent: EntityId = AgentId::new(None).into();
    ctx.create(&user, None).await;
    ctx.create(&agent, Some("m.T,academy.agent.Agent")).await;
    let r1 = Message::request(user.clone(), agent.clone(), MsgBody::PingRequest, None);
    let r2 = Message::request(user.clone(), agent.clone(), MsgBody::PingRequest, None);
    ctx.put(&r1).await;
    ctx.put(&r2).await;
    let _taken = ctx.recv_message(&agent).await; // r1 in progress, r2 queued
    let a = ctx.call("DELETE", "/mailbox", &mb(&agent)).await;
    assert_eq!((a.status, a.text.as_str()), (200, ""));
    assert_eq!(ctx.status(&agent).await, "TERMINATED");
    let mut tags = vec![ctx.recv_message(&user).await, ctx.recv_message(&user).await];
    for m in &tags {
        assert_eq!(m.src(), &agent);
        assert_eq!(m.header.academy_version, "1.0.0");
        assert!(matches!(
            m.body().unwrap(),
            MsgBody::AcademyErrorResponse { mailbox_id: Some(ref id), .. } if *id == agent
        ));
    }
    tags.sort_by_key(|m| m.tag());
    let mut want = vec![r1.tag(), r2.tag()];
    want.sort();
    assert_eq!(tags.iter().map(|m| m.tag()).collect::<Vec<_>>(), want);
    // Terminating again, or an unknown id, is fine.
    assert_eq!(
        ctx.call("DELETE", "/mailbox", &mb(&agent)).await.status,
        200
    );
    assert_eq!(
        ctx.call("DELETE", "/mailbox", &mb(&AgentId::new(None).into()))
            .await
            .status,
        200
    );
    // 419 everywhere the spec says.
    let r3 = Message::request(user.clone(), agent.clone(), MsgBody::PingRequest, None);
    let a = ctx.put(&r3).await;
    assert_eq!((a.status, a.text.as_str()), (419, "Mailbox was closed"));
    assert_eq!(ctx.recv(&agent, 1.0).await.status, 419);
    assert_eq!(
        ctx.call("GET", "/mailbox/listen", &mb(&agent)).await.status,
        419
    );
    assert_eq!(
        ctx.call("GET", "/mailbox/heartbeat", &mb(&agent))
            .await
            .status,
        419
    );
    assert_eq!(
        ctx.call("POST", "/mailbox/heartbeat", &mb(&agent))
            .await
            .status,
        200
    );
    assert_eq!(
        ctx.call("GET", "/mailbox/stats", &mb(&agent)).await.status,
        200
    );
    assert_eq!(
        ctx.call("GET", "/mailbox/share", &mb(&agent)).await.status,
        419
    );
    // Re-creating a terminated mailbox does not revive it.
    ctx.create(&agent, None).await;
    assert_eq!(ctx.status(&agent).await, "TERMINATED");
    let d = ctx
        .call(
            "GET",
            "/discover",
            &json!({"agent": "m.T", "allow_subclasses": true}),
        )
        .await;
    assert_eq!(d.json()["agent_ids"], "");
}

async fn heartbeats_and_shares(ctx: &Ctx) {
    let agent: EntityId = AgentId::new(None).into();
    assert_eq!(
        ctx.call("GET", "/mailbox/heartbeat", &mb(&agent))
            .await
            .status,
        404
    );
    ctx.create(&agent, None).await;
    let a = ctx.call("GET", "/mailbox/heartbeat", &mb(&agent)).await;
    assert_eq!(a.json(), json!({"heartbeat": null}));
    assert_eq!(
        ctx.call("POST", "/mailbox/heartbeat", &mb(&agent))
            .await
            .status,
        200
    );
    let age = ctx
        .call("GET", "/mailbox/heartbeat", &mb(&agent))
        .await
        .json()["heartbeat"]
        .as_f64()
        .unwrap();
    assert!((0.0..5.0).contains(&age), "{age}");
    // Null authentication has no groups: sharing with any group, even "", is refused.
    let mut body = mb(&agent);
    body["group_id"] = json!("");
    assert_eq!(ctx.call("POST", "/mailbox/share", &body).await.status, 403);
    assert_eq!(
        ctx.call("GET", "/mailbox/share", &mb(&agent)).await.json(),
        json!({"group_ids": []})
    );
    body["group_id"] = json!("g");
    assert_eq!(
        ctx.call("DELETE", "/mailbox/share", &body).await.status,
        200
    );
    let ghost: EntityId = AgentId::new(None).into();
    let mut body = mb(&ghost);
    body["group_id"] = json!("g");
    assert_eq!(ctx.call("POST", "/mailbox/share", &body).await.status, 404);
    assert_eq!(
        ctx.call("GET", "/mailbox/stats", &mb(&ghost)).await.json()["queued"],
        0
    );
}

async fn listen_sse(ctx: &Ctx) {
    let user: EntityId = UserId::new(None).into();
    ctx.create(&user, None).await;
    let m1 = Message::request(user.clone(), user.clone(), MsgBody::PingRequest, None);
    let m2 = Message::request(user.clone(), user.clone(), MsgBody::PingRequest, None);
    ctx.put(&m1).await;
    ctx.put(&m2).await;
    let mut body = mb(&user);
    body["timeout"] = json!(1);
    let a = ctx.call("GET", "/mailbox/listen", &body).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type.as_deref(), Some("text/event-stream"));
    // Per-mailbox ids, increasing from 1.
    assert_eq!(
        a.text,
        format!(
            "id: 1\r\ndata: {}\r\n\r\nid: 2\r\ndata: {}\r\n\r\n",
            m1.to_json(),
            m2.to_json()
        )
    );
}

/// A receiver that goes away never costs a message.
async fn abandoned_receivers_lose_nothing(ctx: &Ctx) {
    let user: EntityId = UserId::new(None).into();
    ctx.create(&user, None).await;
    for path in ["/message", "/mailbox/listen"] {
        // A fresh client so that dropping the request closes its connection.
        let http = client();
        let mut body = mb(&user);
        body["timeout"] = json!(30);
        let req = http::Request::builder()
            .method("GET")
            .uri(format!("{}{path}", ctx.base))
            .body(http_body_util::Full::new(bytes::Bytes::from(
                body.to_string(),
            )))
            .unwrap();
        if path == "/message" {
            let pending = tokio::spawn(async move { http.request(req).await.map(|_| ()) });
            ctx.receivers.at_least(1).await;
            pending.abort();
            let _ = pending.await;
        } else {
            let resp = http.request(req).await.unwrap();
            assert_eq!(resp.status(), 200);
            drop(resp);
            drop(http);
        }
        let m = Message::request(user.clone(), user.clone(), MsgBody::PingRequest, None);
        assert_eq!(ctx.put(&m).await.status, 200);
        let got = ctx.recv_message(&user).await;
        assert_eq!(got.tag(), m.tag(), "{path}: message lost");
    }
}

async fn bad_inputs(ctx: &Ctx) {
    let agent: EntityId = AgentId::new(None).into();
    ctx.create(&agent, None).await;
    let routes = [
        ("POST", "/mailbox"),
        ("GET", "/mailbox"),
        ("DELETE", "/mailbox"),
        ("POST", "/mailbox/share"),
        ("GET", "/mailbox/share"),
        ("DELETE", "/mailbox/share"),
        ("GET", "/message"),
        ("GET", "/mailbox/listen"),
        ("GET", "/mailbox/heartbeat"),
        ("POST", "/mailbox/heartbeat"),
        ("GET", "/mailbox/stats"),
    ];
    let uid = agent.uid();
    let bad_mailboxes = [
        json!({}),
        json!({"mailbox": null}),
        json!({"mailbox": 5}),
        json!({"mailbox": {"uid": uid.to_string(), "name": null, "role": "agent"}}),
        json!({"mailbox": "not json"}),
        json!({"mailbox": "{\"uid\":\"zz\",\"name\":null,\"role\":\"agent\"}"}),
        json!({"mailbox": format!("{{\"uid\":\"{uid}\",\"name\":null,\"role\":\"agent\",\"x\":1}}")}),
        json!({"mailbox": format!("{{\"uid\":\"{uid}\",\"name\":null,\"role\":\"robot\"}}")}),
        json!({"mailbox": format!("{{\"uid\":\"{uid}\",\"name\":5,\"role\":\"agent\"}}")}),
    ];
    for (method, path) in routes {
        for raw in ["", "{", "[]", "\"x\"", "null"] {
            let a = ctx.raw(method, path, raw).await;
            assert_eq!(a.status, 400, "{method} {path} {raw:?}: {a:?}");
            assert_eq!(a.content_type.as_deref(), Some("text/plain; charset=utf-8"));
        }
        for body in &bad_mailboxes {
            let a = ctx.call(method, path, body).await;
            assert_eq!(a.status, 400, "{method} {path} {body}: {a:?}");
            assert!(a.text.starts_with("Missing or invalid field: "), "{a:?}");
        }
    }
    // Missing or wrongly typed secondary fields.
    for (method, path) in [("POST", "/mailbox/share"), ("DELETE", "/mailbox/share")] {
        assert_eq!(
            ctx.call(method, path, &mb(&agent)).await.text,
            "Missing or invalid field: 'group_id'"
        );
        let mut b = mb(&agent);
        b["group_id"] = json!(7);
        assert_eq!(ctx.call(method, path, &b).await.status, 400);
    }
    let mut b = mb(&agent);
    b["agent"] = json!(["m.A"]);
    assert_eq!(ctx.call("POST", "/mailbox", &b).await.status, 400);
    for path in ["/message", "/mailbox/listen"] {
        for t in [json!(0), json!(-1), json!(61), json!(60.5)] {
            let mut b = mb(&agent);
            b["timeout"] = t;
            let a = ctx.call("GET", path, &b).await;
            assert_eq!(
                (a.status, a.text.as_str()),
                (
                    400,
                    "Invalid timeout (must be less than 60 and greater than 0)"
                )
            );
        }
        for t in [json!("x"), json!(null), json!([1])] {
            let mut b = mb(&agent);
            b["timeout"] = t;
            assert_eq!(ctx.call("GET", path, &b).await.status, 400);
        }
    }
    for body in [
        json!({}),
        json!({"message": null}),
        json!({"message": 3}),
        json!({"message": "{"}),
        json!({"message": "{\"header\":{}}"}),
        json!({"message": format!("{{\"header\":{{\"src\":{s},\"dest\":{s},\"tag\":\"bad\",\"kind\":\"request\"}},\"body\":{{}}}}", s = agent.to_json())}),
        json!({"message": format!("{{\"header\":{{\"src\":{s},\"dest\":{s},\"tag\":\"{t}\",\"kind\":\"request\",\"academy_version\":null}},\"body\":{{}}}}", s = agent.to_json(), t = uuid::Uuid::new_v4())}),
        json!({"message": format!("{{\"header\":{{\"src\":{s},\"dest\":{s},\"tag\":\"{t}\",\"kind\":\"request\"}}}}", s = agent.to_json(), t = uuid::Uuid::new_v4())}),
    ] {
        let a = ctx.call("PUT", "/message", &body).await;
        assert_eq!(a.status, 400, "{body}: {a:?}");
    }
    for body in [
        json!({}),
        json!({"agent": "m.A"}),
        json!({"allow_subclasses": true}),
        json!({"agent": 1, "allow_subclasses": true}),
    ] {
        assert_eq!(
            ctx.call("GET", "/discover", &body).await.status,
            400,
            "{body}"
        );
    }
    // Nothing changed.
    assert_eq!(ctx.status(&agent).await, "ACTIVE");
    assert_eq!(ctx.stats(&agent).await["queued"], 0);
    // Framework answers.
    let a = ctx.call("GET", "/nope", &json!({})).await;
    assert_eq!((a.status, a.text.as_str()), (404, "404: Not Found"));
    let a = ctx.call("PATCH", "/mailbox", &mb(&agent)).await;
    assert_eq!(
        (a.status, a.text.as_str()),
        (405, "405: Method Not Allowed")
    );
}

async fn forged_src_refused(ctx: &Ctx, other: &Ctx) {
    // `other` is a second server on the same backend only for Redis; here
    // both are the same server, so forge through ownership of another id:
    // nothing to test without authentication beyond the unknown-src case.
    let _ = other;
    let agent: EntityId = AgentId::new(None).into();
    ctx.create(&agent, None).await;
    let ghost: EntityId = UserId::new(None).into();
    // An unknown src has no owner record: permitted (as Python), delivered.
    let m = Message::request(ghost, agent.clone(), MsgBody::PingRequest, None);
    assert_eq!(ctx.put(&m).await.status, 200);
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod memory_backend {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    tokio::time::timeout(LIMIT, async {
                        let (server, ctx) = memory().await;
                        super::$name(&ctx).await;
                        server.shutdown().await;
                    }).await.unwrap();
                }
            )*
        }
        mod redis_backend {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    tokio::time::timeout(LIMIT, async {
                        let (_redis, server, ctx) = redis().await;
                        super::$name(&ctx).await;
                        server.shutdown().await;
                    }).await.unwrap();
                }
            )*
        }
    };
}

both_backends!(
    request_response_flow,
    header_normalisation,
    dedup,
    termination,
    heartbeats_and_shares,
    listen_sse,
    abandoned_receivers_lose_nothing,
    bad_inputs,
);

#[tokio::test]
async fn size_limits_memory() {
    tokio::time::timeout(LIMIT, async {
        let config = ServerConfig::from_toml_str("[backend]\nmessage_size_limit_kb = 1")
            .unwrap()
            .with_bind("127.0.0.1:0".parse().unwrap());
        let s = serve(config).await.unwrap();
        let ctx = Ctx::new(&s);
        size_limits(&ctx, 1024).await;
        // The default limit is 512 KiB.
        let (s2, ctx2) = memory().await;
        size_limits(&ctx2, 524_288).await;
        s.shutdown().await;
        s2.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn size_limits_redis() {
    tokio::time::timeout(LIMIT, async {
        let r = RedisServer::start().await;
        let s = serve(redis_config(&r, "message_size_limit_kb = 1"))
            .await
            .unwrap();
        let ctx = Ctx::new(&s);
        size_limits(&ctx, 1024).await;
        s.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn unknown_src_is_permitted_like_python() {
    tokio::time::timeout(LIMIT, async {
        let (s, ctx) = memory().await;
        let other = Ctx::new(&s);
        forged_src_refused(&ctx, &other).await;
        s.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn path_prefix_serves_v1() {
    tokio::time::timeout(LIMIT, async {
        let config = ServerConfig::default()
            .with_bind("127.0.0.1:0".parse().unwrap())
            .with_path_prefix("/v1");
        let s = serve(config).await.unwrap();
        let ctx = Ctx::with_base(&s, format!("{}/v1", s.base_url()));
        let user: EntityId = UserId::new(None).into();
        ctx.create(&user, None).await;
        assert_eq!(ctx.status(&user).await, "ACTIVE");
        let root = Ctx::new(&s);
        assert_eq!(root.status(&user).await, "ACTIVE");
        s.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn shutdown_ends_long_polls_and_streams() {
    tokio::time::timeout(LIMIT, async {
        let (s, ctx) = memory().await;
        let user: EntityId = UserId::new(None).into();
        ctx.create(&user, None).await;
        let mut body = mb(&user);
        body["timeout"] = json!(60);
        let http = client();
        let req = |path: &str| {
            http::Request::builder()
                .method("GET")
                .uri(format!("{}{path}", ctx.base))
                .body(http_body_util::Full::new(bytes::Bytes::from(
                    body.to_string(),
                )))
                .unwrap()
        };
        let stream = http.request(req("/mailbox/listen")).await.unwrap();
        assert_eq!(stream.status(), 200);
        let poll = tokio::spawn(http.request(req("/message")));
        // Both the stream and the long poll are waiting on the server.
        s.receivers().at_least(2).await;
        let started = std::time::Instant::now();
        s.shutdown().await;
        assert!(started.elapsed() < Duration::from_secs(15));
        let poll = poll.await.unwrap().unwrap();
        assert_eq!(poll.status(), 408);
        // The event stream ends (no events were sent).
        let rest = stream.into_body().collect().await.map(|b| b.to_bytes());
        assert!(rest.map(|b| b.is_empty()).unwrap_or(true));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn redis_shutdown_cancels_waiters_without_taking_messages() {
    tokio::time::timeout(LIMIT, async {
        let r = RedisServer::start().await;
        let a = serve(redis_config(&r, "")).await.unwrap();
        let b = serve(redis_config(&r, "")).await.unwrap();
        let ctx_a = Ctx::new(&a);
        let ctx_b = Ctx::new(&b);
        let user: EntityId = UserId::new(None).into();
        ctx_a.create(&user, None).await;
        let poll = {
            let http = client();
            let url = format!("{}/message", a.base_url());
            let mut body = mb(&user);
            body["timeout"] = json!(30);
            tokio::spawn(async move { call(&http, "GET", &url, &body).await })
        };
        a.receivers().at_least(1).await;
        a.shutdown().await;
        assert_eq!(poll.await.unwrap().status, 408);
        let m = Message::request(user.clone(), user.clone(), MsgBody::PingRequest, None);
        assert_eq!(ctx_b.put(&m).await.status, 200);
        assert_eq!(ctx_b.recv_message(&user).await.tag(), m.tag());
        drop(ctx_a);
        b.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn unreachable_redis_is_a_startup_error() {
    tokio::time::timeout(LIMIT, async {
        let port = common::free_port();
        let config = ServerConfig::from_toml_str(&format!(
            "[backend]\nkind = 'redis'\nhostname = '127.0.0.1'\nport = {port}"
        ))
        .unwrap()
        .with_bind("127.0.0.1:0".parse().unwrap());
        let err = serve(config).await.unwrap_err();
        assert!(err.to_string().starts_with("redis:"), "{err}");
    })
    .await
    .unwrap();
}
