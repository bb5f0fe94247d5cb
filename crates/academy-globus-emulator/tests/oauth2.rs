//! OAuth2 endpoints over real HTTP: every grant, introspection, revocation,
//! userinfo, OpenID documents, and their bad-input paths.
#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns: a panic is a failed assertion.

mod common;

use academy_globus_emulator::defaults as d;
use common::*;
use http::StatusCode;

#[tokio::test]
async fn client_credentials_and_its_errors() {
    bounded(async {
        let (h, http) = start_default().await;
        let v = http
            .admin_tokens(&format!(
                "{} openid {}",
                d::MANAGE_PROJECTS_SCOPE,
                d::EXCHANGE_SCOPE
            ))
            .await;
        assert_eq!(v["resource_server"], d::AUTH_RESOURCE_SERVER);
        assert!(v["id_token"].is_string());
        assert_eq!(
            v["other_tokens"][0]["resource_server"],
            d::EXCHANGE_CLIENT_ID
        );
        assert_eq!(v["other_tokens"][0]["scope"], d::EXCHANGE_SCOPE);
        assert_eq!(v["expires_in"], 172_800);
        assert!(v["refresh_token"].is_null());

        let cc = |id, secret, scope| {
            let http = &http;
            async move {
                http.form(
                    "v2/oauth2/token",
                    Auth::Basic(id, secret),
                    &[("grant_type", "client_credentials"), ("scope", scope)],
                )
                .await
            }
        };
        let r = cc(d::ADMIN_CLIENT_ID, "wrong", "openid").await;
        assert_eq!(globus_error(&r, StatusCode::UNAUTHORIZED), "invalid_client");
        let r = cc("not-a-uuid", "x", "openid").await;
        assert_eq!(globus_error(&r, StatusCode::UNAUTHORIZED), "invalid_client");
        let r = cc(d::ADMIN_CLIENT_ID, d::ADMIN_CLIENT_SECRET, "urn:unknown").await;
        assert_eq!(globus_error(&r, StatusCode::BAD_REQUEST), "invalid_scope");
        let r = http
            .form(
                "v2/oauth2/token",
                Auth::Basic(d::ADMIN_CLIENT_ID, d::ADMIN_CLIENT_SECRET),
                &[("grant_type", "client_credentials")],
            )
            .await;
        assert_eq!(globus_error(&r, StatusCode::BAD_REQUEST), "invalid_request");
        // A public client cannot use client credentials.
        let r = http
            .form(
                "v2/oauth2/token",
                Auth::None,
                &[
                    ("grant_type", "client_credentials"),
                    ("scope", "openid"),
                    ("client_id", d::NATIVE_CLIENT_ID),
                ],
            )
            .await;
        assert_eq!(globus_error(&r, StatusCode::UNAUTHORIZED), "invalid_client");
        let r = http
            .form("v2/oauth2/token", Auth::None, &[("grant_type", "password")])
            .await;
        assert_eq!(
            globus_error(&r, StatusCode::BAD_REQUEST),
            "unsupported_grant_type"
        );
        let r = http
            .send(
                http::Method::POST,
                "v2/oauth2/token",
                Auth::Basic("a", "b"),
                None,
                b"%%%=&&=%zz".to_vec(),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        h.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn introspection_expiry_and_revocation() {
    bounded(async {
        let (h, http) = start_default().await;
        h.set_access_token_lifetime(100);
        let v = http.admin_tokens(d::EXCHANGE_SCOPE).await;
        let token = v["access_token"].as_str().unwrap().to_owned();
        let info = http.introspect(&token).await;
        assert_eq!(info["active"], true);
        assert_eq!(info["aud"], serde_json::json!([d::EXCHANGE_CLIENT_ID]));
        assert_eq!(
            info["username"],
            format!("{}@clients.auth.globus.org", d::ADMIN_CLIENT_ID)
        );
        assert_eq!(info["sub"], d::ADMIN_CLIENT_ID);
        assert_eq!(info["client_id"], d::ADMIN_CLIENT_ID);
        assert_eq!(info["scope"], d::EXCHANGE_SCOPE);
        assert_eq!(info["exp"].as_u64().unwrap(), h.now() + 100);
        // Introspection needs client authentication.
        let r = http
            .form(
                "v2/oauth2/token/introspect",
                Auth::None,
                &[("token", &token)],
            )
            .await;
        assert_eq!(globus_error(&r, StatusCode::UNAUTHORIZED), "invalid_client");
        let r = http
            .form(
                "v2/oauth2/token/introspect",
                Auth::Basic(d::EXCHANGE_CLIENT_ID, "bad"),
                &[("token", &token)],
            )
            .await;
        assert_eq!(globus_error(&r, StatusCode::UNAUTHORIZED), "invalid_client");
        // Unknown token: inactive, no other fields.
        assert_eq!(
            http.introspect("nope").await,
            serde_json::json!({"active": false})
        );
        // Expiry by the emulated clock.
        h.advance_clock(101);
        assert_eq!(http.introspect(&token).await["active"], false);

        // Revocation through the endpoint and through the handle is seen at once.
        let t2 = http.admin_tokens(d::EXCHANGE_SCOPE).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(http.introspect(&t2).await["active"], true);
        let r = http
            .form(
                "v2/oauth2/token/revoke",
                Auth::Basic(d::ADMIN_CLIENT_ID, d::ADMIN_CLIENT_SECRET),
                &[("token", &t2)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(http.introspect(&t2).await["active"], false);
        let t3 = http.admin_tokens(d::EXCHANGE_SCOPE).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(h.revoke_token(&t3));
        assert!(!h.revoke_token("unknown"));
        assert_eq!(http.introspect(&t3).await["active"], false);
        let r = http
            .form(
                "v2/oauth2/token/revoke",
                Auth::Basic(d::ADMIN_CLIENT_ID, "bad"),
                &[("token", "x")],
            )
            .await;
        assert_eq!(globus_error(&r, StatusCode::UNAUTHORIZED), "invalid_client");
        h.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn consent_page_allow_and_deny() {
    bounded(async {
        let (h, http) = start_default().await;
        let (verifier, challenge) = pkce();
        let path = authorize_query(
            &http.base,
            &format!("openid {}", d::EXCHANGE_SCOPE),
            &challenge,
            true,
        );
        let page = http.get(&path, Auth::None).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.text.contains("value=\"allow\">Allow</button>"),
            "{}",
            page.text
        );
        assert!(page.text.contains(d::BOB_USERNAME));
        let query = path.split_once('?').unwrap().1.to_owned();

        let r = http
            .send(
                http::Method::POST,
                "v2/oauth2/authorize",
                Auth::None,
                Some("application/x-www-form-urlencoded"),
                format!("{query}&identity={}&decision=allow", d::BOB_ID).into_bytes(),
            )
            .await;
        assert_eq!(r.status, StatusCode::FOUND, "{}", r.text);
        let loc = r.location();
        assert_eq!(loc.path(), "/v2/web/auth-code");
        let pairs: std::collections::HashMap<_, _> = loc.query_pairs().into_owned().collect();
        assert_eq!(pairs["state"], "_default");
        let code = pairs["code"].clone();
        // The auth-code page shows it.
        let shown = http.get(loc.as_str(), Auth::None).await;
        assert!(
            shown
                .text
                .contains(&format!("<code id=\"auth-code\">{code}</code>"))
        );

        let redirect = format!("{}v2/web/auth-code", http.base);
        let exchange = |code: String, verifier: String, redirect: String| {
            let http = &http;
            async move {
                http.form(
                    "v2/oauth2/token",
                    Auth::None,
                    &[
                        ("client_id", d::NATIVE_CLIENT_ID),
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("code_verifier", &verifier),
                        ("redirect_uri", &redirect),
                    ],
                )
                .await
            }
        };
        // Bad verifier, then wrong redirect: the code survives both.
        let r = exchange(code.clone(), "x".repeat(43), redirect.clone()).await;
        assert_eq!(globus_error(&r, StatusCode::BAD_REQUEST), "invalid_grant");
        let r = exchange(
            code.clone(),
            verifier.clone(),
            "http://127.0.0.1:1/v2/web/auth-code".into(),
        )
        .await;
        assert_eq!(globus_error(&r, StatusCode::BAD_REQUEST), "invalid_grant");
        let r = exchange(code.clone(), verifier.clone(), redirect.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let v = r.json();
        assert_eq!(v["state"], "_default");
        let ex = v["other_tokens"][0].clone();
        assert_eq!(ex["resource_server"], d::EXCHANGE_CLIENT_ID);
        assert!(ex["refresh_token"].is_string());
        assert_eq!(
            http.introspect(ex["access_token"].as_str().unwrap()).await["username"],
            d::BOB_USERNAME
        );
        // Reused code.
        let r = exchange(code, verifier.clone(), redirect.clone()).await;
        assert_eq!(globus_error(&r, StatusCode::BAD_REQUEST), "invalid_grant");

        // Deny.
        let r = http
            .send(
                http::Method::POST,
                "v2/oauth2/authorize",
                Auth::None,
                Some("application/x-www-form-urlencoded"),
                format!("{query}&identity={}&decision=deny", d::ALICE_ID).into_bytes(),
            )
            .await;
        assert_eq!(r.status, StatusCode::FOUND);
        assert!(
            r.location()
                .query_pairs()
                .any(|(k, v)| k == "error" && v == "access_denied")
        );

        // Expired code.
        h.set_auto_approve(true);
        let r = http.get(&path, Auth::None).await;
        let code = r
            .location()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        h.advance_clock(601);
        let r = exchange(code, verifier, redirect).await;
        assert_eq!(globus_error(&r, StatusCode::BAD_REQUEST), "invalid_grant");
        h.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn authorize_rejects_bad_requests() {
    bounded(async {
        let (h, http) = start(auto_approve()).await;
        let (_, challenge) = pkce();
        let good = authorize_query(&http.base, "openid", &challenge, false);
        assert_eq!(http.get(&good, Auth::None).await.status, StatusCode::FOUND);
        let cases = [
            good.replace(d::NATIVE_CLIENT_ID, "00000000-0000-4000-8000-000000000000"),
            good.replace("scope=openid", "scope=urn%3Anope"),
            good.replace("code_challenge_method=S256", "code_challenge_method=plain"),
            good.replace("response_type=code", "response_type=token"),
            good.replace("http%3A%2F%2F127.0.0.1", "https%3A%2F%2Fevil.example"),
            // A public client without PKCE.
            good.split("&code_challenge=").next().unwrap().to_owned(),
        ];
        for path in cases {
            let r = http.get(&path, Auth::None).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.text);
        }
        h.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn refresh_survives_access_token_expiry() {
    bounded(async {
        let (h, http) = start(auto_approve()).await;
        h.set_access_token_lifetime(30);
        let v = native_login(&http, &format!("openid {}", d::EXCHANGE_SCOPE), true).await;
        let ex = &v["other_tokens"][0];
        let access = ex["access_token"].as_str().unwrap();
        let refresh = ex["refresh_token"].as_str().unwrap();
        h.advance_clock(31);
        assert_eq!(http.introspect(access).await["active"], false);
        let r = http
            .form(
                "v2/oauth2/token",
                Auth::None,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh),
                    ("client_id", d::NATIVE_CLIENT_ID),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let new = r.json();
        assert_eq!(new["refresh_token"], refresh);
        assert_eq!(new["resource_server"], d::EXCHANGE_CLIENT_ID);
        assert_eq!(new["other_tokens"], serde_json::json!([]));
        let new_access = new["access_token"].as_str().unwrap().to_owned();
        assert_eq!(
            http.introspect(&new_access).await["username"],
            d::ALICE_USERNAME
        );
        // Another client cannot use it.
        let r = http
            .form(
                "v2/oauth2/token",
                Auth::Basic(d::ADMIN_CLIENT_ID, d::ADMIN_CLIENT_SECRET),
                &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
            )
            .await;
        assert_eq!(globus_error(&r, StatusCode::BAD_REQUEST), "invalid_grant");
        // Revoking the refresh token revokes what was minted from it.
        assert!(h.revoke_token(refresh));
        assert_eq!(http.introspect(&new_access).await["active"], false);
        let r = http
            .form(
                "v2/oauth2/token",
                Auth::None,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh),
                    ("client_id", d::NATIVE_CLIENT_ID),
                ],
            )
            .await;
        assert_eq!(globus_error(&r, StatusCode::BAD_REQUEST), "invalid_grant");
        // Online logins get no refresh token.
        let v = native_login(&http, d::EXCHANGE_SCOPE, false).await;
        assert!(v["refresh_token"].is_null());
        h.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn dependent_tokens() {
    bounded(async {
        let (h, http) = start(auto_approve()).await;
        let v = native_login(&http, &format!("openid {}", d::EXCHANGE_SCOPE), false).await;
        let user_token = v["other_tokens"][0]["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let dep = |id, secret, fields: Vec<(&'static str, String)>| {
            let http = &http;
            async move {
                let mut all = vec![(
                    "grant_type",
                    "urn:globus:auth:grant_type:dependent_token".to_owned(),
                )];
                all.extend(fields);
                let refs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
                http.form("v2/oauth2/token", Auth::Basic(id, secret), &refs)
                    .await
            }
        };
        let ex = (d::EXCHANGE_CLIENT_ID, d::EXCHANGE_CLIENT_SECRET);
        let r = dep(
            ex.0,
            ex.1,
            vec![
                ("token", user_token.clone()),
                ("scope", d::GROUPS_SCOPE.into()),
            ],
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let arr = r.json();
        assert_eq!(arr.as_array().unwrap().len(), 1);
        assert_eq!(arr[0]["resource_server"], d::GROUPS_RESOURCE_SERVER);
        assert!(arr[0].get("other_tokens").is_none());
        assert!(arr[0]["refresh_token"].is_null());
        let groups_token = arr[0]["access_token"].as_str().unwrap().to_owned();
        let g = http
            .get("v2/groups/my_groups", Auth::Bearer(&groups_token))
            .await;
        assert_eq!(g.status, StatusCode::OK);
        let groups = g.json();
        assert_eq!(groups[0]["id"], d::GROUP_ID);
        assert_eq!(groups[0]["my_memberships"][0]["status"], "active");
        assert_eq!(
            groups[0]["my_memberships"][0]["username"],
            d::ALICE_USERNAME
        );
        // The groups token acts for Alice but belongs to the exchange client.
        let info = http.introspect(&groups_token).await;
        assert_eq!(info["client_id"], d::EXCHANGE_CLIENT_ID);
        assert_eq!(info["username"], d::ALICE_USERNAME);
        // No scope: all declared dependents.
        let r = dep(ex.0, ex.1, vec![("token", user_token.clone())]).await;
        assert_eq!(r.json().as_array().unwrap().len(), 1);
        // Only the resource server of the token may call.
        let r = dep(
            d::ADMIN_CLIENT_ID,
            d::ADMIN_CLIENT_SECRET,
            vec![("token", user_token.clone())],
        )
        .await;
        assert_eq!(globus_error(&r, StatusCode::BAD_REQUEST), "invalid_grant");
        // Not a declared dependent / unknown scope.
        let r = dep(
            ex.0,
            ex.1,
            vec![
                ("token", user_token.clone()),
                ("scope", d::MANAGE_PROJECTS_SCOPE.into()),
            ],
        )
        .await;
        assert_eq!(globus_error(&r, StatusCode::BAD_REQUEST), "invalid_scope");
        let r = dep(
            ex.0,
            ex.1,
            vec![("token", user_token.clone()), ("scope", "urn:nope".into())],
        )
        .await;
        assert_eq!(globus_error(&r, StatusCode::BAD_REQUEST), "invalid_scope");
        // Wrong secret, bad token.
        let r = dep(ex.0, "bad", vec![("token", user_token.clone())]).await;
        assert_eq!(globus_error(&r, StatusCode::UNAUTHORIZED), "invalid_client");
        let r = dep(ex.0, ex.1, vec![("token", "garbage".into())]).await;
        assert_eq!(globus_error(&r, StatusCode::BAD_REQUEST), "invalid_grant");
        // Groups tokens switched off: an empty list, as academy-py's server needs offline.
        h.set_groups_tokens(false);
        let r = dep(
            ex.0,
            ex.1,
            vec![
                ("token", user_token.clone()),
                ("scope", d::GROUPS_SCOPE.into()),
            ],
        )
        .await;
        assert_eq!(r.json(), serde_json::json!([]));
        // Revoked tokens give nothing.
        h.revoke_token(&user_token);
        let r = dep(ex.0, ex.1, vec![("token", user_token)]).await;
        assert_eq!(globus_error(&r, StatusCode::BAD_REQUEST), "invalid_grant");
        h.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn userinfo_and_openid_documents() {
    bounded(async {
        let (h, http) = start(auto_approve()).await;
        let v = native_login(&http, "openid profile email", false).await;
        let token = v["access_token"].as_str().unwrap();
        let r = http.get("v2/oauth2/userinfo", Auth::Bearer(token)).await;
        assert_eq!(r.status, StatusCode::OK);
        let info = r.json();
        assert_eq!(info["sub"], d::ALICE_ID);
        assert_eq!(info["email"], d::ALICE_USERNAME);
        assert_eq!(info["preferred_username"], d::ALICE_USERNAME);
        let r = http.get("v2/oauth2/userinfo", Auth::None).await;
        assert_eq!(globus_error(&r, StatusCode::UNAUTHORIZED), "unauthorized");
        let ex = http.admin_tokens(d::EXCHANGE_SCOPE).await;
        let r = http
            .get(
                "v2/oauth2/userinfo",
                Auth::Bearer(ex["access_token"].as_str().unwrap()),
            )
            .await;
        assert_eq!(globus_error(&r, StatusCode::FORBIDDEN), "forbidden");

        let conf = http
            .get(".well-known/openid-configuration", Auth::None)
            .await
            .json();
        assert_eq!(conf["jwks_uri"], format!("{}jwk.json", http.base));
        assert_eq!(
            conf["id_token_signing_alg_values_supported"],
            serde_json::json!(["RS512"])
        );
        let jwk = http.get("jwk.json", Auth::None).await.json();
        assert_eq!(jwk["keys"][0]["kty"], "RSA");
        // The id_token names Alice and the native client as audience.
        let payload = v["id_token"].as_str().unwrap().split('.').nth(1).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["sub"], d::ALICE_ID);
        assert_eq!(claims["aud"], d::NATIVE_CLIENT_ID);
        h.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn groups_endpoint_checks_the_token() {
    bounded(async {
        let (h, http) = start_default().await;
        let r = http.get("v2/groups/my_groups", Auth::None).await;
        assert_eq!(globus_error(&r, StatusCode::UNAUTHORIZED), "unauthorized");
        let ex = http.admin_tokens(d::EXCHANGE_SCOPE).await;
        let r = http
            .get(
                "v2/groups/my_groups",
                Auth::Bearer(ex["access_token"].as_str().unwrap()),
            )
            .await;
        assert_eq!(globus_error(&r, StatusCode::FORBIDDEN), "forbidden");
        // Bob's membership is only "invited": listed, not active.
        let t = h.with_state(|st| {
            st.insert_token(academy_globus_emulator::model::TokenRecord {
                kind: academy_globus_emulator::model::TokenKind::Access,
                client_id: d::EXCHANGE_CLIENT_ID.parse().unwrap(),
                identity_id: d::BOB_ID.parse().unwrap(),
                resource_server: d::GROUPS_RESOURCE_SERVER.into(),
                scopes: vec![d::GROUPS_SCOPE_ID.parse().unwrap()],
                issued_at: 0,
                expires_at: Some(u64::MAX),
                revoked: false,
                refresh_parent: None,
            })
        });
        let groups = http
            .get("v2/groups/my_groups", Auth::Bearer(&t))
            .await
            .json();
        assert_eq!(groups[0]["my_memberships"][0]["status"], "invited");
        h.shutdown().await.unwrap();
    })
    .await;
}
