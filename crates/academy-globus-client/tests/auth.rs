//! `AuthClient`, renewing authorizers and the token store against a real
//! loopback server; secrets kept out of `Debug` output and logs.

// Helpers outside `#[test]` functions unwrap too: a panic is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};

use academy_globus_client::auth_client::{CreateClient, CreateScope};
use academy_globus_client::authorizer::{
    Authorizer, RenewingAuthorizer, StoredCredentials, stored_authorizer,
};
use academy_globus_client::token::TokenData;
use academy_globus_client::{
    AcademyGlobusClient, AuthClient, AuthClientConfig, Error, ExchangeClientConfig, Secret,
    TokenStore,
};
use common::{Action, ScriptServer, bounded, token_json};
use http::Method;
use serde_json::json;

fn config(server: &ScriptServer) -> AuthClientConfig {
    AuthClientConfig::with_base_url(server.url())
}

fn form(seen: &common::Seen) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(&seen.body).unwrap()
}

#[tokio::test]
async fn client_credentials_grant_is_basic_authenticated_form() {
    let server = ScriptServer::start().await;
    let mut body = token_json("AT", None, "auth.globus.org", 100);
    body["other_tokens"] = json!([token_json("AT2", Some("RT2"), "exchange", 200)]);
    body["other_tokens"][0]
        .as_object_mut()
        .unwrap()
        .remove("other_tokens");
    server.script(
        Method::POST,
        "v2/oauth2/token",
        vec![Action::json(200, body)],
    );
    let auth = AuthClient::confidential("cid", "csecret".into(), config(&server)).unwrap();
    let resp = bounded(
        10,
        auth.oauth2_client_credentials_tokens(&["openid", "email"]),
    )
    .await
    .unwrap();
    let by = resp.by_resource_server();
    assert_eq!(
        by["exchange"].refresh_token.as_ref().unwrap().expose(),
        "RT2"
    );
    let seen = &server.seen_at("v2/oauth2/token")[0];
    // base64("cid:csecret")
    assert_eq!(
        seen.header("authorization").as_deref(),
        Some("Basic Y2lkOmNzZWNyZXQ=")
    );
    assert_eq!(
        seen.header("content-type").as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        form(seen),
        vec![
            ("grant_type".to_string(), "client_credentials".to_string()),
            ("scope".to_string(), "openid email".to_string())
        ]
    );
    assert!(!format!("{auth:?} {resp:?}").contains("csecret"));
}

#[tokio::test]
async fn dependent_tokens_introspect_and_revoke() {
    let server = ScriptServer::start().await;
    let mut dep = token_json("D", Some("DR"), "exchange", 50);
    dep.as_object_mut().unwrap().remove("other_tokens");
    server.script(
        Method::POST,
        "v2/oauth2/token",
        vec![Action::json(200, json!([dep]))],
    );
    server.script(
        Method::POST,
        "v2/oauth2/token/introspect",
        vec![
            Action::json(200, json!({"active": true, "aud": ["auth.globus.org", "ex"], "username": "u@x.org", "sub": "i1"})),
            Action::json(200, json!({"active": false})),
        ],
    );
    server.script(
        Method::POST,
        "v2/oauth2/token/revoke",
        vec![Action::json(200, json!({"active": false}))],
    );
    let auth = AuthClient::confidential("agent", "s".into(), config(&server)).unwrap();
    bounded(10, async {
        let d = auth
            .oauth2_get_dependent_tokens(&"launch-token".into(), Some("scope-a"), true)
            .await
            .unwrap();
        assert_eq!(
            d.by_resource_server()["exchange"]
                .refresh_token
                .as_ref()
                .unwrap()
                .expose(),
            "DR"
        );
        let i = auth
            .oauth2_token_introspect(&"t".into(), None)
            .await
            .unwrap();
        assert!(i.active && i.aud.contains(&"ex".to_string()));
        assert_eq!(i.username.as_deref(), Some("u@x.org"));
        assert!(
            !auth
                .oauth2_token_introspect(&"t".into(), None)
                .await
                .unwrap()
                .active
        );
        auth.oauth2_revoke_token(&"t".into()).await.unwrap();
    })
    .await;
    let f = form(&server.seen_at("v2/oauth2/token")[0]);
    assert_eq!(
        f,
        vec![
            (
                "grant_type".into(),
                "urn:globus:auth:grant_type:dependent_token".into()
            ),
            ("token".into(), "launch-token".into()),
            ("scope".into(), "scope-a".into()),
            ("access_type".into(), "offline".into()),
        ]
    );
}

