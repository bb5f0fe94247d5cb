//! `/v2/api` clients, credentials, scopes and projects over real HTTP,
//! with Globus's permission rules and bad input.
#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns: a panic is a failed assertion.

mod common;

use academy_globus_emulator::defaults as d;
use common::*;
use http::{Method, StatusCode};
use serde_json::json;

async fn admin_token(http: &Http) -> String {
    http.admin_tokens(d::MANAGE_PROJECTS_SCOPE).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn client_lifecycle_and_agent_registration() {
    bounded(async {
        let (h, http) = start_default().await;
        let t = admin_token(&http).await;
        let r = http.json(Method::POST, "v2/api/clients", &t, json!({"client": {
            "name": "AgentId<9d3e5f70>", "project": d::PROJECT_ID,
            "client_type": "hybrid_confidential_client_resource_server", "visibility": "private"}})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let client = r.json()["client"].clone();
        let id = client["id"].as_str().unwrap().to_owned();
        assert_eq!(client["project"], d::PROJECT_ID);
        assert_eq!(client["public_client"], false);
        assert!(client["grant_types"].as_array().unwrap().contains(&json!("urn:globus:auth:grant_type:dependent_token")));

        let r = http.json(Method::POST, &format!("v2/api/clients/{id}/credentials"), &t, json!({"credential": {"name": "Launch Credentials"}})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let cred = r.json()["credential"].clone();
        let secret = cred["secret"].as_str().unwrap().to_owned();
        assert_eq!(cred["client"], id.as_str());
        // Shown once: listing hides it.
        let list = http.get(&format!("v2/api/clients/{id}/credentials"), Auth::Bearer(&t)).await.json();
        assert!(list["credentials"][0]["secret"].is_null());
        assert!(!list.to_string().contains(&secret));

        let r = http.json(Method::POST, &format!("v2/api/clients/{id}/scopes"), &t, json!({"scope": {
            "name": "Agent launch", "description": "Launch agent", "scope_suffix": "launch",
            "allows_refresh_token": true,
            "dependent_scopes": [{"scope": d::EXCHANGE_SCOPE_ID, "optional": false, "requires_refresh_token": true}]}})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let scope = r.json()["scopes"][0].clone();
        let launch = format!("https://auth.globus.org/scopes/{id}/launch");
        assert_eq!(scope["scope_string"], launch.as_str());
        assert_eq!(scope["dependent_scopes"][0]["scope"], d::EXCHANGE_SCOPE_ID);
        let sid = scope["id"].as_str().unwrap().to_owned();
        let got = http.get(&format!("v2/api/scopes/{sid}"), Auth::Bearer(&t)).await.json();
        assert_eq!(got["scope"]["scope_string"], launch.as_str());
        let got = http.get(&format!("v2/api/scopes?scope_strings={launch}"), Auth::Bearer(&t)).await.json();
        assert_eq!(got["scopes"][0]["id"], sid.as_str());

        // The launch token by client credentials, then the agent's dependent grant (offline).
        let launch_tok = http.admin_tokens(&launch).await["access_token"].as_str().unwrap().to_owned();
        let r = http.form("v2/oauth2/token", Auth::Basic(&id, &secret), &[
            ("grant_type", "urn:globus:auth:grant_type:dependent_token"), ("token", &launch_tok),
            ("scope", d::EXCHANGE_SCOPE), ("access_type", "offline")]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let dep = r.json();
        let refresh = dep[0]["refresh_token"].as_str().unwrap().to_owned();
        let agent_access = dep[0]["access_token"].as_str().unwrap().to_owned();
        let info = http.introspect(&agent_access).await;
        assert_eq!(info["client_id"], id.as_str());
        assert_eq!(info["username"], format!("{}@clients.auth.globus.org", d::ADMIN_CLIENT_ID));
        let r = http.form("v2/oauth2/token", Auth::Basic(&id, &secret), &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
        assert_eq!(r.status, StatusCode::OK);

        // Deleting the client: its tokens die, its credential no longer works.
        let r = http.send(Method::DELETE, &format!("v2/api/clients/{id}"), Auth::Bearer(&t), None, vec![]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json()["client"]["id"], id.as_str());
        assert_eq!(http.introspect(&agent_access).await["active"], false);
        assert_eq!(http.introspect(&launch_tok).await["active"], false);
        let r = http.form("v2/oauth2/token", Auth::Basic(&id, &secret), &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
        assert_eq!(globus_error(&r, StatusCode::UNAUTHORIZED), "invalid_client");
        let r = http.get(&format!("v2/api/clients/{id}"), Auth::Bearer(&t)).await;
        assert_eq!(globus_error(&r, StatusCode::NOT_FOUND), "not_found");
        h.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn bad_input_and_permissions() {
    bounded(async {
        let (h, http) = start(auto_approve()).await;
        let t = admin_token(&http).await;
        let create = |body: serde_json::Value| {
            let (http, t) = (&http, t.clone());
            async move { http.json(Method::POST, "v2/api/clients", &t, body).await }
        };
        for body in [
            json!({"nope": {}}),
            json!({"client": {"project": d::PROJECT_ID, "public_client": true}}),
            json!({"client": {"name": "a\nb", "project": d::PROJECT_ID, "public_client": true}}),
            json!({"client": {"name": "x", "public_client": true}}),
            json!({"client": {"name": "x", "project": "not-a-uuid", "public_client": true}}),
            json!({"client": {"name": "x", "project": d::PROJECT_ID}}),
            json!({"client": {"name": "x", "project": d::PROJECT_ID, "public_client": true, "client_type": "confidential_client"}}),
            json!({"client": {"name": "x", "project": d::PROJECT_ID, "client_type": "bogus"}}),
            json!({"client": {"name": "x", "project": d::PROJECT_ID, "public_client": true, "visibility": "secret"}}),
        ] {
            let r = create(body.clone()).await;
            assert_eq!(globus_error(&r, StatusCode::BAD_REQUEST), "invalid_request", "{body}");
        }
        let r = http.send(Method::POST, "v2/api/clients", Auth::Bearer(&t), Some("application/json"), b"{".to_vec()).await;
        assert_eq!(globus_error(&r, StatusCode::BAD_REQUEST), "invalid_request");
        let r = create(json!({"client": {"name": "x", "project": "00000000-0000-4000-8000-000000000000", "public_client": true}})).await;
        assert_eq!(globus_error(&r, StatusCode::NOT_FOUND), "not_found");

        // No token, a token without manage_projects, an expired token.
        let r = http.send(Method::GET, "v2/api/clients", Auth::None, None, vec![]).await;
        assert_eq!(globus_error(&r, StatusCode::UNAUTHORIZED), "unauthorized");
        let openid = http.admin_tokens("openid").await["access_token"].as_str().unwrap().to_owned();
        let r = http.get("v2/api/clients", Auth::Bearer(&openid)).await;
        assert_eq!(globus_error(&r, StatusCode::FORBIDDEN), "forbidden");

        // Bob is no admin of the default project: he can neither create in it nor manage its clients.
        let (verifier, challenge) = pkce();
        let path = authorize_query(&http.base, d::MANAGE_PROJECTS_SCOPE, &challenge, false);
        h.set_auto_approve(false);
        let query = path.split_once('?').unwrap().1.to_owned();
        let r = http.send(Method::POST, "v2/oauth2/authorize", Auth::None, Some("application/x-www-form-urlencoded"),
            format!("{query}&identity={}&decision=allow", d::BOB_USERNAME).into_bytes()).await;
        let code = r.location().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
        let redirect = format!("{}v2/web/auth-code", http.base);
        let bob = http.form("v2/oauth2/token", Auth::None, &[("client_id", d::NATIVE_CLIENT_ID), ("grant_type", "authorization_code"),
            ("code", &code), ("code_verifier", &verifier), ("redirect_uri", &redirect)]).await.json();
        let bob = bob["access_token"].as_str().unwrap().to_owned();
        let r = http.json(Method::POST, "v2/api/clients", &bob, json!({"client": {"name": "x", "project": d::PROJECT_ID, "public_client": true}})).await;
        assert_eq!(globus_error(&r, StatusCode::FORBIDDEN), "forbidden");
        let r = http.get(&format!("v2/api/clients/{}", d::EXCHANGE_CLIENT_ID), Auth::Bearer(&bob)).await;
        assert_eq!(globus_error(&r, StatusCode::FORBIDDEN), "forbidden");
        assert_eq!(http.get("v2/api/projects", Auth::Bearer(&bob)).await.json()["projects"], json!([]));
        // Bob makes his own project and manages clients there.
        let r = http.json(Method::POST, "v2/api/projects", &bob, json!({"project": {"display_name": "Bob's", "contact_email": d::BOB_USERNAME, "admin_ids": [d::BOB_ID]}})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let pid = r.json()["project"]["id"].as_str().unwrap().to_owned();
        let r = http.json(Method::POST, "v2/api/clients", &bob, json!({"client": {"name": "bob app", "project": pid, "public_client": false}})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let bob_client = r.json()["client"]["id"].as_str().unwrap().to_owned();
        // ...which the admin client cannot touch.
        let r = http.send(Method::DELETE, &format!("v2/api/clients/{bob_client}"), Auth::Bearer(&t), None, vec![]).await;
        assert_eq!(globus_error(&r, StatusCode::FORBIDDEN), "forbidden");
        let r = http.json(Method::POST, "v2/api/projects", &bob, json!({"project": {"display_name": "none", "contact_email": "x"}})).await;
        assert_eq!(globus_error(&r, StatusCode::BAD_REQUEST), "invalid_request");
        // A project with clients cannot be deleted.
        let r = http.send(Method::DELETE, &format!("v2/api/projects/{pid}"), Auth::Bearer(&bob), None, vec![]).await;
        assert_eq!(globus_error(&r, StatusCode::CONFLICT), "conflict");

        // Scopes: bad suffix, unknown dependent, duplicate, on someone else's client.
        let scope = |client: String, body: serde_json::Value| {
            let (http, t) = (&http, t.clone());
            async move { http.json(Method::POST, &format!("v2/api/clients/{client}/scopes"), &t, body).await }
        };
        let ex = d::EXCHANGE_CLIENT_ID.to_owned();
        let r = scope(ex.clone(), json!({"scope": {"name": "n", "description": "d", "scope_suffix": "Bad-Suffix"}})).await;
        assert_eq!(globus_error(&r, StatusCode::BAD_REQUEST), "invalid_request");
        let r = scope(ex.clone(), json!({"scope": {"name": "n", "description": "d", "scope_suffix": "ok",
            "dependent_scopes": [{"scope": "00000000-0000-4000-8000-000000000000", "optional": false, "requires_refresh_token": false}]}})).await;
        assert_eq!(globus_error(&r, StatusCode::BAD_REQUEST), "invalid_request");
        let r = scope(ex.clone(), json!({"scope": {"name": "n", "description": "d", "scope_suffix": d::EXCHANGE_SCOPE_SUFFIX}})).await;
        assert_eq!(globus_error(&r, StatusCode::CONFLICT), "conflict");
        let r = scope(bob_client.clone(), json!({"scope": {"name": "n", "description": "d", "scope_suffix": "x"}})).await;
        assert_eq!(globus_error(&r, StatusCode::FORBIDDEN), "forbidden");
        let r = http.json(Method::POST, &format!("v2/api/clients/{}/credentials", d::NATIVE_CLIENT_ID), &t, json!({"credential": {"name": "x"}})).await;
        assert_eq!(globus_error(&r, StatusCode::BAD_REQUEST), "invalid_request");
        h.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_client_manages_itself_and_credentials_rotate() {
    bounded(async {
        let (h, http) = start_default().await;
        let t = admin_token(&http).await;
        // The admin client adds and removes credentials on itself.
        let r = http
            .json(
                Method::POST,
                &format!("v2/api/clients/{}/credentials", d::ADMIN_CLIENT_ID),
                &t,
                json!({"credential": {"name": "second"}}),
            )
            .await;
        let cred = r.json()["credential"].clone();
        let secret = cred["secret"].as_str().unwrap().to_owned();
        let r = http
            .form(
                "v2/oauth2/token",
                Auth::Basic(d::ADMIN_CLIENT_ID, &secret),
                &[("grant_type", "client_credentials"), ("scope", "openid")],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let r = http
            .send(
                Method::DELETE,
                &format!(
                    "v2/api/clients/{}/credentials/{}",
                    d::ADMIN_CLIENT_ID,
                    cred["id"].as_str().unwrap()
                ),
                Auth::Bearer(&t),
                None,
                vec![],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let r = http
            .form(
                "v2/oauth2/token",
                Auth::Basic(d::ADMIN_CLIENT_ID, &secret),
                &[("grant_type", "client_credentials"), ("scope", "openid")],
            )
            .await;
        assert_eq!(globus_error(&r, StatusCode::UNAUTHORIZED), "invalid_client");
        let projects = http.get("v2/api/projects", Auth::Bearer(&t)).await.json();
        assert_eq!(projects["projects"][0]["id"], d::PROJECT_ID);
        assert!(
            projects["projects"][0]["admin_ids"]
                .as_array()
                .unwrap()
                .contains(&json!(d::ADMIN_CLIENT_ID))
        );
        let ids = http
            .get(
                &format!("v2/api/identities?usernames={}", d::ALICE_USERNAME),
                Auth::Bearer(&t),
            )
            .await
            .json();
        assert_eq!(ids["identities"][0]["id"], d::ALICE_ID);
        h.shutdown().await.unwrap();
    })
    .await;
}
