//! The `academy-exchange-server` binary: start-up errors and clean exit.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use academy_exchange::{EntityId, UserId};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_academy-exchange-server");

#[tokio::test]
async fn bad_configuration_is_a_clear_error() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let dir = tempfile::tempdir().unwrap();
        let missing = Command::new(BIN)
            .args(["--config", "/nonexistent/exchange.toml"])
            .output()
            .await
            .unwrap();
        assert_eq!(missing.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&missing.stderr).contains("cannot read configuration file")
        );
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "[backend]\nmessage_size_limit_kb = 1024\n").unwrap();
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&bad)
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("message_size_limit_kb"));
        let tls = dir.path().join("tls.toml");
        std::fs::write(&tls, "port = 0\ncertfile = 'x.pem'\n").unwrap();
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&tls)
            .output()
            .await
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("TLS certificate file x.pem"), "{stderr}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn prints_address_and_stops_on_sigterm() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let mut child = Command::new(BIN)
            .args(["--port", "0", "--prefix", "/v1"])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .await
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on http://127.0.0.1:")
            .map(str::to_string);
        assert!(base.is_some(), "{line:?}");
        let pid = child.id().unwrap().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .await
                .unwrap()
                .success()
        );
        assert!(child.wait().await.unwrap().success());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn logger_writes_the_log_file_without_secrets() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let dir = tempfile::tempdir().unwrap();
        // Parent directories do not exist yet: the server creates them.
        let logfile = dir.path().join("logs/exchange/server.log");
        let config = dir.path().join("exchange.toml");
        std::fs::write(
            &config,
            format!(
                "port = 0\n[logger]\nlevel = 'WARNING'\nlogfile = '{}'\nlogfile_level = 'INFO'\n\
                 rotate = true\nrotation_interval_days = 1\nbackup_count = 3\n",
                logfile.display()
            ),
        )
        .unwrap();
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .env_remove("ACADEMY_EXCHANGE_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .await
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap()
            .to_string();

        let secret = "AgSecretBearerToken0123456789";
        let user: EntityId = UserId::new(None).into();
        let answer = common::call_raw(
            &common::client(),
            "POST",
            &format!("{base}/mailbox"),
            json!({ "mailbox": user.to_json() }).to_string(),
            &[("authorization", &format!("Bearer {secret}"))],
        )
        .await;
        assert_eq!(answer.status, 200, "{answer:?}");

        let pid = child.id().unwrap().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .await
                .unwrap()
                .success()
        );
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .await
            .unwrap();
        assert!(child.wait().await.unwrap().success());

        let log = std::fs::read_to_string(&logfile).unwrap();
        let uid = user.uid().to_string();
        assert!(
            log.lines()
                .any(|l| l.contains("INFO") && l.contains("mailbox created") && l.contains(&uid)),
            "{log}"
        );
        assert!(log.contains("exchange server listening"), "{log}");
        assert!(!log.contains(secret), "{log}");
        // The file has no colour codes; the console keeps its own level.
        assert!(!log.contains('\u{1b}'), "{log:?}");
        assert!(!stderr.contains("mailbox created"), "{stderr}");
        assert!(!stderr.contains(secret), "{stderr}");
    })
    .await
    .unwrap();
}
