//! The real `academy-exchange-server` binary as a child process, for the
//! scenarios that kill it with SIGKILL and start it again.
//!
//! Cargo builds binaries only for the packages it is asked to build, and
//! `CARGO_BIN_EXE_<name>` exists only inside the binary's own package, so
//! [`server_binary`] looks for `academy-exchange-server` next to the test
//! executable (`target/<profile>/`): `cargo nextest run --workspace` (CI,
//! `cargo xtask test`) builds it there. When it is missing or older than
//! the server's sources (as after `cargo nextest run -p academy-e2e`), it
//! runs `cargo build -p academy-exchange-server` once. The environment
//! variable `ACADEMY_EXCHANGE_SERVER_BIN` overrides the path.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN_NAME: &str = "academy-exchange-server";

/// The workspace root (this crate lives at `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `target/<profile>/` of the running test executable
/// (`target/<profile>/deps/<test>-<hash>`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().unwrap().to_path_buf()
    } else {
        deps.to_path_buf()
    }
}

fn newest_source(dir: &Path, newest: &mut SystemTime) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            newest_source(&path, newest);
        } else if let Ok(modified) = entry.metadata().and_then(|m| m.modified())
            && modified > *newest
        {
            *newest = modified;
        }
    }
}

fn is_fresh(binary: &Path) -> bool {
    let Ok(built) = binary.metadata().and_then(|m| m.modified()) else {
        return false;
    };
    let root = workspace_root();
    let mut newest = SystemTime::UNIX_EPOCH;
    for crate_dir in ["crates/academy-exchange-server", "crates/academy-exchange"] {
        newest_source(&root.join(crate_dir).join("src"), &mut newest);
        newest_source(&root.join(crate_dir).join("Cargo.toml"), &mut newest);
    }
    built >= newest
}

/// Path of an up-to-date server binary (see the module docs).
pub fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("ACADEMY_EXCHANGE_SERVER_BIN") {
        return PathBuf::from(path);
    }
    let binary = profile_dir().join(BIN_NAME);
    if is_fresh(&binary) {
        return binary;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let profile = profile_dir();
    let release = profile.file_name().is_some_and(|n| n == "release");
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args(["build", "--quiet", "-p", BIN_NAME, "--bin", BIN_NAME]);
    if release {
        cmd.arg("--release");
    }
    let status = cmd
        .status()
        .expect("running cargo build for the server binary");
    assert!(status.success(), "cargo build -p {BIN_NAME} failed");
    assert!(
        binary.is_file(),
        "{} missing after the build",
        binary.display()
    );
    binary
}

/// A server child process; killed when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    child: Option<Child>,
    binary: PathBuf,
    config: PathBuf,
    log: PathBuf,
    port: u16,
    log_level: String,
    _dir: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts the binary with `config_toml` (host and port are set on the
    /// command line: 127.0.0.1, a free port) and waits for its
    /// `listening on` line. Its stderr goes to [`ServerProcess::log_path`].
    pub async fn start(config_toml: &str, log_level: &str) -> ServerProcess {
        let binary = tokio::task::spawn_blocking(server_binary).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("exchange.toml");
        std::fs::write(&config, config_toml).unwrap();
        let mut server = ServerProcess {
            child: None,
            binary,
            config,
            log: dir.path().join("server.log"),
            port: 0,
            log_level: log_level.to_string(),
            _dir: dir,
        };
        server.spawn().await;
        server
    }

    async fn spawn(&mut self) {
        assert!(self.child.is_none(), "server already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut child = Command::new(&self.binary)
            .arg("--config")
            .arg(&self.config)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--log-level", &self.log_level])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        let read = tokio::time::timeout(
            Duration::from_secs(30),
            BufReader::new(stdout).read_line(&mut line),
        )
        .await;
        assert!(
            matches!(read, Ok(Ok(n)) if n > 0),
            "server did not print its address; log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        let port = addr.rsplit(':').next().unwrap().parse().unwrap();
        assert!(self.port == 0 || self.port == port);
        self.port = port;
        self.child = Some(child);
    }

    /// `http://127.0.0.1:PORT` (stable across restarts).
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The bound address.
    pub fn addr(&self) -> std::net::SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }

    /// The process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// The file that collects the server's stderr (its log).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// SIGKILL, then waits for the process to be gone.
    pub async fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }

    /// Starts the binary again on the same port.
    pub async fn restart(&mut self) {
        self.spawn().await;
    }

    /// SIGTERM and waits for a clean exit.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()
                    .await;
            }
            let status = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;
            if !matches!(status, Ok(Ok(s)) if s.success()) {
                let _ = child.kill().await;
            }
        }
    }
}

/// The `[backend]` table for a Redis on 127.0.0.1:`port`.
pub fn redis_backend_toml(port: u16) -> String {
    format!("[backend]\nkind = \"redis\"\nhostname = \"127.0.0.1\"\nport = {port}\n")
}
