//! `ConsoleLoginFlow` as a person meets it: a child process (this test
//! binary re-executed) prints academy-py's prompt with the authorize URL
//! and reads the code from standard input; here the "person" approves the
//! URL at the emulator and types the code.
#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns: a panic is a failed assertion.

mod common;

use std::process::Stdio;
use std::sync::Arc;

use academy_exchange::ExchangeTransport;
use academy_globus_exchange::{
    AutoApproveLoginFlow, ConsoleLoginFlow, GlobusApp, GlobusAppConfig, GlobusExchangeFactory,
    LoginFlow,
};
use common::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// Set in the child: the factory JSON (exchange and Auth URLs).
const CHILD_ENV: &str = "ACADEMY_CONSOLE_LOGIN_FACTORY";

/// The child's entry point; a no-op in a normal test run.
#[test]
fn console_login_child() {
    let Ok(json) = std::env::var(CHILD_ENV) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(bounded(60, async move {
        let factory = GlobusExchangeFactory::from_json(&json).unwrap();
        let config = GlobusAppConfig::new(factory.auth_base_url.clone().unwrap());
        let app = GlobusApp::user(config, Arc::new(ConsoleLoginFlow), None).unwrap();
        let user = factory
            .with_app(Arc::new(app))
            .user_transport(None, Some("console"))
            .await
            .unwrap();
        user.update_heartbeat().await.unwrap();
        println!("logged in as {}", user.mailbox_id());
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_login_prints_url_and_reads_code() {
    bounded(60, async {
        let emu = emulator().await;
        let server = globus_server(&emu, None).await;
        let factory = globus_factory_bare(&emu, &server);
        let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "console_login_child",
                "--exact",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(
                CHILD_ENV,
                academy_exchange::ExchangeFactory::to_json(&factory).unwrap(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // The prompt goes to stderr; the program's own output to stdout.
        let mut prompt = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut seen_prompt = false;
        let url = loop {
            let line = prompt
                .next_line()
                .await
                .unwrap()
                .expect("child ended before printing the URL");
            if line.ends_with("Please visit the following url to authenticate:") {
                seen_prompt = true;
            } else if seen_prompt && line.starts_with("http") {
                break url::Url::parse(&line).unwrap();
            }
        };
        assert_eq!(url.path(), "/v2/oauth2/authorize");
        let code = AutoApproveLoginFlow.authorization_code(&url).await.unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(format!("  {code} \n").as_bytes())
            .await
            .unwrap();
        drop(stdin);
        let mut err = String::new();
        while let Some(line) = prompt.next_line().await.unwrap() {
            err.push_str(&line);
            err.push('\n');
        }
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .await
            .unwrap();
        assert!(child.wait().await.unwrap().success(), "{err}\n{out}");
        assert!(err.contains("Enter the auth code: "), "{err}");
        assert!(
            !out.contains("Please visit"),
            "prompt leaked to stdout: {out}"
        );
        assert!(out.contains("logged in as UserId<console>"), "{out}");
        server.shutdown().await;
        emu.shutdown().await.unwrap();
    })
    .await;
}
