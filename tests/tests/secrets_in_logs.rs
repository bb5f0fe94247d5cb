//! Secrets: a full end-to-end run in one process — Globus Auth emulator,
//! exchange server with Globus authentication, a user logging in (PKCE),
//! an agent registered as its own Globus Auth client, calls, token
//! renewals, a revoked token — with every `tracing` event of every crate
//! captured at TRACE level. No access token, refresh token, client secret
//! or authorization code may appear in the logs, nor in the `Debug` text
//! of the objects a program would log.
//!
//! Every token the emulator issues is a 43-character base64url string that
//! it stores by SHA-256 digest, so the check needs no list of values: each
//! such string in the logs is hashed and looked up among the tokens,
//! codes and client secrets the emulator knows (snapshots are taken during
//! the run because expired tokens get pruned). Known values (the seeded
//! secrets, the token store's contents, the agent's registration) are
//! checked verbatim as well.

#![allow(clippy::unwrap_used)] // Test code: a panic is a failed assertion.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use academy_e2e::bounded;
use academy_e2e::logs::LogCapture;
use academy_exchange::transport::downcast_registration;
use academy_exchange::{ActionError, ActionInvocation, AgentType, ExchangeFactory, RequestHandler};
use academy_exchange_server::{AuthConfig, GlobusAuthKwargs, ServerConfig, serve};
use academy_globus_client::TokenStore;
use academy_globus_emulator::secret::digest;
use academy_globus_emulator::{EmulatorConfig, EmulatorHandle, defaults as d};
use academy_globus_exchange::{
    AutoApproveLoginFlow, GlobusAgentRegistration, GlobusApp, GlobusAppConfig,
    GlobusExchangeFactory,
};
use serde_json::{Map, Value, json};

struct Echo;

#[async_trait::async_trait]
impl RequestHandler for Echo {
    async fn action(&self, call: ActionInvocation) -> Result<Value, ActionError> {
        Ok(call.args.first().cloned().unwrap_or(Value::Null))
    }
}

/// Digests of every secret the emulator holds right now.
fn snapshot(emu: &EmulatorHandle, into: &mut HashSet<String>) {
    emu.with_state(|st| {
        into.extend(st.tokens.keys().cloned());
        into.extend(st.codes.keys().cloned());
        for c in st.clients.values() {
            into.extend(c.credentials.iter().map(|cr| cr.secret_sha256.clone()));
        }
    });
}

/// Every string value under a key that names a secret.
fn secret_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if let Value::String(s) = v
                    && (k.contains("token") || k.contains("secret"))
                    && s.len() >= 16
                {
                    out.push(s.clone());
                }
                secret_strings(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| secret_strings(v, out)),
        _ => {}
    }
}