#[tokio::test]
async fn globus_error_bodies_are_parsed_and_not_retried() {
    let server = ScriptServer::start().await;
    server.script(
        Method::POST,
        "v2/oauth2/token",
        vec![Action::json(
            401,
            json!({"errors": [{"status": "401", "id": "req-1", "code": "UNAUTHORIZED",
                   "detail": "Call must be authenticated", "title": "Unauthorized"}],
                   "error_description": "Unauthorized", "error": "unauthorized"}),
        )],
    );
    let auth = AuthClient::confidential("c", "s".into(), config(&server)).unwrap();
    let err = bounded(10, auth.oauth2_client_credentials_tokens(&["openid"]))
        .await
        .unwrap_err();
    let api = err.api().unwrap();
    assert_eq!(api.http_status, 401);
    assert_eq!(api.code.as_deref(), Some("UNAUTHORIZED"));
    assert_eq!(api.message().as_deref(), Some("Call must be authenticated"));
    assert_eq!(api.request_id.as_deref(), Some("req-1"));
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn service_api_calls_with_bearer_token() {
    let server = ScriptServer::start().await;
    let cid = "11111111-1111-4111-8111-111111111111";
    server.script(
        Method::POST,
        "v2/api/clients",
        vec![Action::json(
            200,
            json!({"client": {"id": cid, "name": "AgentId<1>", "project": "p", "grant_types": []}}),
        )],
    );
    server.script(
        Method::POST,
        &format!("v2/api/clients/{cid}/credentials"),
        vec![Action::json(200, json!({"credential": {"id": "cr", "name": "Launch Credentials", "client": cid, "secret": "SEKRET"}}))],
    );
    server.script(
        Method::POST,
        &format!("v2/api/clients/{cid}/scopes"),
        vec![
            Action::json(200, json!({"scopes": [{"id": "sc1", "scope_string": format!("https://auth.globus.org/scopes/{cid}/launch")}]})),
            Action::json(200, json!({"scope": {"id": "sc2", "scope_string": "s2"}})),
            Action::json(200, json!({"nothing": 1})),
        ],
    );
    server.script(
        Method::DELETE,
        &format!("v2/api/clients/{cid}"),
        vec![Action::json(200, json!({"client": {"id": cid}}))],
    );
    server.script(
        Method::GET,
        "v2/api/projects",
        vec![Action::json(
            200,
            json!({"projects": [{"id": "p1", "display_name": "P"}]}),
        )],
    );
    server.script(
        Method::POST,
        "v2/api/projects",
        vec![Action::json(200, json!({"project": {"id": "p2"}}))],
    );
    server.script(
        Method::GET,
        "v2/oauth2/userinfo",
        vec![Action::json(200, json!({"sub": "me", "email": "e@x"}))],
    );
    let authorizer =
        Arc::new(academy_globus_client::authorizer::StaticTokenAuthorizer::new("MANAGE".into()));
    let auth = AuthClient::service(authorizer, config(&server)).unwrap();
    bounded(10, async {
        let c = auth
            .create_client(&CreateClient::agent("AgentId<1>", "p"))
            .await
            .unwrap();
        assert_eq!(c.id, cid);
        let cred = auth
            .create_client_credential(cid, "Launch Credentials")
            .await
            .unwrap();
        assert_eq!(cred.secret.expose(), "SEKRET");
        assert!(!format!("{cred:?}").contains("SEKRET"));
        let launch = CreateScope::agent_launch("a9e8d535-83e9-40c6-baf4-3f16538b2f10");
        assert_eq!(auth.create_scope(cid, &launch).await.unwrap().id, "sc1");
        assert_eq!(
            auth.create_scope(cid, &launch).await.unwrap().scope_string,
            "s2"
        );
        assert!(matches!(
            auth.create_scope(cid, &launch).await,
            Err(Error::InvalidResponse(_))
        ));
        auth.delete_client(cid).await.unwrap();
        assert_eq!(auth.get_projects().await.unwrap()[0].id, "p1");
        assert_eq!(
            auth.create_project("P", "a@b", &["i1"], &[])
                .await
                .unwrap()
                .id,
            "p2"
        );
        assert!(matches!(
            auth.create_project("P", "a@b", &[], &[]).await,
            Err(Error::Config(_))
        ));
        assert_eq!(auth.userinfo().await.unwrap().sub, "me");
    })
    .await;
    let seen = server.seen();
    assert!(
        seen.iter()
            .all(|s| s.header("authorization").as_deref() == Some("Bearer MANAGE"))
    );
    assert_eq!(
        seen[0].json(),
        json!({"client": {"name": "AgentId<1>", "project": "p",
               "client_type": "hybrid_confidential_client_resource_server", "visibility": "private"}})
    );
    assert_eq!(
        seen[1].json(),
        json!({"credential": {"name": "Launch Credentials"}})
    );
    assert_eq!(
        seen[2].json()["scope"]["dependent_scopes"][0]["scope"],
        "a9e8d535-83e9-40c6-baf4-3f16538b2f10"
    );
}

#[tokio::test]
async fn native_code_exchange_sends_verifier() {
    use academy_globus_client::login::{AuthorizeRequest, Pkce, exchange_code};
    let server = ScriptServer::start().await;
    server.script(
        Method::POST,
        "v2/oauth2/token",
        vec![Action::json(
            200,
            token_json("AT", Some("RT"), "auth.globus.org", 10),
        )],
    );
    let auth = AuthClient::native("native", config(&server)).unwrap();
    let req = AuthorizeRequest::academy(&server.url(), vec!["openid".into()], "host");
    let pkce = Pkce::generate();
    let tokens = bounded(10, exchange_code(&auth, &req, &pkce, "  the-code\n"))
        .await
        .unwrap();
    assert_eq!(tokens.token.access_token.expose(), "AT");
    let f = form(&server.seen_at("v2/oauth2/token")[0]);
    assert!(f.contains(&("code".into(), "the-code".into())));
    assert!(f.contains(&("code_verifier".into(), pkce.verifier.expose().into())));
    assert!(f.contains(&("client_id".into(), "native".into())));
    assert!(f.contains(&(
        "redirect_uri".into(),
        format!("{}v2/web/auth-code", server.url())
    )));
}

#[tokio::test]
async fn stored_authorizer_refreshes_expired_token_and_persists_it() {
    let server = ScriptServer::start().await;
    // The refresh response has no refresh_token: the old one must be kept.
    server.script(
        Method::POST,
        "v2/oauth2/token",
        vec![Action::json(
            200,
            token_json("NEW-AT", None, "exchange", 3600),
        )],
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(TokenStore::new(dir.path().join("tokens.json")));
    let mut old = TokenData::new("exchange", "OLD-AT", 30); // inside the 60 s margin
    old.refresh_token = Some(Secret::new("OLD-RT"));
    old.identity_id = Some("ident".into());
    store.store("DEFAULT", &[old]).unwrap();

    let auth = AuthClient::native("native", config(&server)).unwrap();
    let authorizer = stored_authorizer(
        store.clone(),
        "DEFAULT",
        "exchange",
        StoredCredentials::User(auth.clone()),
    )
    .unwrap();
    let header = bounded(10, authorizer.authorization())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(header.to_str().unwrap(), "Bearer NEW-AT");
    assert!(header.is_sensitive());
    let saved = store.get("DEFAULT", "exchange").unwrap().unwrap();
    assert_eq!(saved.access_token.expose(), "NEW-AT");
    assert_eq!(saved.refresh_token.as_ref().unwrap().expose(), "OLD-RT");
    assert_eq!(saved.identity_id.as_deref(), Some("ident"));
    // A fresh token is reused without another grant.
    authorizer.authorization().await.unwrap();
    assert_eq!(server.seen_at("v2/oauth2/token").len(), 1);

    // No stored tokens for a user: log in again.
    let err =
        stored_authorizer(store, "DEFAULT", "other", StoredCredentials::User(auth)).unwrap_err();
    assert!(matches!(err, Error::LoginRequired { .. }));
}

#[tokio::test]
async fn client_credentials_authorizer_renews_with_basic_auth() {
    let server = ScriptServer::start().await;
    server.script(
        Method::POST,
        "v2/oauth2/token",
        vec![
            Action::json(200, token_json("CC1", None, "exchange", 3600)),
            Action::json(401, json!({"error": "invalid_client"})),
        ],
    );
    let auth = AuthClient::confidential("cid", "sec".into(), config(&server)).unwrap();
    let a = RenewingAuthorizer::from_client_credentials(auth, vec!["scope-x".into()]);
    let h = bounded(10, a.authorization()).await.unwrap().unwrap();
    assert_eq!(h.to_str().unwrap(), "Bearer CC1");
    a.invalidate().await;
    let err = bounded(10, a.authorization()).await.unwrap_err();
    assert!(matches!(err, Error::LoginRequired { .. }), "{err:?}");
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A whole refresh-and-retry flow logged at TRACE: the log mentions the
/// requests but never a token, refresh token or client secret; neither do
/// the `Debug` forms of the objects involved.
#[tokio::test]
async fn secrets_absent_from_logs_and_debug() {
    let buffer = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(buffer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = ScriptServer::start().await;
    server.script(
        Method::POST,
        "v2/oauth2/token",
        vec![
            Action::status(503),
            Action::json(
                200,
                token_json(
                    "ACCESS-SECRET-2",
                    Some("REFRESH-SECRET-2"),
                    "exchange",
                    3600,
                ),
            ),
        ],
    );
    server.script(
        Method::POST,
        "mailbox/heartbeat",
        vec![
            Action::text(403, "Token expired or revoked."),
            Action::status(500),
            Action::status(200),
        ],
    );
    let auth = AuthClient::confidential("cid", "CLIENT-SECRET".into(), config(&server)).unwrap();
    let authorizer = Arc::new(
        RenewingAuthorizer::from_refresh_token(auth.clone(), "REFRESH-SECRET-1".into())
            .with_access_token("ACCESS-SECRET-1".into(), i64::MAX / 2),
    );
    let exchange_config =
        ExchangeClientConfig::new(server.url()).with_authorizer(authorizer.clone());
    let client = AcademyGlobusClient::new(exchange_config.clone()).unwrap();
    bounded(
        20,
        client.update_heartbeat(&academy_exchange::UserId::new(None).into()),
    )
    .await
    .unwrap();
    assert_eq!(server.seen_at("mailbox/heartbeat").len(), 3);

    let mut text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("retrying"),
        "expected retry logs, got: {text}"
    );
    assert!(text.contains("renewed access token"), "{text}");
    text.push_str(&format!(
        "{auth:?}{authorizer:?}{exchange_config:?}{client:?}"
    ));
    for secret in [
        "ACCESS-SECRET-1",
        "ACCESS-SECRET-2",
        "REFRESH-SECRET-1",
        "REFRESH-SECRET-2",
        "CLIENT-SECRET",
        "Y2lkOkNMSUVOVC1TRUNSRVQ", // base64 of the Basic credentials
    ] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
}

#[tokio::test]
async fn exchange_authorizer_follows_academy_environment() {
    use academy_globus_client::authorizer::exchange_authorizer_from;
    let server = ScriptServer::start().await;
    server.script(
        Method::POST,
        "v2/oauth2/token",
        vec![Action::json(200, token_json("CC", None, "ex-id", 3600))],
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(TokenStore::new(dir.path().join("tokens.json")));
    let env = |k: &str| match k {
        "ACADEMY_GLOBUS_CLIENT_ID" => Some("cid".to_string()),
        "ACADEMY_GLOBUS_CLIENT_SECRET" => Some("sec".to_string()),
        "ACADEMY_EXCHANGE_CLIENT_ID" => Some("ex-id".to_string()),
        _ => None,
    };
    let a = exchange_authorizer_from(env, store.clone(), config(&server)).unwrap();
    let h = bounded(10, a.authorization()).await.unwrap().unwrap();
    assert_eq!(h.to_str().unwrap(), "Bearer CC");
    let f = form(&server.seen_at("v2/oauth2/token")[0]);
    assert!(f.contains(&(
        "scope".into(),
        "https://auth.globus.org/scopes/ex-id/academy_exchange".into()
    )));
    assert_eq!(
        store
            .get("DEFAULT", "ex-id")
            .unwrap()
            .unwrap()
            .access_token
            .expose(),
        "CC"
    );
    // Only one of the two client variables set: a user login is needed.
    let only_id = |k: &str| (k == "ACADEMY_GLOBUS_CLIENT_ID").then(|| "cid".to_string());
    let err = exchange_authorizer_from(only_id, store, config(&server)).unwrap_err();
    assert!(matches!(err, Error::LoginRequired { .. }), "{err:?}");
}
