//! Shared helpers of the workspace end-to-end tests (`tests/tests/*.rs`):
//! bounded waits, the exchange server as a separate process, a failover
//! front for several servers, raw HTTP calls, `/proc` figures and a log
//! capture for the secrets scenario.
//!
//! Scenario sizes come from environment variables so that `cargo xtask
//! soak` runs the same tests longer (see [`size`] and `RELIABILITY.md`).

#![allow(clippy::unwrap_used)] // Test support: a panic is a failed test.

pub mod cutter;
pub mod front;
pub mod http;
pub mod logs;
pub mod procfs;
pub mod server_process;
pub mod traffic;

use std::future::Future;
use std::time::Duration;

/// Runs `fut`, failing the test after `secs` seconds (multiplied by
/// `ACADEMY_SOAK_TIME_FACTOR`, which `cargo xtask soak` raises with the
/// sizes).
pub async fn bounded<T>(secs: u64, fut: impl Future<Output = T>) -> T {
    let secs = secs * size("ACADEMY_SOAK_TIME_FACTOR", 1).max(1);
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .unwrap_or_else(|_| panic!("scenario did not finish within {secs} s"))
}

/// A scenario size: the value of env var `name` if set and valid, else
/// `ci` (the size the test suite runs by default).
pub fn size(name: &str, ci: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ci)
}

/// Prints one measured figure in a form `RELIABILITY.md` quotes
/// (`FIGURE scenario key=value ...`); nextest shows it with
/// `--no-capture` or for failing tests.
pub fn report(scenario: &str, figures: &[(&str, String)]) {
    let text: Vec<String> = figures.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("FIGURE {scenario} {}", text.join(" "));
}

/// Whether the test runs on Linux with `/proc` (the resource figures need it).
pub fn has_procfs() -> bool {
    std::path::Path::new("/proc/self/status").exists()
}
