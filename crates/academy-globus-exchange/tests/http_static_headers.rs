//! `HttpExchangeFactory` with static headers against our server with the
//! Globus authenticator, and the error mapping of real server answers
//! (401, 403, 413), plus what the factories carry to another process.
#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns: a panic is a failed assertion.

mod common;

use academy_exchange::message::ActionRequest;
use academy_exchange::{
    AgentType, Body, EntityId, ExchangeError, ExchangeFactory, ExchangeTransport, Message,
};
use academy_globus_emulator::defaults as d;
use academy_globus_exchange::{GlobusExchangeFactory, HttpExchangeFactory};
use common::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_bearer_header_and_auth_errors() {
    bounded(60, async {
        let emu = emulator().await;
        let server = globus_server(&emu, None).await;
        let tokens = emu
            .issue_user_tokens(
                d::NATIVE_CLIENT_ID,
                d::BOB_USERNAME,
                d::EXCHANGE_SCOPE,
                false,
            )
            .unwrap();
        let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
        let factory = http_factory(&server).with_header("Authorization", bearer.clone());
        assert!(
            !format!("{factory:?}").contains(&bearer),
            "Debug must hide header values"
        );
        let bob = factory.transport(None, Some("bob")).await.unwrap();
        bob.update_heartbeat().await.unwrap();
        let reg = bob
            .register_agent(&AgentType::new("tests.Adder"), None)
            .await
            .unwrap();
        assert_eq!(reg.exchange_type(), "http");

        // No header: 401 → Unauthorized.
        match http_factory(&server).transport(None, None).await {
            Err(ExchangeError::Unauthorized(m)) => assert!(m.contains("401"), "{m}"),
            other => panic!("{other:?}"),
        }
        // An inactive token: 403 → Forbidden (a static header cannot be renewed).
        let bad = http_factory(&server).with_header("Authorization", "Bearer not-a-token");
        match bad.transport(None, None).await {
            Err(ExchangeError::Forbidden(m)) => {
                assert!(m.contains("Token expired or revoked"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        // Another user's mailbox: 403 → Forbidden.
        let alice = emu
            .issue_user_tokens(
                d::NATIVE_CLIENT_ID,
                d::ALICE_USERNAME,
                d::EXCHANGE_SCOPE,
                false,
            )
            .unwrap();
        let alice = http_factory(&server).with_header(
            "Authorization",
            format!("Bearer {}", alice["access_token"].as_str().unwrap()),
        );
        let t = alice.transport(None, None).await.unwrap();
        match t.heartbeat_status(bob.mailbox_id()).await {
            Err(ExchangeError::Forbidden(m)) => assert!(m.contains("Incorrect permissions"), "{m}"),
            other => panic!("{other:?}"),
        }
        // Too large: 413 with the sizes from the server's text.
        let dest = EntityId::from(reg.agent_id().clone());
        let big = "x".repeat(600 * 1024);
        let body = ActionRequest::json("n", &[json!(big)], &Value::Null);
        let m = Message::request(
            bob.mailbox_id().clone(),
            dest,
            Body::ActionRequest(body),
            None,
        );
        match bob.send(&m).await {
            Err(ExchangeError::MessageTooLarge { size, limit }) => {
                assert_eq!(limit, 512 * 1024);
                assert!(size > limit, "{size}");
            }
            other => panic!("{other:?}"),
        }
        server.shutdown().await;
        emu.shutdown().await.unwrap();
    })
    .await;
}

#[test]
fn factories_ship_as_json_without_secrets_and_keep_request_timeout() {
    let f = HttpExchangeFactory::new("http://127.0.0.1:1/v1".parse().unwrap())
        .with_request_timeout_s(7.5);
    let back = HttpExchangeFactory::from_json(&f.to_json().unwrap()).unwrap();
    assert_eq!(back.request_timeout_s, 7.5);
    assert_eq!(back.url, f.url);
    let g = GlobusExchangeFactory::new(
        d::PROJECT_ID,
        "https://exchange.example.org/v1".parse().unwrap(),
    )
    .with_auth_base_url("http://127.0.0.1:2/".parse().unwrap())
    .with_request_timeout_s(12.0);
    let json = g.to_json().unwrap();
    let back = GlobusExchangeFactory::from_json(&json).unwrap();
    // academy-py's factory() resets it to 60 (globus-exchange-client.md §9.3).
    assert_eq!(back.request_timeout_s, 12.0);
    assert_eq!(back.project_id, d::PROJECT_ID);
    assert_eq!(back.auth_base_url, g.auth_base_url);
    assert_eq!(back.exchange_type(), "globus");
    let v: Value = serde_json::from_str(&json).unwrap();
    assert!(
        v.get("app").is_none(),
        "the app (and its secrets) stays home: {json}"
    );
    assert!(GlobusExchangeFactory::from_json("{\"project_id\": 1}").is_err());
}
