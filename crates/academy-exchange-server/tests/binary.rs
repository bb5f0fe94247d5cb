//! The `academy-exchange-server` binary: start-up errors and clean exit.

#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
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
        assert!(String::from_utf8_lossy(&out.stderr).contains("TLS"));
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
