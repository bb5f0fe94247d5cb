//! `academy-exchange-server --config exchange.toml`: runs the hosted
//! exchange. Without a configuration: in memory, no authentication,
//! 127.0.0.1:8700. The first line on stdout is `listening on http://ADDR`
//! (`https://` when `certfile` is set). Console logs go to stderr; `[logger]
//! logfile` adds a log file (see `academy_exchange_server::logging`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use academy_exchange_server::{ServerConfig, logging, serve};
use clap::Parser;

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "academy-exchange-server",
    version,
    about = "Academy hosted exchange server"
)]
struct Cli {
    /// TOML configuration file (the keys of academy-py's server).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override the bind host.
    #[arg(long)]
    host: Option<String>,
    /// Override the bind port (0 picks a free port).
    #[arg(long)]
    port: Option<u16>,
    /// Also serve the routes under this path prefix (e.g. /v1).
    #[arg(long)]
    prefix: Option<String>,
    /// Console log filter (`tracing` syntax, e.g. `info`); default from
    /// [logger] level. Does not change the log file's level.
    #[arg(long, env = "ACADEMY_EXCHANGE_LOG")]
    log_level: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut config = match &cli.config {
        Some(path) => match ServerConfig::from_file(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {}", error_chain(&e));
                return ExitCode::from(2);
            }
        },
        None => ServerConfig::default(),
    };
    if let Some(host) = cli.host {
        config.host = host;
    }
    if let Some(port) = cli.port {
        config.port = port;
    }
    if let Some(prefix) = cli.prefix {
        config.path_prefix = Some(prefix);
    }
    // Logging comes first, as in Python's `_run`, so that start-up is logged.
    let subscriber = match logging::subscriber(&config.logger, cli.log_level.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            return ExitCode::from(2);
        }
    };
    if let Err(e) = tracing::subscriber::set_global_default(subscriber) {
        eprintln!("error: cannot install the logger: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(config))
}

async fn run(config: ServerConfig) -> ExitCode {
    // Installed before the address is printed, so that a SIGTERM sent as
    // soon as a script reads the line already means a graceful shutdown.
    let signals = Signals::install();
    let server = match serve(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout();
    // Scripts read this line to find the port; a closed stdout is not fatal.
    let _ = writeln!(stdout, "listening on {}", server.base_url());
    let _ = stdout.flush();
    signals.wait().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    ExitCode::SUCCESS
}

/// SIGTERM and ctrl-C.
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let term = match signal(SignalKind::terminate()) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot handle SIGTERM");
                    None
                }
            };
            Signals { term }
        }
        #[cfg(not(unix))]
        {
            Signals {}
        }
    }

    async fn wait(self) {
        #[cfg(unix)]
        {
            if let Some(mut term) = self.term {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
                return;
            }
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
