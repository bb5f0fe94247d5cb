//! Drives the `academy` binary against an exchange server with Globus
//! authentication and a Globus Auth emulator, both embedded in the test
//! on loopback port 0, and checks output and exit codes — success and
//! error paths.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a panic is a failed assertion

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use academy_exchange_server::{AuthConfig, GlobusAuthKwargs, ServerConfig, ServerHandle};
use academy_globus_emulator::{EmulatorConfig, EmulatorHandle, defaults};
use academy_globus_exchange::{AutoApproveLoginFlow, LoginFlow as _};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};

const BIN: &str = env!("CARGO_BIN_EXE_academy");
const LIMIT: Duration = Duration::from_secs(120);

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {:?}", self.stdout))
    }
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

struct Env {
    home: tempfile::TempDir,
    auth: String,
    exchange: String,
}

fn command(env: &Env) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.env("ACADEMY_HOME", env.home.path())
        .env("GLOBUS_SDK_SERVICE_URL_AUTH", &env.auth)
        .env("NO_COLOR", "1")
        .env_remove("ACADEMY_EXCHANGE_URL")
        .env_remove("ACADEMY_GLOBUS_CLIENT_ID")
        .env_remove("ACADEMY_GLOBUS_CLIENT_SECRET")
        .env_remove("ACADEMY_EXCHANGE_CLIENT_ID")
        .env_remove("ACADEMY_GLOBUS_SCOPE_ID")
        .arg("--exchange")
        .arg(&env.exchange)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

