//! A private `redis-server` per test.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// Options for [`RedisServer::start_with`].
#[derive(Debug, Clone, Default)]
pub struct RedisOptions {
    /// Append-only persistence (for restart tests).
    pub appendonly: bool,
    /// Reuse this data directory (and port) instead of fresh ones, e.g. to restart a server.
    pub dir: Option<PathBuf>,
    /// Bind this port instead of a free one.
    pub port: Option<u16>,
    /// More `redis-server` arguments, one per token (redis-server quotes
    /// each), e.g. `["--user", "alice", "on", ">pw", "~*", "&*", "+@all"]`;
    /// the default user must stay able to `PING`, which signals readiness.
    pub extra_args: Vec<String>,
}

/// A `redis-server` child process on 127.0.0.1, killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    port: u16,
    dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl RedisServer {
    /// Starts a server with no persistence on a free port and waits until it answers PING.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(RedisOptions::default()).await
    }

    /// Starts a server with options.
    pub async fn start_with(opts: RedisOptions) -> anyhow::Result<Self> {
        let binary = find_binary()?;
        let mut last_err = None;
        // A free port can be taken between probing and binding; try a few.
        for _ in 0..5 {
            let port = match opts.port {
                Some(p) => p,
                None => crate::free_port()?,
            };
            let (tmp, dir) = match &opts.dir {
                Some(d) => (None, d.clone()),
                None => {
                    let t = tempfile::tempdir()?;
                    let p = t.path().to_path_buf();
                    (Some(t), p)
                }
            };
            let mut cmd = Command::new(&binary);
            cmd.args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
            ])
            .args(["--appendonly", if opts.appendonly { "yes" } else { "no" }])
            .args([
                "--appendfsync",
                "always",
                "--protected-mode",
                "no",
                "--daemonize",
                "no",
            ])
            .arg("--dir")
            .arg(&dir)
            .args(&opts.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
            let child = cmd
                .spawn()
                .with_context(|| format!("starting {}", binary.display()))?;
            let mut server = RedisServer {
                child,
                port,
                dir,
                _tmp: tmp,
            };
            match server.wait_ready(Duration::from_secs(10)).await {
                Ok(()) => return Ok(server),
                Err(e) => {
                    let _ = server.child.start_kill();
                    last_err = Some(e);
                    if opts.port.is_some() {
                        break;
                    }
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("redis-server did not start")))
    }

    async fn wait_ready(&mut self, limit: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("redis-server exited early with {status}");
            }
            if ping(self.port).await.is_ok() {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "redis-server on port {} not ready within {limit:?}",
                    self.port
                );
            }
            // Polling a child process has no event to await; back off briefly.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The data directory (for restarting with persistence).
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Kills the server at once (SIGKILL) and waits for it to exit.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

async fn ping(port: u16) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream.write_all(b"PING\r\n").await?;
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).await?;
    if &buf == b"+PONG\r\n" {
        Ok(())
    } else {
        bail!("unexpected PING reply")
    }
}

fn find_binary() -> anyhow::Result<PathBuf> {
    let candidates = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("redis-server"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    candidates
        .into_iter()
        .chain([PathBuf::from("/usr/bin/redis-server"), PathBuf::from("/usr/local/bin/redis-server")])
        .find(|p| p.is_file())
        .context("redis-server is not installed: run `cargo xtask test` (it installs it) or `apt-get install -y redis-server`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn starts_answers_and_stops() {
        let mut server = tokio::time::timeout(Duration::from_secs(20), RedisServer::start())
            .await
            .unwrap()
            .unwrap();
        ping(server.port()).await.unwrap();
        let port = server.port();
        server.kill().await.unwrap();
        assert!(ping(port).await.is_err());
    }
}
