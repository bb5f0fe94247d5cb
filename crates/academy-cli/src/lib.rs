//! # academy-cli
//!
//! `academy`, the one command-line entry point of academy-rs.
//!
//! ```text
//! academy demo [--requests N] [--concurrency N] [--json]    # the end-to-end demo
//! academy exchange serve [--config exchange.toml]          # our exchange server
//! academy auth-emulator serve [--auto-approve] ...         # local Globus Auth emulator
//! academy login | logout | whoami
//! academy mailbox create|status|terminate|heartbeat|stats ID
//! academy send --to ID [--from ID] [--action NAME] [BODY|-] [--wait SECS]
//! academy recv ID | listen ID | discover TYPE | share add|list|remove
//! academy completions bash|zsh|fish|...
//! ```
//!
//! Global options: `--exchange URL` (env `ACADEMY_EXCHANGE_URL`, default the
//! hosted exchange), `--auth URL` (else `GLOBUS_SDK_SERVICE_URL_AUTH` /
//! `GLOBUS_SDK_ENVIRONMENT`), `--no-auth` (a server without Globus),
//! `--json` (one JSON document per line; errors as JSON on stderr), `-v`.
//!
//! # Exit codes
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success |
//! | 1 | other error |
//! | 2 | usage error (clap) |
//! | 3 | unknown mailbox (HTTP 404) |
//! | 4 | mailbox terminated (HTTP 419) |
//! | 5 | authentication: not logged in, token expired or revoked, permission denied (401/403) |
//! | 6 | bad input: invalid JSON body, invalid id, invalid configuration |
//! | 7 | timeout |
//! | 8 | network: server unreachable |
//!
//! The constants are in [`error::exit`].

pub mod agent;
pub mod cli;
pub mod commands;
pub mod context;
pub mod demo;
pub mod error;
pub mod ids;
pub mod login_flow;
pub mod output;

use clap::{CommandFactory as _, Parser as _};

use crate::cli::{AgentCommand, Cli, Command, EmulatorCommand, ExchangeCommand};
use crate::context::Context;
use crate::error::{CliError, Result};

/// The log filter of `-v` repeated `verbose` times (`None` without `-v`).
pub fn verbosity_filter(verbose: u8) -> Option<&'static str> {
    match verbose {
        0 => None,
        1 => Some("info"),
        2 => Some("debug"),
        _ => Some("trace"),
    }
}

fn init_tracing(verbose: u8) {
    let Some(level) = verbosity_filter(verbose) else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs one parsed command.
pub async fn run(cli: Cli) -> Result<()> {
    let ctx = Context::new(cli.global.clone());
    match cli.command {
        Command::Demo(args) => demo::run(&ctx, &args).await,
        Command::Exchange(ExchangeCommand::Serve(args)) => {
            commands::serve::exchange(&ctx, &args).await
        }
        Command::AuthEmulator(EmulatorCommand::Serve(args)) => {
            commands::serve::emulator(&ctx, &args).await
        }
        Command::AuthEmulator(EmulatorCommand::Env(args)) => {
            commands::serve::emulator_env(&ctx, &args)
        }
        Command::Login(args) => commands::auth::login(&ctx, &args).await,
        Command::Logout => commands::auth::logout(&ctx).await,
        Command::Whoami => commands::auth::whoami(&ctx).await,
        Command::Mailbox(cmd) => commands::mailbox::run(&ctx, &cmd).await,
        Command::Send(args) => commands::message::send(&ctx, &args).await,
        Command::Recv(args) => commands::message::recv(&ctx, &args).await,
        Command::Listen(args) => commands::message::listen(&ctx, &args).await,
        Command::Discover(args) => commands::mailbox::discover(&ctx, &args).await,
        Command::Share(cmd) => commands::mailbox::share(&ctx, &cmd).await,
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "academy", &mut std::io::stdout());
            Ok(())
        }
        Command::Agent(AgentCommand::Run(args)) => agent::run(&ctx, &args).await,
    }
}

/// The whole program: parse, run, report, exit code.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // `exchange serve` installs the server's logging ([logger] in its TOML).
    if !matches!(cli.command, Command::Exchange(_)) {
        init_tracing(cli.global.verbose);
    }
    let out = output::Output::new(cli.global.json);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            out.error(&CliError::Io {
                context: "cannot start the async runtime".into(),
                source: e,
            });
            return std::process::ExitCode::from(error::exit::OTHER);
        }
    };
    let result = runtime.block_on(run(cli));
    // Background tasks (servers, streams) must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            out.error(&e);
            std::process::ExitCode::from(e.exit_code())
        }
    }
}
