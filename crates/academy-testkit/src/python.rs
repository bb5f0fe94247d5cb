//! Locating the academy-py 1.0.0 interpreter for interop tests.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};

/// Environment variable naming the Python interpreter that has academy-py 1.0.0.
pub const PYTHON_ENV: &str = "ACADEMY_PY_PYTHON";

/// Environment variable that turns a missing interpreter into a test failure.
pub const REQUIRE_ENV: &str = "ACADEMY_REQUIRE_INTEROP";

/// True when interop tests must run (`ACADEMY_REQUIRE_INTEROP=1`).
pub fn required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

/// The interpreter to use, or `None` when the test should skip.
///
/// Panics when interop is required and no usable interpreter is configured:
/// under `cargo xtask test` a missing peer is a failure, not a skip.
pub fn interpreter() -> Option<PathBuf> {
    match std::env::var_os(PYTHON_ENV).map(PathBuf::from) {
        Some(path) if path.exists() => Some(path),
        Some(path) => {
            let reason = format!("{PYTHON_ENV}={} does not exist", path.display());
            skip_or_fail(&reason)
        }
        None => skip_or_fail(&format!(
            "{PYTHON_ENV} is not set (run `cargo xtask test`, which creates the academy-py 1.0.0 venv)"
        )),
    }
}

fn skip_or_fail(reason: &str) -> Option<PathBuf> {
    if required() {
        panic!("interop test required ({REQUIRE_ENV}=1) but {reason}");
    }
    eprintln!("skipping interop test: {reason}");
    None
}

/// Output of a finished Python script.
#[derive(Debug)]
pub struct ScriptOutput {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `python script args…` with extra environment variables, bounded by
/// `timeout`, and fails with the script's stderr when it exits non-zero.
pub async fn run_script(
    python: &std::path::Path,
    script: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
    timeout: Duration,
) -> anyhow::Result<ScriptOutput> {
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(script)
        .args(args)
        .envs(env.iter().copied())
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", python.display()))?;
    let out = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .with_context(|| format!("{} did not finish within {timeout:?}", script.display()))??;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        bail!(
            "{} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            script.display(),
            out.status
        );
    }
    Ok(ScriptOutput { stdout, stderr })
}