async fn run_with(mut cmd: tokio::process::Command, args: &[&str], stdin: Option<&str>) -> Out {
    cmd.args(args);
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().unwrap();
    if let Some(text) = stdin {
        let mut input = child.stdin.take().unwrap();
        input.write_all(text.as_bytes()).await.unwrap();
        drop(input);
    }
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("academy took more than 30 s")
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn academy(env: &Env, args: &[&str]) -> Out {
    run_with(command(env), args, None).await
}

async fn servers() -> (EmulatorHandle, ServerHandle, Env) {
    let emulator = academy_globus_emulator::serve(EmulatorConfig {
        auto_approve: Some(true),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let mut config = ServerConfig::default()
        .with_bind("127.0.0.1:0".parse().unwrap())
        .with_path_prefix("/v1");
    config.listen_timeout_s = 10;
    config.auth = AuthConfig::Globus(GlobusAuthKwargs {
        client_id: Some(defaults::EXCHANGE_CLIENT_ID.into()),
        client_secret: Some(defaults::EXCHANGE_CLIENT_SECRET.into()),
        auth_base_url: Some(emulator.base_url().into()),
        groups_base_url: Some(emulator.base_url().into()),
        // No introspection cache: a revoked token is refused at once.
        token_ttl_s: Some(0.0),
        ..GlobusAuthKwargs::default()
    });
    let server = academy_exchange_server::serve(config).await.unwrap();
    let env = Env {
        home: tempfile::tempdir().unwrap(),
        auth: emulator.base_url().to_string(),
        exchange: format!("{}/v1", server.base_url()),
    };
    (emulator, server, env)
}

/// `academy login` through the console flow: the test plays the person,
/// reading the URL from stderr and approving it on the emulator.
async fn login(env: &Env) -> Out {
    let mut cmd = command(env);
    cmd.args(["login", "--manage-projects"])
        .stdin(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    let url = loop {
        let line = stderr
            .next_line()
            .await
            .unwrap()
            .expect("no authorize URL printed");
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("http") {
            break url::Url::parse(line.trim()).unwrap();
        }
    };
    assert!(seen.contains("Please visit the following url"), "{seen}");
    assert!(url.path().ends_with("/v2/oauth2/authorize"), "{url}");
    let code = AutoApproveLoginFlow.authorization_code(&url).await.unwrap();
    stdin
        .write_all(format!("{code}\n").as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let mut rest = String::new();
    while let Some(line) = stderr.next_line().await.unwrap() {
        rest.push_str(&line);
        rest.push('\n');
    }
    let out = child.wait_with_output().await.unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: seen + &rest,
    }
}

fn stored_tokens(home: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(home.join("tokens.json")).unwrap()).unwrap()
}

#[tokio::test]
async fn without_servers() {
    tokio::time::timeout(LIMIT, async {
        let env = Env {
            home: tempfile::tempdir().unwrap(),
            auth: "http://127.0.0.1:1/".into(),
            exchange: "http://127.0.0.1:1/v1".into(),
        };
        let out = academy(&env, &["completions", "bash"]).await;
        assert_eq!(out.code, 0, "{out:?}");
        assert!(out.stdout.contains("_academy"), "{out:?}");

        let out = academy(&env, &["--help"]).await;
        assert_eq!(out.code, 0, "{out:?}");
        assert!(out.stdout.contains("Exit codes:"), "{out:?}");
        assert!(out.stdout.contains("8  network"), "{out:?}");

        // Usage errors are clap's exit code 2.
        let out = academy(&env, &["mailbox", "status"]).await;
        assert_eq!(out.code, 2, "{out:?}");

        // Missing login: exit 5 and the advice to log in.
        let out = academy(&env, &["whoami"]).await;
        assert_eq!(out.code, 5, "{out:?}");
        assert!(out.stderr.contains("run `academy login`"), "{out:?}");
        let out = academy(&env, &["mailbox", "create"]).await;
        assert_eq!(out.code, 5, "{out:?}");
        assert!(out.stderr.contains("not logged in"), "{out:?}");

        // Bad input is rejected before any network use: exit 6.
        let out = academy(&env, &["--no-auth", "mailbox", "status", "not-a-uuid"]).await;
        assert_eq!(out.code, 6, "{out:?}");
        assert!(out.stderr.contains("invalid mailbox id"), "{out:?}");
        let to = uuid::Uuid::new_v4().to_string();
        let out = academy(&env, &["--no-auth", "send", "--to", &to, "{not json"]).await;
        assert_eq!(out.code, 6, "{out:?}");
        assert!(out.stderr.contains("invalid JSON body"), "{out:?}");
        let out = run_with(
            command(&env),
            &["--no-auth", "send", "--to", &to],
            Some(r#"{"kind": "nope"}"#),
        )
        .await;
        assert_eq!(out.code, 6, "{out:?}");
        assert!(out.stderr.contains("invalid message body"), "{out:?}");

        // Nothing listens on port 1: a network error, exit 8, JSON on stderr.
        let out = academy(
            &env,
            &["--no-auth", "--json", "mailbox", "status", &to, "--user"],
        )
        .await;
        assert_eq!(out.code, 8, "{out:?}");
        let err: Value = serde_json::from_str(out.stderr.trim()).unwrap();
        assert_eq!(err["error"], "network");
        assert_eq!(err["exit_code"], 8);
        assert!(out.stdout.is_empty(), "{out:?}");
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn subcommands_against_embedded_servers() {
    tokio::time::timeout(LIMIT, async {
        let (emulator, server, env) = servers().await;

        // Login (native-app PKCE through the console), whoami.
        let out = login(&env).await;
        assert_eq!(out.code, 0, "{out:?}");
        assert!(
            out.stdout.contains("Logged in as alice@example.org"),
            "{out:?}"
        );
        let out = academy(&env, &["whoami", "--json"]).await;
        assert_eq!(out.code, 0, "{out:?}");
        let me = out.json();
        assert_eq!(me["username"], defaults::ALICE_USERNAME);
        assert_eq!(me["identity_id"], defaults::ALICE_ID);
        let out = academy(&env, &["whoami"]).await;
        assert_eq!(out.code, 0, "{out:?}");
        assert!(out.stdout.contains("alice@example.org"), "{out:?}");
        assert!(
            !out.stdout.contains('\x1b'),
            "no colours off a terminal: {out:?}"
        );

        // A user mailbox: create, status, heartbeat.
        let out = academy(&env, &["mailbox", "create", "--json", "--name", "inbox"]).await;
        assert_eq!(out.code, 0, "{out:?}");
        let created = out.json();
        assert_eq!(created["mailbox"]["role"], "user");
        let inbox = created["mailbox"]["uid"].as_str().unwrap().to_string();
        let out = academy(&env, &["mailbox", "status", &inbox, "--json"]).await;
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.json()["status"], "INACTIVE", "never beat yet");
        assert_eq!(out.json()["mailbox"]["role"], "user", "role looked up");
        let out = academy(&env, &["mailbox", "heartbeat", &inbox, "--user"]).await;
        assert_eq!(out.code, 0, "{out:?}");
        let out = academy(&env, &["mailbox", "status", &inbox]).await;
        assert_eq!(out.code, 0, "{out:?}");
        assert!(out.stdout.contains("ACTIVE"), "{out:?}");

        // Send to it, receive, listen.
        let out = academy(
            &env,
            &[
                "send",
                "--json",
                "--to",
                &inbox,
                "--to-user",
                "--action",
                "echo",
                r#"["hi"]"#,
            ],
        )
        .await;
        assert_eq!(out.code, 0, "{out:?}");
        let sent = out.json();
        let out = academy(&env, &["recv", &inbox, "--timeout", "5", "--json"]).await;
        assert_eq!(out.code, 0, "{out:?}");
        let msg = out.json();
        assert_eq!(msg["header"]["tag"], sent["tag"]);
        assert_eq!(msg["body"]["action"], "echo");
        assert_eq!(msg["body"]["kind"], "action-request");
        let full_id = format!(r#"{{"uid":"{inbox}","name":null,"role":"user"}}"#);
        for _ in 0..2 {
            let out = run_with(
                command(&env),
                &["send", "--to", &full_id, "-"],
                Some(r#"{"kind": "ping-request"}"#),
            )
            .await;
            assert_eq!(out.code, 0, "{out:?}");
        }
        let out = academy(&env, &["listen", &inbox, "--count", "2", "--timeout", "10"]).await;
        assert_eq!(out.code, 0, "{out:?}");
        let lines: Vec<Value> = out
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{out:?}");
        assert!(lines.iter().all(|m| m["body"]["kind"] == "ping-request"));

        // A request whose answer never comes: --wait times out (exit 7),
        // after the request itself was delivered.
        let out = academy(&env, &["mailbox", "create", "--json"]).await;
        let outbox = out.json()["mailbox"]["uid"].as_str().unwrap().to_string();
        let out = academy(
            &env,
            &[
                "send",
                "--to",
                &inbox,
                "--to-user",
                "--from",
                &outbox,
                "--action",
                "ping",
                "--wait",
                "0.5",
            ],
        )
        .await;
        assert_eq!(out.code, 7, "{out:?}");
        assert!(out.stderr.contains("no response"), "{out:?}");
        let out = academy(&env, &["recv", &inbox, "--timeout", "5", "--json"]).await;
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.json()["header"]["src"]["uid"], outbox.as_str());

        // Nothing left: receive times out (exit 7).
        let out = academy(&env, &["recv", &inbox, "--timeout", "0.5"]).await;
        assert_eq!(out.code, 7, "{out:?}");

        // Unknown mailbox: exit 3.
        let ghost = uuid::Uuid::new_v4().to_string();
        let out = academy(&env, &["mailbox", "status", &ghost]).await;
        assert_eq!(out.code, 3, "{out:?}");
        assert!(out.stderr.contains("unknown mailbox"), "{out:?}");
        let out = academy(
            &env,
            &["send", "--to", &ghost, r#"{"kind": "ping-request"}"#],
        )
        .await;
        assert_eq!(out.code, 3, "{out:?}");

        // An agent mailbox: discover, stats, share.
        let out = academy(
            &env,
            &[
                "mailbox",
                "create",
                "--json",
                "--type",
                "demo.Echo,academy.agent.Agent",
            ],
        )
        .await;
        assert_eq!(out.code, 0, "{out:?}");
        let agent = out.json()["mailbox"]["uid"].as_str().unwrap().to_string();
        let out = academy(&env, &["discover", "demo.Echo", "--json"]).await;
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.json()["agents"], serde_json::json!([agent]));
        let out = academy(
            &env,
            &[
                "discover",
                "academy.agent.Agent",
                "--no-subclasses",
                "--json",
            ],
        )
        .await;
        assert_eq!(out.json()["agents"], serde_json::json!([]));
        let out = academy(&env, &["mailbox", "stats", &agent, "--json"]).await;
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.json()["stats"]["incoming"], 0);
        let out = academy(&env, &["share", "add", &agent, defaults::GROUP_ID]).await;
        assert_eq!(out.code, 0, "{out:?}");
        let out = academy(&env, &["share", "list", &agent, "--json"]).await;
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(
            out.json()["group_ids"],
            serde_json::json!([defaults::GROUP_ID])
        );
        let out = academy(&env, &["share", "remove", &agent, defaults::GROUP_ID]).await;
        assert_eq!(out.code, 0, "{out:?}");

        // Terminated mailbox: status, send and receive exit 4.
        let out = academy(&env, &["mailbox", "terminate", &inbox]).await;
        assert_eq!(out.code, 0, "{out:?}");
        let out = academy(&env, &["mailbox", "status", &inbox, "--json"]).await;
        assert_eq!(out.code, 4, "{out:?}");
        assert_eq!(out.json()["status"], "TERMINATED");
        let out = academy(
            &env,
            &[
                "send",
                "--to",
                &inbox,
                "--to-user",
                r#"{"kind": "ping-request"}"#,
            ],
        )
        .await;
        assert_eq!(out.code, 4, "{out:?}");
        assert!(out.stderr.contains("terminated"), "{out:?}");
        let out = academy(&env, &["recv", &inbox, "--timeout", "1"]).await;
        assert_eq!(out.code, 4, "{out:?}");

        // Revoked tokens: the exchange refuses, the refresh fails, exit 5.
        let tokens = stored_tokens(env.home.path());
        let exchange_tokens = &tokens["DEFAULT"][defaults::EXCHANGE_CLIENT_ID];
        for key in ["access_token", "refresh_token"] {
            assert!(emulator.revoke_token(exchange_tokens[key].as_str().unwrap()));
        }
        let out = academy(&env, &["mailbox", "create"]).await;
        assert_eq!(out.code, 5, "{out:?}");
        assert!(out.stderr.contains("run `academy login`"), "{out:?}");

        // Logout revokes and deletes; then we are logged out.
        let auth_tokens = stored_tokens(env.home.path())["DEFAULT"]["auth.globus.org"].clone();
        let is_revoked = |token: &Value| {
            let key = academy_globus_emulator::secret::digest(token.as_str().unwrap());
            emulator.with_state(|st| st.tokens.get(&key).map(|r| r.revoked))
        };
        assert_eq!(is_revoked(&auth_tokens["refresh_token"]), Some(false));
        let out = academy(&env, &["logout", "--json"]).await;
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(is_revoked(&auth_tokens["access_token"]), Some(true));
        assert_eq!(is_revoked(&auth_tokens["refresh_token"]), Some(true));
        assert_eq!(stored_tokens(env.home.path())["DEFAULT"], Value::Null);
        assert!(
            out.json()["deleted"].as_array().unwrap().len() >= 2,
            "{out:?}"
        );
        let out = academy(&env, &["whoami"]).await;
        assert_eq!(out.code, 5, "{out:?}");

        // A client identity (client credentials) instead of a user.
        let out = academy(
            &env,
            &[
                "login",
                "--client-id",
                defaults::ADMIN_CLIENT_ID,
                "--client-secret",
                defaults::ADMIN_CLIENT_SECRET,
            ],
        )
        .await;
        assert_eq!(out.code, 0, "{out:?}");
        assert!(
            !out.stdout.contains(defaults::ADMIN_CLIENT_SECRET),
            "{out:?}"
        );
        let out = academy(&env, &["whoami", "--json"]).await;
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(
            out.json()["identity_id"],
            format!("{}@clients.auth.globus.org", defaults::ADMIN_CLIENT_ID)
        );
        let out = academy(&env, &["mailbox", "create"]).await;
        assert_eq!(out.code, 0, "{out:?}");
        let out = academy(
            &env,
            &[
                "login",
                "--client-id",
                defaults::ADMIN_CLIENT_ID,
                "--client-secret",
                "wrong",
            ],
        )
        .await;
        assert_eq!(out.code, 5, "{out:?}");

        server.shutdown().await;
        emulator.shutdown().await.unwrap();
    })
    .await
    .expect("test timed out");
}

/// Starts a long-running `academy … serve` and returns it with the URL of
/// its first stdout line.
async fn start_serving(args: &[&str]) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().expect("no listening line");
    let url = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .trim()
        .to_string();
    (child, url)
}

async fn terminate(mut child: tokio::process::Child) -> i32 {
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait().await.unwrap().code().unwrap_or(-1)
}

#[tokio::test]
async fn serve_commands() {
    tokio::time::timeout(LIMIT, async {
        let (exchange, url) = start_serving(&["exchange", "serve", "--port", "0"]).await;
        let env = Env {
            home: tempfile::tempdir().unwrap(),
            auth: "http://127.0.0.1:1/".into(),
            exchange: url,
        };
        let out = academy(&env, &["--no-auth", "mailbox", "create", "--json"]).await;
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.json()["created"], true);
        assert_eq!(terminate(exchange).await, 0, "clean exit on SIGTERM");

        let (emulator, url) = start_serving(&[
            "auth-emulator",
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--auto-approve",
        ])
        .await;
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        assert_eq!(terminate(emulator).await, 0, "clean exit on SIGTERM");

        let out = academy(&env, &["auth-emulator", "env", "--json"]).await;
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(
            out.json()["ACADEMY_EXCHANGE_CLIENT_ID"],
            defaults::EXCHANGE_CLIENT_ID
        );

        let bad = env.home.path().join("bad.toml");
        std::fs::write(&bad, "colour = 'blue'\n").unwrap();
        let out = academy(
            &env,
            &["exchange", "serve", "--config", bad.to_str().unwrap()],
        )
        .await;
        assert_eq!(out.code, 6, "{out:?}");
    })
    .await
    .expect("test timed out");
}

/// `academy agent run` on its own (plain HTTP exchange): an agent mailbox
/// made with `mailbox create --type`, hand-written factory and
/// registration files, `send --wait` answered by the agent, and the agent
/// process exiting 0 once its mailbox is terminated.
#[tokio::test]
async fn agent_run_answers_send_wait() {
    tokio::time::timeout(LIMIT, async {
        let server = academy_exchange_server::serve(
            ServerConfig::default().with_bind("127.0.0.1:0".parse().unwrap()),
        )
        .await
        .unwrap();
        let env = Env {
            home: tempfile::tempdir().unwrap(),
            auth: "http://127.0.0.1:1/".into(),
            exchange: server.base_url(),
        };
        let out = academy(
            &env,
            &[
                "--no-auth",
                "mailbox",
                "create",
                "--json",
                "--name",
                "calc",
                "--type",
                "academy_demo.Calculator,academy.agent.Agent",
            ],
        )
        .await;
        assert_eq!(out.code, 0, "{out:?}");
        let agent = out.json()["mailbox"].clone();
        let uid = agent["uid"].as_str().unwrap().to_string();
        let factory = env.home.path().join("factory.json");
        std::fs::write(
            &factory,
            serde_json::json!({"exchange_type": "http", "factory": {"url": env.exchange}}).to_string(),
        )
        .unwrap();
        let registration = env.home.path().join("registration.json");
        std::fs::write(
            &registration,
            serde_json::json!({"agent_id": agent, "exchange_type": "http"}).to_string(),
        )
        .unwrap();

        let mut cmd = command(&env);
        cmd.args(["agent", "run", "--factory"])
            .arg(&factory)
            .arg("--registration")
            .arg(&registration);
        let mut child = cmd.spawn().unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let ready: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        assert_eq!(ready["ready"], true);
        assert_eq!(ready["agent"], uid.as_str());

        let out = academy(
            &env,
            &["--no-auth", "send", "--json", "--to", &uid, "--action", "add", "[2, 40]", "--wait", "10"],
        )
        .await;
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.json()["result"], 42);
        assert_eq!(out.json()["response"]["body"]["kind"], "action-response");
        let out = academy(
            &env,
            &["--no-auth", "send", "--json", "--to", &uid, "--action", "nope", "--wait", "10"],
        )
        .await;
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.json()["response"]["body"]["kind"], "user-error-response");

        let out = academy(&env, &["--no-auth", "mailbox", "terminate", &uid]).await;
        assert_eq!(out.code, 0, "{out:?}");
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("the agent did not stop after its mailbox was terminated")
            .unwrap();
        assert_eq!(status.code(), Some(0));

        // A registration for a mailbox that does not exist: exit 3.
        std::fs::write(
            &registration,
            serde_json::json!({"agent_id": {"uid": uuid::Uuid::new_v4(), "name": null, "role": "agent"}, "exchange_type": "http"}).to_string(),
        )
        .unwrap();
        let out = run_with(
            command(&env),
            &[
                "agent",
                "run",
                "--factory",
                factory.to_str().unwrap(),
                "--registration",
                registration.to_str().unwrap(),
            ],
            None,
        )
        .await;
        assert_eq!(out.code, 3, "{out:?}");
        server.shutdown().await;
    })
    .await
    .expect("test timed out");
}
