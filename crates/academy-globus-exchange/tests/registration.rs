//! Agent registration (two phases, batch consent, headless), the agent
//! side's dependent tokens, `close()` clean-up, and transparent token
//! renewal, against our server with Globus auth and the emulator.
#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns: a panic is a failed assertion.

mod common;

use std::sync::Arc;

use academy_exchange::transport::downcast_registration;
use academy_exchange::{
    AgentRegistration, AgentStopReason, AgentType, EntityId, ExchangeClientConfig, ExchangeError,
    ExchangeFactory, ExchangeTransport, UserExchangeClient,
};
use academy_globus_client::TokenStore;
use academy_globus_emulator::defaults as d;
use academy_globus_exchange::app::TOKEN_NAMESPACE;
use academy_globus_exchange::{GlobusAgentRegistration, GlobusApp};
use common::*;
use serde_json::{Map, json};
use uuid::Uuid;

fn client_exists(emu: &academy_globus_emulator::EmulatorHandle, id: Uuid) -> bool {
    emu.with_state(|st| st.clients.contains_key(&id))
}

fn globus(reg: &dyn AgentRegistration) -> GlobusAgentRegistration {
    downcast_registration::<GlobusAgentRegistration>(reg)
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_registration_serving_and_close_cleans_only_terminated_agents() {
    bounded(120, async {
        let emu = emulator().await;
        let server = globus_server(&emu, None).await;
        let factory = globus_factory(&emu, &server, headless_app(&emu));
        let user = Arc::new(
            factory
                .user_transport(None, Some("launcher"))
                .await
                .unwrap(),
        );
        let ty = AgentType::new("tests.Adder");
        let regs = user
            .register_agents(&[
                (ty.clone(), Some("a".into())),
                (ty.clone(), Some("b".into())),
            ])
            .await
            .unwrap();
        let (a, b) = (globus(&*regs[0]), globus(&*regs[1]));
        assert_eq!(a.agent_id.name(), Some("a"));

        // Phase 1 made a hybrid client in the project with a launch scope
        // depending on the exchange scope (refresh tokens required).
        emu.with_state(|st| {
            let c = &st.clients[&a.client_id];
            assert_eq!(c.client_type, "hybrid_confidential_client_resource_server");
            assert_eq!(c.project, Some(d::PROJECT_ID.parse().unwrap()));
            assert_eq!(c.name, a.agent_id.to_string());
            let launch = st
                .scopes
                .values()
                .find(|s| s.client == Some(a.client_id))
                .expect("launch scope");
            assert_eq!(
                launch.scope_string,
                format!("https://auth.globus.org/scopes/{}/launch", a.client_id)
            );
            let dep = &launch.dependent_scopes[0];
            assert_eq!(dep.scope.to_string(), d::EXCHANGE_SCOPE_ID);
            assert!(dep.requires_refresh_token && !dep.optional);
        });
        // The registration travels as JSON; Debug hides its secrets.
        let text = format!("{a:?}");
        assert!(
            !text.contains(a.token.expose()) && !text.contains(a.secret.expose()),
            "{text}"
        );
        let shipped = factory
            .registration_from_json(&a.to_json().unwrap())
            .unwrap();
        assert_eq!(shipped.agent_id(), &a.agent_id);

        // Agent side: dependent tokens with the agent's own credentials.
        let agent_a = factory
            .create_agent_client(&*shipped, Arc::new(Adder))
            .await
            .unwrap();
        let agent_b = factory
            .create_agent_client(&b, Arc::new(Adder))
            .await
            .unwrap();
        let client =
            UserExchangeClient::new(user.clone(), ExchangeClientConfig::default(), true).unwrap();
        let sum = client
            .get_handle(a.agent_id.clone())
            .action("add", vec![json!(40), json!(2)], Map::new())
            .await
            .unwrap();
        assert_eq!(sum, json!(42));

        // Terminate a; close deletes a's Globus client only.
        user.terminate(&EntityId::from(a.agent_id.clone()))
            .await
            .unwrap();
        assert_eq!(
            agent_a.wait_stopped().await,
            AgentStopReason::MailboxTerminated
        );
        user.close().await.unwrap();
        assert!(
            !client_exists(&emu, a.client_id),
            "terminated agent's client must be deleted"
        );
        assert!(
            client_exists(&emu, b.client_id),
            "running agent's client must stay"
        );
        assert_eq!(user.child_clients(), vec![b.client_id.to_string()]);
        user.close().await.expect("close is idempotent");
        assert!(client_exists(&emu, b.client_id));
        // b still serves (its refresh token works).
        let sum = client
            .get_handle(b.agent_id.clone())
            .action("add", vec![json!(1), json!(2)], Map::new())
            .await
            .unwrap();
        assert_eq!(sum, json!(3));

        user.terminate(&EntityId::from(b.agent_id.clone()))
            .await
            .unwrap();
        assert_eq!(
            agent_b.wait_stopped().await,
            AgentStopReason::MailboxTerminated
        );
        client.close().await.unwrap();
        assert!(!client_exists(&emu, b.client_id));
        assert!(user.child_clients().is_empty());
        agent_a.close().await.unwrap();
        agent_b.close().await.unwrap();
        server.shutdown().await;
        emu.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_batch_registration_asks_for_consent_once() {
    bounded(120, async {
        let emu = emulator().await;
        let server = globus_server(&emu, None).await;
        let dir = tempfile::tempdir().unwrap();
        let flow = Arc::new(CountingFlow::default());
        let app = Arc::new(
            GlobusApp::user(
                app_config(&emu),
                flow.clone(),
                Some(TokenStore::new(dir.path().join("tokens.json"))),
            )
            .unwrap(),
        );
        let factory = globus_factory(&emu, &server, app);
        let user = factory.user_transport(None, Some("alice")).await.unwrap();
        assert_eq!(flow.count(), 1, "one login for the exchange scope");
        let ty = AgentType::new("tests.Adder");
        user.register_agent(&ty, Some("first")).await.unwrap();
        let before = flow.count();
        let batch: Vec<(AgentType, Option<String>)> = (0..3)
            .map(|i| (ty.clone(), Some(format!("batch-{i}"))))
            .collect();
        let regs = user.register_agents(&batch).await.unwrap();
        assert_eq!(
            flow.count() - before,
            1,
            "a batch of three needs exactly one consent"
        );
        assert_eq!(regs.len(), 3);
        for (r, (_, name)) in regs.iter().zip(&batch) {
            assert_eq!(r.agent_id().name(), name.as_deref());
            // The delegated token acts for Alice: her agent may use its mailbox.
            let t = factory.create_agent_transport(&**r).await.unwrap();
            t.update_heartbeat().await.unwrap();
        }
        // Another app (as in a second process) on the same token store logs in no more.
        let logins = flow.count();
        let app2 = Arc::new(
            GlobusApp::user(
                app_config(&emu),
                flow.clone(),
                Some(TokenStore::new(dir.path().join("tokens.json"))),
            )
            .unwrap(),
        );
        let again = globus_factory(&emu, &server, app2)
            .user_transport(None, Some("alice-2"))
            .await
            .unwrap();
        again.update_heartbeat().await.unwrap();
        again.register_agent(&ty, None).await.unwrap();
        assert_eq!(
            flow.count(),
            logins + 1,
            "only the new launch scope needs consent"
        );
        server.shutdown().await;
        emu.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_revoked_access_tokens_are_renewed_transparently() {
    bounded(120, async {
        let emu = emulator().await;
        let server = globus_server(&emu, None).await;
        let app = user_app(&emu, None);
        let factory = globus_factory(&emu, &server, app.clone());
        let user = factory.user_transport(None, Some("alice")).await.unwrap();
        let first = app.access_token(d::EXCHANGE_CLIENT_ID).await.unwrap();
        assert!(emu.revoke_token(first.expose()));
        user.update_heartbeat()
            .await
            .expect("a revoked access token is renewed");
        let second = app.access_token(d::EXCHANGE_CLIENT_ID).await.unwrap();
        assert_ne!(first, second);
        // Expired on the server's clock while still fresh on ours.
        emu.advance_clock(d::ACCESS_TOKEN_LIFETIME_SECS + 60);
        let found = user
            .discover("tests.Nothing", true)
            .await
            .expect("an expired access token is renewed");
        assert!(found.is_empty());
        assert_ne!(
            app.access_token(d::EXCHANGE_CLIENT_ID).await.unwrap(),
            second
        );
        server.shutdown().await;
        emu.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_refresh_token_says_to_log_in_again() {
    bounded(120, async {
        let emu = emulator().await;
        let server = globus_server(&emu, None).await;
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path().join("tokens.json"));
        let app = user_app(&emu, Some(TokenStore::new(store.path())));
        let factory = globus_factory(&emu, &server, app);
        let user = factory.user_transport(None, Some("alice")).await.unwrap();
        let tokens = store
            .get(TOKEN_NAMESPACE, d::EXCHANGE_CLIENT_ID)
            .unwrap()
            .expect("stored tokens");
        assert!(emu.revoke_token(tokens.refresh_token.as_ref().unwrap().expose()));
        assert!(emu.revoke_token(tokens.access_token.expose()));
        match user.update_heartbeat().await {
            Err(ExchangeError::Unauthorized(m)) => {
                assert!(m.contains("log in again"), "{m}");
                assert!(!m.contains(tokens.refresh_token.as_ref().unwrap().expose()));
            }
            other => panic!("expected Unauthorized, got {other:?}"),
        }
        server.shutdown().await;
        emu.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_side_transport_cannot_register_and_stale_registration_is_refused() {
    bounded(120, async {
        let emu = emulator().await;
        let server = globus_server(&emu, None).await;
        let factory = globus_factory(&emu, &server, headless_app(&emu));
        let user = factory
            .user_transport(None, Some("launcher"))
            .await
            .unwrap();
        let reg = user
            .register_agent(&AgentType::new("tests.Adder"), None)
            .await
            .unwrap();
        let agent = factory.create_agent_transport(&*reg).await.unwrap();
        match agent
            .register_agent(&AgentType::new("tests.Child"), None)
            .await
        {
            Err(ExchangeError::Unauthorized(m)) => assert!(m.contains("GlobusApp"), "{m}"),
            other => panic!("{other:?}"),
        }
        // A registration whose client was deleted cannot start an agent.
        let g = globus(&*reg);
        user.terminate(&EntityId::from(g.agent_id.clone()))
            .await
            .unwrap();
        user.close().await.unwrap();
        assert!(!client_exists(&emu, g.client_id));
        match factory.create_agent_transport(&g).await {
            Err(ExchangeError::Unauthorized(m)) => {
                assert!(m.contains("register the agent again"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        server.shutdown().await;
        emu.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_registration_leaves_nothing_behind() {
    bounded(60, async {
        let emu = emulator().await;
        let server = globus_server(&emu, None).await;
        let mut factory = globus_factory(&emu, &server, headless_app(&emu));
        // A project the launcher does not administer.
        factory.project_id = Uuid::new_v4().to_string();
        let user = factory
            .user_transport(None, Some("launcher"))
            .await
            .unwrap();
        let clients_before = emu.with_state(|st| st.clients.len());
        let ty = AgentType::new("tests.Nope");
        let err = user
            .register_agents(&[(ty.clone(), None), (ty.clone(), None)])
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ExchangeError::Forbidden(_) | ExchangeError::Transport { .. }
            ),
            "{err:?}"
        );
        assert_eq!(emu.with_state(|st| st.clients.len()), clients_before);
        assert!(user.discover(ty.name(), false).await.unwrap().is_empty());
        assert!(user.child_clients().is_empty());
        server.shutdown().await;
        emu.shutdown().await.unwrap();
    })
    .await;
}
