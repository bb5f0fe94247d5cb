//! The academy-py client side: `py/client_driver.py` in a child process,
//! driven over stdio (ready line, `go` line, result line; see the script).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::error::BenchError;
use crate::server_process::script;

/// Set-up (imports, mailboxes, warm-up) bound.
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// A running driver that has reported ready.
#[derive(Debug)]
pub struct PythonDriver {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    // Tracebacks of tasks cancelled at clean-up are noise; the log is
    // shown only when the driver fails.
    log: tempfile::NamedTempFile,
}

impl PythonDriver {
    /// Starts the driver with `params` and waits for its ready line.
    pub async fn start(python: &Path, params: &Value) -> Result<Self, BenchError> {
        let log =
            tempfile::NamedTempFile::new().map_err(|e| BenchError::io("driver log file", e))?;
        let stderr = log
            .reopen()
            .map_err(|e| BenchError::io("driver log file", e))?;
        let mut child = Command::new(python)
            .arg(script("client_driver.py"))
            .arg(params.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BenchError::io("starting the academy-py driver", e))?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| BenchError::Child("driver stdin not captured".into()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| BenchError::Child("driver stdout not captured".into()))?;
        let mut driver = PythonDriver {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            log,
        };
        driver.expect("ready", READY_TIMEOUT).await?;
        Ok(driver)
    }

    /// CPU time and RSS of the driver process now.
    pub fn sample(&self) -> Result<crate::proc_stats::ProcSample, BenchError> {
        self.child
            .id()
            .and_then(crate::proc_stats::sample)
            .ok_or_else(|| BenchError::Child("academy-py driver exited".into()))
    }

    /// Tells the driver to start measuring.
    pub async fn go(&mut self) -> Result<(), BenchError> {
        self.stdin
            .write_all(b"go\n")
            .await
            .and(self.stdin.flush().await)
            .map_err(|e| BenchError::io("writing to the driver", e))
    }

    /// Waits up to `cap` for the result line.
    pub async fn result(&mut self, cap: Duration) -> Result<Value, BenchError> {
        self.expect("result", cap).await
    }

    /// Lets the driver clean up (bounded), then makes sure it is gone.
    pub async fn finish(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    async fn expect(&mut self, event: &str, cap: Duration) -> Result<Value, BenchError> {
        let read = async {
            loop {
                let line = self
                    .lines
                    .next_line()
                    .await
                    .map_err(|e| BenchError::io("reading the driver", e))?
                    .ok_or_else(|| {
                        BenchError::Child(format!("academy-py driver exited before {event:?}"))
                    })?;
                // Anything that is not our JSON (a stray print) is skipped.
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && v.get("event").and_then(Value::as_str) == Some(event)
                {
                    return Ok(v);
                }
            }
        };
        let outcome = match tokio::time::timeout(cap, read).await {
            Ok(r) => r,
            Err(_) => Err(BenchError::Timeout(format!("academy-py driver ({event})"))),
        };
        outcome.map_err(|e| {
            let log = std::fs::read_to_string(self.log.path()).unwrap_or_default();
            let tail: String = log
                .lines()
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            BenchError::Child(format!("{e}; driver stderr (last lines):\n{tail}"))
        })
    }
}
