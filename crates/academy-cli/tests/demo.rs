//! `academy demo` end to end: embedded emulator and exchange, the agent in
//! its own process, every request answered and everything cleaned up.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a panic is a failed assertion

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_academy");

async fn demo(args: &[&str]) -> (i32, Value, String) {
    let home = tempfile::tempdir().unwrap();
    let child = tokio::process::Command::new(BIN)
        .arg("demo")
        .args(args)
        // The demo must not need (or touch) a real token store.
        .env("ACADEMY_HOME", home.path().join("must-not-be-used"))
        .env_remove("ACADEMY_EXCHANGE_URL")
        .env_remove("GLOBUS_SDK_SERVICE_URL_AUTH")
        .env_remove("ACADEMY_GLOBUS_CLIENT_ID")
        .env_remove("ACADEMY_GLOBUS_CLIENT_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the demo took more than 120 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("report is not JSON ({e}):\n{stdout}\n{stderr}"));
    assert!(
        !home.path().join("must-not-be-used").exists(),
        "the demo touched ACADEMY_HOME"
    );
    (out.status.code().unwrap_or(-1), report, stderr)
}

fn check_report(code: i32, report: &Value, stderr: &str, requests: u64) {
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["requests"], requests);
    assert_eq!(report["responses"], requests);
    assert_eq!(report["errors"], 0);
    assert_eq!(report["agent_exit_code"], 0);
    let l = &report["latency_ms"];
    let (p50, p99) = (l["p50"].as_f64().unwrap(), l["p99"].as_f64().unwrap());
    assert!(p50 > 0.0 && p50 <= p99, "{l}");
    assert!(report["messages_per_second"].as_f64().unwrap() > 0.0);
    // The agent saw every request plus the warm-up ping.
    assert_eq!(
        report["agent_stats"]["completed"],
        requests + 1,
        "{report:#}"
    );
    let created = report["created"].as_array().unwrap();
    assert!(
        created.iter().all(|i| i["cleaned_up"] == true),
        "{report:#}"
    );
    let kinds: Vec<&str> = created.iter().filter_map(|i| i["kind"].as_str()).collect();
    assert!(kinds.contains(&"user mailbox"), "{kinds:?}");
    assert!(kinds.contains(&"agent mailbox"), "{kinds:?}");
}

#[tokio::test]
async fn demo_with_globus_exits_zero_and_reports() {
    let (code, report, stderr) = demo(&["--requests", "20", "--json", "--timeout", "90"]).await;
    check_report(code, &report, &stderr, 20);
    assert_eq!(report["embedded"], true);
    assert!(
        report["auth"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    let kinds: Vec<&str> = report["created"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"Globus client (agent)"), "{kinds:?}");
    assert_eq!(report["user"], "alice@example.org");
    // --json keeps stderr free of the human step notes.
    assert!(!stderr.contains("• "), "{stderr}");
}

#[tokio::test]
async fn demo_without_auth() {
    let (code, report, stderr) = demo(&[
        "--no-auth",
        "--requests",
        "10",
        "--concurrency",
        "2",
        "--json",
    ])
    .await;
    check_report(code, &report, &stderr, 10);
    assert_eq!(report["auth"], Value::Null);
}

#[tokio::test]
async fn demo_rejects_bad_arguments() {
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(BIN)
            .args(["demo", "--requests", "0"])
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(out.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--requests"));
}

/// Starts `academy … serve` and returns it with the URL of its first line.
async fn serving(args: &[&str]) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt as _;
    let mut child = tokio::process::Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().expect("no listening line");
    let url = line
        .strip_prefix("listening on ")
        .unwrap()
        .trim()
        .to_string();
    (child, url)
}

/// `--exchange`/`--auth`: the demo against servers it did not start — our
/// `academy exchange serve` (Globus auth from a TOML file) and
/// `academy auth-emulator serve --auto-approve`, as separate processes.
#[tokio::test]
async fn demo_against_external_servers() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let dir = tempfile::tempdir().unwrap();
        let (_emulator, auth) = serving(&[
            "auth-emulator",
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--auto-approve",
        ])
        .await;
        let config = dir.path().join("exchange.toml");
        std::fs::write(
            &config,
            format!(
                "host = \"127.0.0.1\"\nport = 0\n[auth]\nmethod = \"globus\"\n[auth.kwargs]\n\
                 client_id = \"{}\"\nclient_secret = \"{}\"\nauth_base_url = \"{auth}\"\n\
                 groups_base_url = \"{auth}\"\n",
                academy_globus_emulator::defaults::EXCHANGE_CLIENT_ID,
                academy_globus_emulator::defaults::EXCHANGE_CLIENT_SECRET,
            ),
        )
        .unwrap();
        let (_exchange, exchange) = serving(&[
            "exchange",
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--prefix",
            "/v1",
        ])
        .await;
        let home = dir.path().join("home");
        let out = tokio::process::Command::new(BIN)
            .args(["demo", "--requests", "10", "--json", "--auto-approve"])
            .args(["--exchange", &format!("{exchange}/v1"), "--auth", &auth])
            .env("ACADEMY_HOME", &home)
            .env_remove("ACADEMY_GLOBUS_CLIENT_ID")
            .env_remove("ACADEMY_GLOBUS_CLIENT_SECRET")
            .env_remove("ACADEMY_GLOBUS_PROJECT_ID")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let report: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("report is not JSON ({e}):\n{stdout}\n{stderr}"));
        check_report(out.status.code().unwrap_or(-1), &report, &stderr, 10);
        assert_eq!(report["embedded"], false);
        assert_eq!(report["auth"], auth.as_str());
        // With external servers the user's token store is used.
        assert!(home.join("tokens.json").exists());
    })
    .await
    .expect("test timed out");
}

