//! The Globus authenticator against a stub Globus Auth + Groups (a small
//! axum app serving introspect, dependent-token and my_groups).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use academy_exchange::message::Body as MsgBody;
use academy_exchange::{AgentId, EntityId, Message, UserId};
use academy_exchange_server::{AuthConfig, GlobusAuthKwargs, ServerConfig, ServerHandle, serve};
use axum::extract::{Form, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use common::{Answer, call_raw, client};
use serde_json::{Value, json};

const CLIENT_ID: &str = "11111111-2222-4333-8444-555555555555";
const SECRET: &str = "stub-secret";

#[derive(Default)]
struct Stub {
    introspections: AtomicUsize,
    dependent: AtomicUsize,
}

fn basic_ok(headers: &HeaderMap) -> bool {
    use base64::Engine;
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{SECRET}"))
    );
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(want.as_str())
}

/// token → (username, groups). Tokens not listed are inactive.
fn users() -> HashMap<&'static str, (&'static str, Vec<&'static str>)> {
    HashMap::from([
        ("alice-token", ("alice@example.org", vec!["g-team"])),
        ("alice-token-2", ("alice@example.org", vec!["g-team"])),
        ("bob-token", ("bob@example.org", vec!["g-team"])),
        ("carol-token", ("carol@example.org", vec![])),
    ])
}

async fn introspect(
    State(stub): State<Arc<Stub>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Json<Value>, axum::http::StatusCode> {
    if !basic_ok(&headers) {
        return Err(axum::http::StatusCode::UNAUTHORIZED);
    }
    stub.introspections.fetch_add(1, Ordering::SeqCst);
    let token = form.get("token").cloned().unwrap_or_default();
    Ok(Json(match token.as_str() {
        "wrong-audience" => {
            json!({"active": true, "aud": ["other"], "username": "eve@example.org"})
        }
        t => match users().get(t) {
            Some((user, _)) => {
                json!({"active": true, "aud": ["auth.globus.org", CLIENT_ID], "username": user, "scope": "x"})
            }
            None => json!({"active": false}),
        },
    }))
}

async fn dependent(
    State(stub): State<Arc<Stub>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Json<Value>, axum::http::StatusCode> {
    if !basic_ok(&headers)
        || form.get("grant_type").map(String::as_str)
            != Some("urn:globus:auth:grant_type:dependent_token")
    {
        return Err(axum::http::StatusCode::BAD_REQUEST);
    }
    stub.dependent.fetch_add(1, Ordering::SeqCst);
    let token = form.get("token").cloned().unwrap_or_default();
    Ok(Json(json!([{
        "scope": "urn:globus:auth:scope:groups.api.globus.org:view_my_groups_and_memberships",
        "access_token": format!("groups-{token}"),
        "token_type": "bearer", "expires_in": 100, "resource_server": "groups.api.globus.org"
    }])))
}

async fn my_groups(headers: HeaderMap) -> Result<Json<Value>, axum::http::StatusCode> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token = auth
        .strip_prefix("Bearer groups-")
        .ok_or(axum::http::StatusCode::UNAUTHORIZED)?;
    let groups = users()
        .get(token)
        .map(|(_, g)| g.clone())
        .unwrap_or_default();
    let mut out: Vec<Value> = groups
        .iter()
        .map(|g| json!({"id": g, "name": g, "my_memberships": [{"status": "active"}]}))
        .collect();
    out.push(json!({"id": "g-pending", "my_memberships": [{"status": "invited"}]}));
    Ok(Json(Value::Array(out)))
}

async fn start_stub() -> (Arc<Stub>, String, tokio::task::JoinHandle<()>) {
    let stub = Arc::new(Stub::default());
    let app = Router::new()
        .route("/v2/oauth2/token/introspect", post(introspect))
        .route("/v2/oauth2/token", post(dependent))
        .route("/v2/groups/my_groups", get(my_groups))
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (stub, url, task)
}

async fn server(stub_url: &str) -> ServerHandle {
    let mut config = ServerConfig::default().with_bind("127.0.0.1:0".parse().unwrap());
    config.auth = AuthConfig::Globus(GlobusAuthKwargs {
        client_id: Some(CLIENT_ID.into()),
        client_secret: Some(SECRET.into()),
        auth_base_url: Some(stub_url.into()),
        groups_base_url: Some(stub_url.into()),
        ..Default::default()
    });
    serve(config).await.unwrap()
}

struct Caller<'a> {
    http: &'a common::HttpClient,
    base: &'a str,
}