/// 43-character base64url runs (the emulator's token shape).
fn token_like(text: &str) -> HashSet<&str> {
    let bytes = text.as_bytes();
    let is_b64 = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let mut found = HashSet::new();
    let mut start = None;
    for i in 0..=bytes.len() {
        let inside = i < bytes.len() && is_b64(bytes[i]);
        match (inside, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if i - s == 43 {
                    found.insert(&text[s..i]);
                }
                start = None;
            }
            _ => {}
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_trace_logs_of_a_full_run() {
    let capture = LogCapture::install();
    let (digests, known, debug_text) = bounded(180, async {
        let mut digests = HashSet::new();
        let mut known: Vec<String> = vec![
            d::EXCHANGE_CLIENT_SECRET.into(),
            d::ADMIN_CLIENT_SECRET.into(),
        ];
        let emu = academy_globus_emulator::serve(EmulatorConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            auto_approve: Some(true),
            ..EmulatorConfig::default()
        })
        .await
        .unwrap();
        // Short tokens: renewals happen during the run and get logged (or not).
        emu.set_access_token_lifetime(5);
        let kwargs = GlobusAuthKwargs {
            client_id: Some(d::EXCHANGE_CLIENT_ID.into()),
            client_secret: Some(d::EXCHANGE_CLIENT_SECRET.into()),
            auth_base_url: Some(emu.base_url().into()),
            groups_base_url: Some(emu.base_url().into()),
            token_ttl_s: Some(0.0),
            group_info_cache_ttl_s: Some(0.0),
            ..GlobusAuthKwargs::default()
        };
        let mut config = ServerConfig::default().with_bind("127.0.0.1:0".parse().unwrap());
        config.auth = AuthConfig::Globus(kwargs);
        config.listen_timeout_s = 10;
        let server = serve(config).await.unwrap();

        let dir = tempfile::tempdir().unwrap();
        let store_path = dir.path().join("tokens.json");
        let app = Arc::new(
            GlobusApp::user(
                GlobusAppConfig::new(emu.base_url().parse().unwrap()),
                Arc::new(AutoApproveLoginFlow),
                Some(TokenStore::new(&store_path)),
            )
            .unwrap(),
        );
        let mut factory =
            GlobusExchangeFactory::new(d::PROJECT_ID, server.base_url().parse().unwrap())
                .with_auth_base_url(emu.base_url().parse().unwrap())
                .with_request_timeout_s(5.0)
                .with_app(app.clone());
        factory.exchange_client_id = d::EXCHANGE_CLIENT_ID.into();
        factory.exchange_scope_id = d::EXCHANGE_SCOPE_ID.into();

        let user = factory
            .create_user_client(Some("alice"), true)
            .await
            .unwrap();
        snapshot(&emu, &mut digests);
        let reg = user
            .register_agent(&AgentType::new("e2e.Keeper"), Some("keeper"))
            .await
            .unwrap();
        let globus = downcast_registration::<GlobusAgentRegistration>(&*reg)
            .unwrap()
            .clone();
        known.push(globus.token.expose().into());
        known.push(globus.secret.expose().into());
        let agent = factory
            .create_agent_client(&*reg, Arc::new(Echo))
            .await
            .unwrap();
        let handle = user.get_handle(reg.agent_id().clone());
        for i in 0..6 {
            let got = handle
                .action("echo", vec![json!(i)], Map::new())
                .await
                .unwrap();
            assert_eq!(got, json!(i));
            snapshot(&emu, &mut digests);
            known.push(
                app.access_token(d::EXCHANGE_CLIENT_ID)
                    .await
                    .unwrap()
                    .expose()
                    .into(),
            );
            if i == 2 {
                // Every token so far expires on the emulator's clock.
                emu.advance_clock(60);
            }
        }
        handle.ping().await.unwrap();
        // A failure path: a revoked access token (renewed transparently).
        let current = app.access_token(d::EXCHANGE_CLIENT_ID).await.unwrap();
        emu.revoke_token(current.expose());
        handle.ping().await.unwrap();
        snapshot(&emu, &mut digests);

        let stored: Value =
            serde_json::from_str(&std::fs::read_to_string(&store_path).unwrap()).unwrap();
        secret_strings(&stored, &mut known);
        // What a program might print while debugging.
        let debug_text = format!(
            "{factory:?}\n{reg:?}\n{globus:?}\n{app:?}\n{:?}\n{user:?}\n{agent:?}\n{handle:?}",
            TokenStore::new(&store_path)
        );
        agent.close().await.unwrap();
        user.close().await.unwrap();
        tokio::time::timeout(Duration::from_secs(20), server.shutdown())
            .await
            .unwrap();
        snapshot(&emu, &mut digests);
        emu.shutdown().await.unwrap();
        (digests, known, debug_text)
    })
    .await;

    let logs = capture.text();
    assert!(
        logs.lines().count() > 500,
        "too little was captured at TRACE ({} lines)",
        logs.lines().count()
    );
    assert!(known.len() > 8, "the run produced too few secrets to check");
    // The detector itself works: issued secrets of the run are found by
    // shape and digest when they are in a text.
    let issued: Vec<&String> = known
        .iter()
        .filter(|k| k.len() == 43 && digests.contains(&digest(k)))
        .collect();
    assert!(
        !issued.is_empty(),
        "no issued secret to calibrate the detector"
    );
    let sample = format!("token={} ok", issued[0]);
    assert!(token_like(&sample).contains(issued[0].as_str()));
    let mut leaks = Vec::new();
    for (name, text) in [("logs", &logs), ("Debug output", &debug_text)] {
        for secret in &known {
            if let Some(line) = text.lines().find(|l| l.contains(secret.as_str())) {
                leaks.push(format!(
                    "{name}: a known secret in: {}",
                    line.chars().take(300).collect::<String>()
                ));
            }
        }
        for candidate in token_like(text) {
            if digests.contains(&digest(candidate))
                && let Some(line) = text.lines().find(|l| l.contains(candidate))
            {
                leaks.push(format!(
                    "{name}: an issued token/secret/code in: {}",
                    line.chars().take(300).collect::<String>()
                ));
            }
        }
    }
    academy_e2e::report(
        "secrets_in_logs",
        &[
            ("log_lines", logs.lines().count().to_string()),
            ("log_bytes", logs.len().to_string()),
            ("secrets_known", known.len().to_string()),
            ("emulator_secrets_checked", digests.len().to_string()),
            ("leaks", leaks.len().to_string()),
        ],
    );
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
}
