//! `academy-globus-emulator`: serve the local Globus Auth emulator, or print
//! the environment that points clients at it (`env`). Development only.

use academy_globus_emulator::{EmulatorConfig, EmulatorError, Seed, env, serve};
use clap::{Parser, Subcommand};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Local Globus Auth emulator (development only: fixed dev secrets, no real login).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address to listen on (loopback only unless --allow-remote).
    #[arg(long, global = true, default_value = academy_globus_emulator::defaults::BIND)]
    bind: SocketAddr,
    /// Allow a non-loopback --bind address.
    #[arg(long, global = true)]
    allow_remote: bool,
    /// Seed TOML file (users, groups, projects, clients, scopes, settings).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Write the shell-sourceable environment to this file.
    #[arg(long, global = true)]
    env_file: Option<PathBuf>,
    /// JSON file that keeps clients and tokens across restarts.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Approve logins at once (redirect with the code) instead of showing a consent page.
    #[arg(long)]
    auto_approve: bool,
    /// Access-token lifetime in seconds.
    #[arg(long)]
    access_token_lifetime: Option<u64>,
    /// Issue no Globus Groups dependent tokens (academy-py's server then uses no groups).
    #[arg(long)]
    no_groups_tokens: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the environment (for `--bind`) without serving.
    Env,
}

#[derive(Debug, thiserror::Error)]
enum MainError {
    #[error(transparent)]
    Emulator(#[from] EmulatorError),
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot wait for a shutdown signal")]
    Signal(#[source] std::io::Error),
}

fn write_env_file(path: &Path, text: &str) -> Result<(), MainError> {
    let err = |source| MainError::Write {
        path: path.to_owned(),
        source,
    };
    std::fs::write(path, text).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        // It holds (dev) secrets: keep it private like a token store.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    }
    Ok(())
}

/// Shutdown signals, registered before the listening line is printed so
/// that a supervisor reacting to that line cannot kill us ungracefully.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn register() -> Result<Self, MainError> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate()).map_err(MainError::Signal)?,
                int: signal(SignalKind::interrupt()).map_err(MainError::Signal)?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn wait(mut self) -> Result<(), MainError> {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => {}
                _ = self.int.recv() => {}
            }
            Ok(())
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await.map_err(MainError::Signal)
    }
}

async fn run(cli: Cli) -> Result<(), MainError> {
    let seed = match &cli.config {
        Some(path) => Seed::from_file(path)?,
        None => Seed::default(),
    };
    if let Some(Command::Env) = cli.command {
        if !cli.allow_remote && !cli.bind.ip().is_loopback() {
            return Err(EmulatorError::NonLoopback(cli.bind).into());
        }
        let text = env::render(&env::environment(&format!("http://{}/", cli.bind), &seed));
        if let Some(path) = &cli.env_file {
            write_env_file(path, &text)?;
        }
        print!("{text}");
        return Ok(());
    }
    let config = EmulatorConfig {
        bind: cli.bind,
        allow_remote: cli.allow_remote,
        seed,
        state_path: cli.state.clone(),
        auto_approve: cli.auto_approve.then_some(true),
        access_token_lifetime: cli.access_token_lifetime,
        groups_tokens: cli.no_groups_tokens.then_some(false),
    };
    let signals = Signals::register()?;
    let handle = serve(config).await?;
    if let Some(path) = &cli.env_file {
        write_env_file(path, &env::render(&handle.env()))?;
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "academy-globus-emulator listening on {} (DEVELOPMENT ONLY: dev secrets, no real authentication)",
        handle.base_url()
    );
    let _ = out.flush();
    drop(out);
    signals.wait().await?;
    handle.shutdown().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let mut msg = format!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg.push_str(&format!(": {s}"));
                source = s.source();
            }
            eprintln!("{msg}");
            std::process::ExitCode::FAILURE
        }
    }
}