impl Caller<'_> {
    async fn as_(&self, token: Option<&str>, method: &str, path: &str, body: &Value) -> Answer {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer
            .iter()
            .map(|b| ("authorization", b.as_str()))
            .collect();
        call_raw(
            self.http,
            method,
            &format!("{}{path}", self.base),
            body.to_string(),
            &headers,
        )
        .await
    }
}

#[tokio::test]
async fn globus_auth_matrix() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let (stub, url, stub_task) = start_stub().await;
        let s = server(&url).await;
        let http = client();
        let base = s.base_url();
        let c = Caller {
            http: &http,
            base: &base,
        };
        let agent: EntityId = AgentId::new(None).into();
        let mb = json!({"mailbox": agent.to_json()});

        // No token, malformed header, unknown (inactive) token, wrong audience.
        let a = c.as_(None, "POST", "/mailbox", &mb).await;
        assert_eq!(
            (a.status, a.text.as_str()),
            (401, "Missing required headers.")
        );
        let a = call_raw(
            &http,
            "POST",
            &format!("{base}/mailbox"),
            mb.to_string(),
            &[("authorization", "bearer alice-token")],
        )
        .await;
        assert_eq!(a.status, 401);
        let a = c.as_(Some("expired-token"), "POST", "/mailbox", &mb).await;
        assert_eq!(
            (a.status, a.text.as_str()),
            (403, "Token expired or revoked.")
        );
        let a = c.as_(Some("wrong-audience"), "POST", "/mailbox", &mb).await;
        assert_eq!(
            (a.status, a.text.as_str()),
            (403, "Token expired or revoked.")
        );
        // Even unknown paths are authenticated first.
        assert_eq!(c.as_(None, "GET", "/nope", &json!({})).await.status, 401);

        // Alice owns what she creates; a second token of hers is the same owner.
        assert_eq!(
            c.as_(Some("alice-token"), "POST", "/mailbox", &mb)
                .await
                .status,
            200
        );
        assert_eq!(
            c.as_(Some("alice-token-2"), "GET", "/mailbox", &mb)
                .await
                .json()["status"],
            "ACTIVE"
        );
        // Bob and Carol are other owners.
        for t in ["bob-token", "carol-token"] {
            let a = c.as_(Some(t), "GET", "/mailbox", &mb).await;
            assert_eq!(
                (a.status, a.text.as_str()),
                (403, "Incorrect permissions"),
                "{t}"
            );
            assert_eq!(
                c.as_(Some(t), "GET", "/mailbox/stats", &mb).await.status,
                403
            );
            assert_eq!(
                c.as_(Some(t), "GET", "/mailbox/heartbeat", &mb)
                    .await
                    .status,
                403
            );
            assert_eq!(
                c.as_(Some(t), "POST", "/mailbox/heartbeat", &mb)
                    .await
                    .status,
                403
            );
            assert_eq!(c.as_(Some(t), "DELETE", "/mailbox", &mb).await.status, 403);
        }

        // Sharing: only with a group the owner is an active member of.
        let mut share = mb.clone();
        share["group_id"] = json!("g-pending");
        assert_eq!(
            c.as_(Some("alice-token"), "POST", "/mailbox/share", &share)
                .await
                .status,
            403
        );
        share["group_id"] = json!("");
        assert_eq!(
            c.as_(Some("alice-token"), "POST", "/mailbox/share", &share)
                .await
                .status,
            403
        );
        share["group_id"] = json!("g-team");
        assert_eq!(
            c.as_(Some("bob-token"), "POST", "/mailbox/share", &share)
                .await
                .status,
            403
        );
        assert_eq!(
            c.as_(Some("alice-token"), "POST", "/mailbox/share", &share)
                .await
                .status,
            200
        );
        assert_eq!(
            c.as_(Some("alice-token"), "GET", "/mailbox/share", &mb)
                .await
                .json(),
            json!({"group_ids": ["g-team"]})
        );
        // Bob (in g-team) now has access; Carol (no groups) still has not.
        assert_eq!(
            c.as_(Some("bob-token"), "GET", "/mailbox", &mb)
                .await
                .json()["status"],
            "ACTIVE"
        );
        assert_eq!(
            c.as_(Some("bob-token"), "GET", "/mailbox/share", &mb)
                .await
                .status,
            403
        );
        assert_eq!(
            c.as_(Some("carol-token"), "GET", "/mailbox", &mb)
                .await
                .status,
            403
        );
        // Bob re-creating the shared mailbox does not take it over.
        assert_eq!(
            c.as_(Some("bob-token"), "POST", "/mailbox", &mb)
                .await
                .status,
            200
        );
        assert_eq!(
            c.as_(Some("alice-token"), "GET", "/mailbox/share", &mb)
                .await
                .status,
            200
        );
        // Unshare: access is gone.
        assert_eq!(
            c.as_(Some("alice-token"), "DELETE", "/mailbox/share", &share)
                .await
                .status,
            200
        );
        assert_eq!(
            c.as_(Some("bob-token"), "GET", "/mailbox", &mb)
                .await
                .status,
            403
        );

        // Caching: one introspection and one dependent grant per token per TTL.
        let before = stub.introspections.load(Ordering::SeqCst);
        for _ in 0..5 {
            assert_eq!(
                c.as_(Some("alice-token"), "GET", "/mailbox", &mb)
                    .await
                    .status,
                200
            );
        }
        assert_eq!(stub.introspections.load(Ordering::SeqCst), before);

        // Single flight: concurrent first requests with a new token introspect once.
        let fresh_before = stub.introspections.load(Ordering::SeqCst);
        let dep_before = stub.dependent.load(Ordering::SeqCst);
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let http = http.clone();
            let url = format!("{base}/mailbox");
            let body = mb.to_string();
            tasks.push(tokio::spawn(async move {
                call_raw(
                    &http,
                    "GET",
                    &url,
                    body,
                    &[("authorization", "Bearer carol-token-fresh")],
                )
                .await
                .status
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), 403);
        }
        assert_eq!(stub.introspections.load(Ordering::SeqCst), fresh_before + 1);
        assert_eq!(stub.dependent.load(Ordering::SeqCst), dep_before);

        // `src` must be a mailbox the caller may use (no forged sources).
        let alice_user: EntityId = UserId::new(None).into();
        let bob_user: EntityId = UserId::new(None).into();
        let reg = |id: &EntityId| json!({"mailbox": id.to_json()});
        assert_eq!(c.as_(Some("alice-token"), "POST", "/mailbox", &reg(&alice_user)).await.status, 200);
        assert_eq!(c.as_(Some("bob-token"), "POST", "/mailbox", &reg(&bob_user)).await.status, 200);
        let forged = Message::request(bob_user.clone(), agent.clone(), MsgBody::PingRequest, None);
        let a = c.as_(Some("alice-token"), "PUT", "/message", &json!({"message": forged.to_json()})).await;
        assert_eq!((a.status, a.text.as_str()), (403, "Incorrect permissions"));
        let honest = Message::request(alice_user.clone(), agent.clone(), MsgBody::PingRequest, None);
        let a = c.as_(Some("alice-token"), "PUT", "/message", &json!({"message": honest.to_json()})).await;
        assert_eq!(a.status, 200);
        // Bob may not send to Alice's agent; termination answers Alice's
        // request even though the terminating caller could not write to her.
        let a = c.as_(Some("bob-token"), "PUT", "/message", &json!({"message": Message::request(bob_user.clone(), agent.clone(), MsgBody::PingRequest, None).to_json()})).await;
        assert_eq!(a.status, 403);
        assert_eq!(c.as_(Some("alice-token"), "DELETE", "/mailbox", &mb).await.status, 200);
        let mut recv = reg(&alice_user);
        recv["timeout"] = json!(5);
        let a = c.as_(Some("alice-token"), "GET", "/message", &recv).await;
        assert_eq!(a.status, 200);
        let answer = Message::from_json(a.json()["message"].as_str().unwrap()).unwrap();
        assert_eq!(answer.tag(), honest.tag());
        // Bob cannot read Alice's mailbox.
        assert_eq!(c.as_(Some("bob-token"), "GET", "/message", &recv).await.status, 403);

        s.shutdown().await;
        stub_task.abort();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn globus_unreachable_answers_500_and_secret_is_required() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let port = common::free_port();
        let s = server(&format!("http://127.0.0.1:{port}/")).await;
        let http = client();
        let a = call_raw(&http, "GET", &format!("{}/mailbox", s.base_url()), "{}", &[("authorization", "Bearer x")]).await;
        assert_eq!(a.status, 500);
        assert!(!a.text.contains('x') || !a.text.contains("Bearer"));
        s.shutdown().await;

        let config = ServerConfig::from_toml_str(
            "[auth]\nmethod = 'globus'\n[auth.kwargs]\nauth_base_url = 'http://127.0.0.1:1/'\ngroups_base_url = 'http://127.0.0.1:1/'",
        )
        .unwrap();
        if std::env::var_os("ACADEMY_EXCHANGE_SECRET").is_none() {
            assert!(serve(config.with_bind("127.0.0.1:0".parse().unwrap())).await.is_err());
        }
    })
    .await
    .unwrap();
}
