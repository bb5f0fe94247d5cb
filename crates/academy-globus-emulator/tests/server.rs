//! Library-level behaviour: safety, seeds, the state file, the environment.
#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns: a panic is a failed assertion.

mod common;

use academy_globus_emulator::defaults as d;
use academy_globus_emulator::{EmulatorConfig, EmulatorError, Seed, serve};
use common::*;
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn refuses_non_loopback_without_allow_remote() {
    bounded(async {
        let config = EmulatorConfig {
            bind: "0.0.0.0:0".parse().unwrap(),
            ..EmulatorConfig::default()
        };
        let err = serve(config).await.unwrap_err();
        assert!(matches!(err, EmulatorError::NonLoopback(_)), "{err}");
        assert!(err.to_string().contains("--allow-remote"));
    })
    .await;
}

#[tokio::test]
async fn env_points_at_the_emulator() {
    bounded(async {
        let (h, _) = start_default().await;
        let env: std::collections::HashMap<_, _> = h.env().into_iter().collect();
        let base = format!("http://{}/", h.addr());
        assert_eq!(h.base_url(), base);
        assert_eq!(env["GLOBUS_SDK_SERVICE_URL_AUTH"], base);
        assert_eq!(env["GLOBUS_SDK_SERVICE_URL_GROUPS"], base);
        assert_eq!(env["ACADEMY_EXCHANGE_CLIENT_ID"], d::EXCHANGE_CLIENT_ID);
        assert_eq!(env["ACADEMY_GLOBUS_SCOPE_ID"], d::EXCHANGE_SCOPE_ID);
        assert_eq!(env["ACADEMY_EXCHANGE_SECRET"], d::EXCHANGE_CLIENT_SECRET);
        assert_eq!(env["ACADEMY_GLOBUS_CLIENT_ID"], d::ADMIN_CLIENT_ID);
        assert_eq!(env["ACADEMY_GLOBUS_CLIENT_SECRET"], d::ADMIN_CLIENT_SECRET);
        assert_eq!(env["ACADEMY_GLOBUS_PROJECT_ID"], d::PROJECT_ID);
        h.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn seed_file_settings_and_users() {
    bounded(async {
        let seed = Seed::from_toml(
            r#"
[settings]
auto_approve = true
access_token_lifetime = 60
default_user = "carol@example.org"

[[users]]
id = "c0ffee00-0000-4000-8000-000000000003"
username = "carol@example.org"

[[groups]]
id = "9a0c0000-0000-4000-8000-0000000000b2"
name = "Team"
members = [{ identity = "c0ffee00-0000-4000-8000-000000000003" }]
"#,
        )
        .unwrap();
        let (h, http) = start(EmulatorConfig {
            seed,
            ..EmulatorConfig::default()
        })
        .await;
        assert_eq!(h.settings().access_token_lifetime, 60);
        let v = native_login(&http, d::EXCHANGE_SCOPE, false).await;
        assert_eq!(v["expires_in"], 60);
        let info = http.introspect(v["access_token"].as_str().unwrap()).await;
        assert_eq!(info["username"], "carol@example.org");
        h.shutdown().await.unwrap();
        // The command-line override wins over the seed.
        let seed = Seed::from_toml("[settings]\naccess_token_lifetime = 60\n").unwrap();
        let (h, _) = start(EmulatorConfig {
            seed,
            access_token_lifetime: Some(5),
            ..EmulatorConfig::default()
        })
        .await;
        assert_eq!(h.settings().access_token_lifetime, 5);
        h.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn state_file_keeps_clients_and_tokens() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let config = EmulatorConfig { state_path: Some(path.clone()), ..EmulatorConfig::default() };
        let (h, http) = start(config.clone()).await;
        let t = http.admin_tokens(d::MANAGE_PROJECTS_SCOPE).await["access_token"].as_str().unwrap().to_owned();
        let r = http.json(Method::POST, "v2/api/clients", &t, json!({"client": {"name": "kept", "project": d::PROJECT_ID, "public_client": false}})).await;
        let id = r.json()["client"]["id"].as_str().unwrap().to_owned();
        let secret = http.json(Method::POST, &format!("v2/api/clients/{id}/credentials"), &t, json!({"credential": {"name": "c"}})).await.json()["credential"]["secret"].as_str().unwrap().to_owned();
        h.shutdown().await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        // Secrets and tokens are stored only as digests.
        assert!(!text.contains(&secret) && !text.contains(&t) && text.contains(&id));

        let (h, http) = start(config).await;
        let r = http.get(&format!("v2/api/clients/{id}"), Auth::Bearer(&t)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.json()["client"]["name"], "kept");
        let r = http.form("v2/oauth2/token", Auth::Basic(&id, &secret), &[("grant_type", "client_credentials"), ("scope", "openid")]).await;
        assert_eq!(r.status, StatusCode::OK);
        h.shutdown().await.unwrap();

        std::fs::write(&path, "{not json").unwrap();
        let err = serve(EmulatorConfig { state_path: Some(path), ..EmulatorConfig::default() }).await.unwrap_err();
        assert!(matches!(err, EmulatorError::State { .. }), "{err}");
    })
    .await;
}

#[tokio::test]
async fn shutdown_stops_listening() {
    bounded(async {
        let (h, _) = start_default().await;
        let addr = h.addr();
        h.shutdown().await.unwrap();
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    })
    .await;
}

#[tokio::test]
async fn debug_output_hides_secrets() {
    bounded(async {
        let (h, _) = start_default().await;
        let text = format!("{h:?} {:?}", EmulatorConfig::default());
        assert!(
            !text.contains(d::ADMIN_CLIENT_SECRET) && !text.contains(d::EXCHANGE_CLIENT_SECRET),
            "{text}"
        );
        h.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn issue_user_tokens_matches_a_login() {
    bounded(async {
        let (h, http) = start_default().await;
        let v = h
            .issue_user_tokens(
                d::NATIVE_CLIENT_ID,
                d::BOB_USERNAME,
                &format!("openid {}", d::EXCHANGE_SCOPE),
                true,
            )
            .unwrap();
        assert!(v["id_token"].is_string());
        let ex = &v["other_tokens"][0];
        assert!(ex["refresh_token"].is_string());
        let info = http.introspect(ex["access_token"].as_str().unwrap()).await;
        assert_eq!(info["username"], d::BOB_USERNAME);
        assert_eq!(info["client_id"], d::NATIVE_CLIENT_ID);
        assert!(
            h.issue_user_tokens(d::NATIVE_CLIENT_ID, "nobody", "openid", false)
                .is_err()
        );
        assert!(
            h.issue_user_tokens(d::NATIVE_CLIENT_ID, d::BOB_ID, "urn:nope", false)
                .is_err()
        );
        h.shutdown().await.unwrap();
    })
    .await;
}
