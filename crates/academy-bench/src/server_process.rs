//! Exchange servers as separate processes, so that their CPU time and
//! memory can be read from `/proc` without the client's.
//!
//! * ours: this binary's hidden `serve-exchange` subcommand, which embeds
//!   `academy_exchange_server::serve` exactly as the
//!   `academy-exchange-server` binary does (same runtime, warn-level log);
//! * academy-py's: `py/server.py`, the same aiohttp application as
//!   `python -m academy.exchange.cloud --config FILE`.
//!
//! Both are given a TOML file with the keys of academy-py's configuration,
//! bind 127.0.0.1 on a free port, and print `listening on http://ADDR` as
//! their first line on stdout: the harness waits for that line.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::error::BenchError;
use crate::proc_stats::{self, ProcSample};

/// How long a server may take to print its first line.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Which server implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Implementation {
    /// academy-rs.
    Rust,
    /// academy-py 1.0.0.
    Python,
}

impl Implementation {
    /// `rs` or `py`.
    pub fn short(self) -> &'static str {
        match self {
            Implementation::Rust => "rs",
            Implementation::Python => "py",
        }
    }
}

/// The mailbox store of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// In memory.
    Memory,
    /// A private redis-server.
    Redis,
}

impl Backend {
    /// `memory` or `redis`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::Redis => "redis",
        }
    }
}

/// What to put in a server's configuration file.
#[derive(Debug, Clone, Default)]
pub struct ServerSettings {
    /// `listen_timeout_s` (default 60).
    pub listen_timeout_s: Option<u64>,
    /// Redis port when the backend is Redis.
    pub redis_port: Option<u16>,
    /// `[auth]` section text (Globus), already formatted.
    pub auth_section: Option<String>,
}

impl ServerSettings {
    /// The TOML text (academy-py's keys, understood by both servers).
    pub fn toml(&self) -> String {
        let mut text = format!(
            "host = \"127.0.0.1\"\nport = 0\nlisten_timeout_s = {}\n",
            self.listen_timeout_s.unwrap_or(60)
        );
        if let Some(port) = self.redis_port {
            text.push_str(&format!(
                "[backend]\nkind = \"redis\"\nhostname = \"127.0.0.1\"\nport = {port}\n"
            ));
        }
        if let Some(auth) = &self.auth_section {
            text.push_str(auth);
        }
        text.push_str("[logger]\nlevel = \"WARNING\"\n");
        text
    }
}

/// A running server process, killed when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    pid: u32,
    base_url: String,
    _dir: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts a server and waits for its `listening on` line.
    pub async fn start(
        implementation: Implementation,
        settings: &ServerSettings,
        python: &Path,
    ) -> Result<Self, BenchError> {
        let dir = tempfile::tempdir().map_err(|e| BenchError::io("temporary directory", e))?;
        let config = dir.path().join("exchange.toml");
        std::fs::write(&config, settings.toml()).map_err(|e| BenchError::Write {
            path: config.clone(),
            source: e,
        })?;
        let log = dir.path().join("server.log");
        let mut cmd = match implementation {
            Implementation::Rust => {
                let exe = std::env::current_exe()
                    .map_err(|e| BenchError::io("locating academy-bench", e))?;
                let mut c = Command::new(exe);
                c.arg("serve-exchange").arg("--config").arg(&config);
                c
            }
            Implementation::Python => {
                let mut c = Command::new(python);
                c.arg(script("server.py")).arg(&config);
                c
            }
        };
        let stderr = std::fs::File::create(&log).map_err(|e| BenchError::Write {
            path: log.clone(),
            source: e,
        })?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| BenchError::io(format!("starting the {implementation:?} server"), e))?;
        let pid = child
            .id()
            .ok_or_else(|| BenchError::Child("server exited at once".into()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| BenchError::Child("server stdout not captured".into()))?;
        let mut lines = BufReader::new(stdout);
        let mut first = String::new();
        let read = tokio::time::timeout(START_TIMEOUT, lines.read_line(&mut first)).await;
        let base_url = match read {
            Ok(Ok(n)) if n > 0 => first
                .trim()
                .strip_prefix("listening on ")
                .map(|u| u.trim_end_matches('/').to_string()),
            _ => None,
        };
        let Some(base_url) = base_url else {
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(BenchError::Child(format!(
                "{implementation:?} server did not announce its address (first line {first:?}); log:\n{}",
                tail(&log_text, 2000)
            )));
        };
        // Whatever else the server prints must not fill the pipe.
        tokio::spawn(async move {
            let mut sink = Vec::new();
            let _ = lines.read_to_end(&mut sink).await;
        });
        Ok(ServerProcess {
            child,
            pid,
            base_url,
            _dir: dir,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// CPU time and RSS now.
    pub fn sample(&self) -> Result<ProcSample, BenchError> {
        proc_stats::sample(self.pid).ok_or_else(|| {
            BenchError::Child(format!("cannot read /proc/{} (server gone?)", self.pid))
        })
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// Path of a Python script shipped in `crates/academy-bench/py/`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("py").join(name)
}

fn tail(text: &str, max: usize) -> &str {
    let start = text.len().saturating_sub(max);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    &text[start..]
}

/// The hidden `serve-exchange` subcommand: our server in this process.
pub fn serve_exchange(config: &Path) -> Result<(), BenchError> {
    use std::io::Write as _;
    let config = academy_exchange_server::ServerConfig::from_file(config)?;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .with_writer(std::io::stderr)
        .init();
    // The runtime of the `academy-exchange-server` binary: tokio's
    // multi-thread default.
    let runtime = tokio::runtime::Runtime::new().map_err(|e| BenchError::io("tokio runtime", e))?;
    runtime.block_on(async {
        let server = academy_exchange_server::serve(config).await?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "listening on {}", server.base_url())
            .and_then(|_| stdout.flush())
            .map_err(|e| BenchError::io("stdout", e))?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| BenchError::io("SIGTERM handler", e))?;
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        server.shutdown().await;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_text_parses_in_our_server() {
        let s = ServerSettings {
            listen_timeout_s: Some(600),
            redis_port: Some(7000),
            auth_section: None,
        };
        let c = academy_exchange_server::ServerConfig::from_toml_str(&s.toml()).unwrap();
        assert_eq!(c.listen_timeout_s, 600);
        assert!(matches!(
            c.backend,
            academy_exchange_server::BackendConfig::Redis(_)
        ));
    }

    #[test]
    fn tail_respects_char_boundaries() {
        assert_eq!(tail("héllo", 4), "llo");
        assert_eq!(tail("abc", 10), "abc");
    }
}
