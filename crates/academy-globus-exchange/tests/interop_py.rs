//! Interop with academy-py 1.0.0, both ways, over the Globus exchange:
//! * a Python user (academy-py's `GlobusExchangeFactory`, confidential
//!   client mode) registers an agent on our server and calls it; the agent
//!   is served by Rust;
//! * a Rust user registers an agent that academy-py's runtime serves;
//! * our transport against academy-py's own server
//!   (`python -m academy.exchange.cloud`) with Globus auth: the
//!   conformance transport checks and a Rust agent served through it.
//!
//! Needs `ACADEMY_PY_PYTHON`; skipped when unset unless
//! `ACADEMY_REQUIRE_INTEROP=1`.
#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns: a panic is a failed assertion.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use academy_exchange::{
    AgentStopReason, AgentType, EntityId, ExchangeClientConfig, ExchangeFactory, ExchangeTransport,
    UserExchangeClient, conformance,
};
use academy_globus_emulator::{EmulatorHandle, defaults as d};
use common::*;
use serde_json::{Map, json};
use tokio::process::{Child, Command};

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(name)
}

/// Starts `python args…` with the emulator's environment (confidential
/// client mode as the seeded admin client) and a private `ACADEMY_HOME`.
fn python(python: &Path, emu: &EmulatorHandle, home: &Path, args: &[&str]) -> Child {
    Command::new(python)
        .args(args)
        .envs(emu.env())
        .env("ACADEMY_HOME", home)
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn finish(child: Child) -> String {
    let out = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

async fn wait_for_file(path: &Path) -> String {
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_user_calls_rust_agent() {
    let Some(py) = academy_testkit::python::interpreter() else {
        return;
    };
    bounded(180, async {
        let emu = emulator().await;
        let server = globus_server(&emu, None).await;
        let dir = tempfile::tempdir().unwrap();
        let url = server.base_url();
        let child = python(
            &py,
            &emu,
            dir.path(),
            &[
                script("py_user.py").to_str().unwrap(),
                &url,
                d::PROJECT_ID,
                dir.path().to_str().unwrap(),
            ],
        );
        let json = wait_for_file(&dir.path().join("registration.json")).await;
        // academy-py's registration JSON read by Rust; the agent side runs here.
        let factory = globus_factory_bare(&emu, &server);
        let reg = factory.registration_from_json(&json).unwrap();
        assert_eq!(reg.agent_id().name(), Some("rust-adder"));
        let agent = factory
            .create_agent_client(&*reg, Arc::new(Adder))
            .await
            .unwrap();
        let stdout = finish(child).await;
        assert!(
            stdout.contains("ok add") && stdout.contains("ok terminate"),
            "{stdout}"
        );
        // academy-py's close() deletes the agent's Globus client right after
        // terminating it (§9.4), so the agent sees either the termination or,
        // if it renews first, its refused credentials: both stop it.
        match agent.wait_stopped().await {
            AgentStopReason::MailboxTerminated => {}
            AgentStopReason::ListenerError(e) => {
                assert!(e.contains("unauthorized") || e.contains("forbidden"), "{e}")
            }
            other => panic!("unexpected stop: {other:?}"),
        }
        agent.close().await.unwrap();
        server.shutdown().await;
        emu.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_user_calls_python_agent() {
    let Some(py) = academy_testkit::python::interpreter() else {
        return;
    };
    bounded(180, async {
        let emu = emulator().await;
        let server = globus_server(&emu, None).await;
        let factory = globus_factory(&emu, &server, headless_app(&emu));
        let user = Arc::new(
            factory
                .user_transport(None, Some("rust-user"))
                .await
                .unwrap(),
        );
        let reg = user
            .register_agent(&AgentType::new("py_agent.Adder"), Some("py-adder"))
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registration.json");
        std::fs::write(&path, reg.to_json().unwrap()).unwrap();
        let child = python(
            &py,
            &emu,
            dir.path(),
            &[
                script("py_agent.py").to_str().unwrap(),
                &server.base_url(),
                d::PROJECT_ID,
                path.to_str().unwrap(),
            ],
        );
        let client =
            UserExchangeClient::new(user.clone(), ExchangeClientConfig::default(), true).unwrap();
        let handle = client.get_handle(reg.agent_id().clone());
        let sum = handle
            .action("add", vec![json!(2), json!(3)], Map::new())
            .await
            .unwrap();
        assert_eq!(sum, json!(5));
        let mut kwargs = Map::new();
        kwargs.insert("a".into(), json!(10));
        kwargs.insert("b".into(), json!(-4));
        assert_eq!(
            handle.action("add", vec![], kwargs).await.unwrap(),
            json!(6)
        );
        // academy-py's runtime ignores an external termination of its
        // mailbox (its listener ends silently): ask it to shut down and
        // terminate instead.
        handle.shutdown(Some(true)).await.unwrap();
        let stdout = finish(child).await;
        assert!(stdout.contains("ok stopped"), "{stdout}");
        assert_eq!(
            user.status(&EntityId::from(reg.agent_id().clone()))
                .await
                .unwrap(),
            academy_exchange::MailboxStatus::Terminated
        );
        client.close().await.unwrap();
        assert!(
            user.child_clients().is_empty(),
            "the terminated agent's client is deleted"
        );
        server.shutdown().await;
        emu.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_transport_against_academy_py_server() {
    let Some(py) = academy_testkit::python::interpreter() else {
        return;
    };
    bounded(300, async {
        let emu = emulator().await;
        // academy-py's server asks the production Groups API: no Groups tokens.
        emu.set_groups_tokens(false);
        let port = academy_testkit::free_port().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("exchange.toml");
        std::fs::write(
            &config,
            format!(
                "host = \"127.0.0.1\"\nport = {port}\nlisten_timeout_s = 30\n\n[auth]\nmethod = \"globus\"\n\n[auth.kwargs]\nclient_id = \"{}\"\nclient_secret = \"{}\"\n",
                d::EXCHANGE_CLIENT_ID,
                d::EXCHANGE_CLIENT_SECRET
            ),
        )
        .unwrap();
        let mut server = python(
            &py,
            &emu,
            dir.path(),
            &["-m", "academy.exchange.cloud", "--config", config.to_str().unwrap()],
        );
        let addr = format!("127.0.0.1:{port}");
        while tokio::net::TcpStream::connect(&addr).await.is_err() {
            if let Some(status) = server.try_wait().unwrap() {
                panic!("academy-py server exited: {status}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let factory = globus_factory_url(&emu, &format!("http://{addr}")).with_app(headless_app(&emu));
        conformance::run_transport_checks(&factory).await;

        // A Rust user and a Rust agent through the Python server.
        let user = Arc::new(factory.user_transport(None, Some("u")).await.unwrap());
        let reg = user.register_agent(&AgentType::new("tests.Adder"), None).await.unwrap();
        let agent = factory.create_agent_client(&*reg, Arc::new(Adder)).await.unwrap();
        let client = UserExchangeClient::new(user.clone(), ExchangeClientConfig::default(), true).unwrap();
        let sum = client
            .get_handle(reg.agent_id().clone())
            .action("add", vec![json!(20), json!(22)], Map::new())
            .await
            .unwrap();
        assert_eq!(sum, json!(42));
        user.terminate(&EntityId::from(reg.agent_id().clone())).await.unwrap();
        assert_eq!(agent.wait_stopped().await, AgentStopReason::MailboxTerminated);
        client.close().await.unwrap();
        server.kill().await.unwrap();
        emu.shutdown().await.unwrap();
    })
    .await;
}