/// Interop: the demo (Rust user and Rust agent process) against academy-py
/// 1.0.0's own exchange server, without authentication.
#[tokio::test]
async fn demo_against_the_python_exchange() {
    use tokio::io::AsyncBufReadExt as _;
    let Some(python) = academy_testkit::python::interpreter() else {
        return;
    };
    tokio::time::timeout(Duration::from_secs(120), async {
        let dir = tempfile::tempdir().unwrap();
        let port = academy_testkit::free_port().unwrap();
        let config = dir.path().join("exchange.toml");
        std::fs::write(
            &config,
            format!("host = \"127.0.0.1\"\nport = {port}\n[logger]\nlevel = \"INFO\"\n"),
        )
        .unwrap();
        let mut server = tokio::process::Command::new(python)
            .args(["-m", "academy.exchange.cloud", "--config"])
            .arg(&config)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(server.stdout.take().unwrap()).lines();
        loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("the Python server exited");
            if line.contains("Exchange listening on") {
                break;
            }
        }
        // Keep reading so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let (code, report, stderr) = demo(&[
            "--no-auth",
            "--exchange",
            &format!("http://127.0.0.1:{port}"),
            "--requests",
            "20",
            "--json",
        ])
        .await;
        check_report(code, &report, &stderr, 20);
        assert_eq!(report["embedded"], false);
        server.kill().await.unwrap();
    })
    .await
    .expect("test timed out");
}

/// The human report: text on stdout, step notes on stderr, no colours and
/// no progress bar off a terminal.
#[tokio::test]
async fn demo_human_report() {
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(BIN)
            .args(["demo", "--requests", "6"])
            .env("ACADEMY_HOME", "/nonexistent/academy-home")
            .env_remove("ACADEMY_EXCHANGE_URL")
            .env_remove("GLOBUS_SDK_SERVICE_URL_AUTH")
            .env_remove("ACADEMY_GLOBUS_CLIENT_ID")
            .env_remove("ACADEMY_GLOBUS_CLIENT_SECRET")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("demo passed: 6/6 requests answered"),
        "{stdout}"
    );
    assert!(stdout.contains("p50") && stdout.contains("p99"), "{stdout}");
    assert!(stdout.contains("Globus client (agent)"), "{stdout}");
    assert!(!stdout.contains('\x1b'), "{stdout}");
    assert!(stderr.contains("registering the agent"), "{stderr}");
    assert!(
        !stderr.contains("requests (eta"),
        "no progress bar off a terminal: {stderr}"
    );
}
