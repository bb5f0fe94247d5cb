//! End to end in separate processes: this process (the user) registers an
//! agent, ships the factory and registration JSON to an agent process (this
//! test binary re-executed in "agent mode"), calls it, terminates it, and
//! its Globus client is cleaned up. Access tokens live 5 s — less than the
//! 60 s early-renewal margin — and the emulator's clock jumps mid-run, so
//! both processes renew tokens throughout.
#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns: a panic is a failed assertion.

mod common;

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use academy_emulator_tokens::*;
use academy_exchange::transport::downcast_registration;
use academy_exchange::{
    AgentStopReason, AgentType, EntityId, ExchangeClientConfig, ExchangeFactory, ExchangeTransport,
    UserExchangeClient,
};
use academy_globus_emulator::defaults as d;
use academy_globus_exchange::{GlobusAgentRegistration, GlobusExchangeFactory};
use common::*;
use serde_json::{Map, json};

/// Set in the agent process: the directory holding `factory.json` and `registration.json`.
const AGENT_DIR_ENV: &str = "ACADEMY_E2E_AGENT_DIR";

mod academy_emulator_tokens {
    use academy_globus_emulator::EmulatorHandle;
    use academy_globus_emulator::model::TokenKind;

    /// Access tokens issued so far to `client` (the agent's own client).
    pub fn access_tokens_of(emu: &EmulatorHandle, client: uuid::Uuid) -> usize {
        exchange_tokens_of(emu, client, None)
    }

    /// Access tokens issued to `client`, for `resource_server` if given.
    pub fn exchange_tokens_of(
        emu: &EmulatorHandle,
        client: uuid::Uuid,
        resource_server: Option<&str>,
    ) -> usize {
        emu.with_state(|st| {
            st.tokens
                .values()
                .filter(|t| t.client_id == client && matches!(t.kind, TokenKind::Access))
                .filter(|t| resource_server.is_none_or(|rs| t.resource_server == rs))
                .count()
        })
    }
}

/// The agent process's entry point; a no-op in a normal test run.
#[test]
fn agent_process() {
    let Ok(dir) = std::env::var(AGENT_DIR_ENV) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(bounded(120, async move {
        let factory = GlobusExchangeFactory::from_json(
            &std::fs::read_to_string(dir.join("factory.json")).unwrap(),
        )
        .unwrap();
        let reg = factory
            .registration_from_json(
                &std::fs::read_to_string(dir.join("registration.json")).unwrap(),
            )
            .unwrap();
        let client = factory
            .create_agent_client(&*reg, Arc::new(Adder))
            .await
            .unwrap();
        println!("agent ready");
        let reason = client.wait_stopped().await;
        client.close().await.unwrap();
        println!("agent stopped: {reason:?}");
        assert_eq!(reason, AgentStopReason::MailboxTerminated);
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_and_agent_in_separate_processes_with_short_lived_tokens() {
    bounded(180, async {
        let emu = emulator().await;
        let server = globus_server(&emu, None).await;
        let config = ExchangeClientConfig {
            heartbeat_interval: Duration::from_millis(500),
            ..ExchangeClientConfig::default()
        };
        let factory = globus_factory(&emu, &server, user_app(&emu, None)).with_config(config);
        let user = Arc::new(factory.user_transport(None, Some("user")).await.unwrap());
        let reg = user
            .register_agent(&AgentType::new("tests.Adder"), Some("adder"))
            .await
            .unwrap();
        let globus = downcast_registration::<GlobusAgentRegistration>(&*reg)
            .unwrap()
            .clone();
        emu.set_access_token_lifetime(5);

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("factory.json"), factory.to_json().unwrap()).unwrap();
        std::fs::write(dir.path().join("registration.json"), reg.to_json().unwrap()).unwrap();
        let agent = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "agent_process",
                "--exact",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(AGENT_DIR_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();

        let client = UserExchangeClient::new(user.clone(), config, true).unwrap();
        let handle = client.get_handle(globus.agent_id.clone());
        for i in 0..6i64 {
            let sum = handle
                .action("add", vec![json!(i), json!(100)], Map::new())
                .await
                .unwrap();
            assert_eq!(sum, json!(i + 100));
            if i == 2 {
                // Every token issued so far expires on the server's clock.
                emu.advance_clock(d::ACCESS_TOKEN_LIFETIME_SECS + 60);
            }
        }
        // Every answer the agent sends needs a fresh token: it keeps renewing.
        let mut pings = 0;
        while access_tokens_of(&emu, globus.client_id) < 5 {
            assert!(handle.ping().await.unwrap() < Duration::from_secs(10));
            pings += 1;
            assert!(pings < 50, "the agent process does not renew its tokens");
        }

        let native = d::NATIVE_CLIENT_ID.parse().unwrap();
        assert!(
            exchange_tokens_of(&emu, native, Some(d::EXCHANGE_CLIENT_ID)) >= 2,
            "the user process renewed its exchange token mid-run"
        );
        user.terminate(&EntityId::from(globus.agent_id.clone()))
            .await
            .unwrap();
        let out = agent.wait_with_output().await.unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "agent process failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("agent stopped: MailboxTerminated"),
            "{stdout}"
        );

        client.close().await.unwrap();
        assert!(
            emu.with_state(|st| !st.clients.contains_key(&globus.client_id)),
            "the terminated agent's Globus client is deleted on close"
        );
        assert!(user.child_clients().is_empty());
        server.shutdown().await;
        emu.shutdown().await.unwrap();
    })
    .await;
}
