//! Interop: the real Python globus-sdk (and academy-py) drive an in-process
//! emulator (`tests/py/sdk_interop.py`).
#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns: a panic is a failed assertion.

mod common;

use common::*;
use std::process::Stdio;
use std::time::Duration;

/// The interpreter from `ACADEMY_PY_PYTHON`, or `None` (skip) unless
/// `ACADEMY_REQUIRE_INTEROP=1`.
pub fn python() -> Option<String> {
    match std::env::var("ACADEMY_PY_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(
                std::env::var("ACADEMY_REQUIRE_INTEROP").as_deref() != Ok("1"),
                "ACADEMY_REQUIRE_INTEROP=1 but ACADEMY_PY_PYTHON is unset"
            );
            eprintln!("skipping interop test: ACADEMY_PY_PYTHON is unset");
            None
        }
    }
}

#[tokio::test]
async fn globus_sdk_drives_the_emulator() {
    let Some(python) = python() else { return };
    bounded(async {
        let (h, _http) = start(auto_approve()).await;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/sdk_interop.py");
        let home = tempfile::tempdir().unwrap();
        let out = tokio::time::timeout(
            Duration::from_secs(50),
            tokio::process::Command::new(python)
                .arg(script)
                .envs(h.env().iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .env("ACADEMY_HOME", home.path())
                .env("HOME", home.path())
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("python timed out")
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
        assert_eq!(stdout.lines().last(), Some("OK"), "{stdout}");
        for needle in [
            "ok: UserApp login token",
            "ok: recursive dependent token",
            "ok: academy-py get_auth_headers",
        ] {
            assert!(stdout.contains(needle), "missing {needle}:\n{stdout}");
        }
        h.shutdown().await.unwrap();
    })
    .await;
}
