//! `academy exchange serve` and `academy auth-emulator serve|env`: the
//! embedded servers as long-running commands.

use std::io::Write as _;
use std::path::Path;

use academy_exchange_server::ServerConfig;
use academy_globus_emulator::{EmulatorConfig, Seed, env};
use serde_json::json;

use crate::cli::{EmulatorEnvArgs, EmulatorServeArgs, ExchangeServeArgs};
use crate::context::Context;
use crate::error::{CliError, Result, io};

/// Shutdown signals, registered before the listening line is printed so
/// that a supervisor reacting to the line cannot kill us ungracefully.
pub(crate) struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    pub(crate) fn register() -> Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                term: signal(SignalKind::terminate()).map_err(io("cannot watch SIGTERM"))?,
                int: signal(SignalKind::interrupt()).map_err(io("cannot watch SIGINT"))?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    pub(crate) async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn announce(ctx: &Context, what: &str, url: &str, extra: serde_json::Value) {
    let mut v = json!({ "listening": url, "server": what });
    if let (Some(obj), serde_json::Value::Object(more)) = (v.as_object_mut(), extra) {
        obj.extend(more);
    }
    // Scripts read this first line to find the port.
    ctx.out.emit(&v, || format!("listening on {url}"));
    let _ = std::io::stdout().flush();
}

/// `academy exchange serve`.
pub async fn exchange(ctx: &Context, args: &ExchangeServeArgs) -> Result<()> {
    let mut config = match &args.config {
        Some(path) => ServerConfig::from_file(path).map_err(|e| {
            CliError::BadInput(format!(
                "invalid exchange configuration {}: {}",
                path.display(),
                crate::error::CliError::Server(e).chain()
            ))
        })?,
        None => ServerConfig::default(),
    };
    if let Some(host) = &args.host {
        config.host = host.clone();
    }
    if let Some(port) = args.port {
        config.port = port;
    }
    if let Some(prefix) = &args.prefix {
        config.path_prefix = Some(prefix.clone());
    }
    // The server's own logging: [logger] level and logfile, as its binary.
    let filter = args
        .log_level
        .clone()
        .or_else(|| crate::verbosity_filter(ctx.global.verbose).map(str::to_string));
    let subscriber =
        academy_exchange_server::logging::subscriber(&config.logger, filter.as_deref())
            .map_err(|e| CliError::BadInput(format!("logging: {}", CliError::Server(e).chain())))?;
    // Fails only if a subscriber is already installed, which -v does not
    // do for this command.
    let _ = tracing::subscriber::set_global_default(subscriber);
    let signals = Signals::register()?;
    let server = academy_exchange_server::serve(config)
        .await
        .map_err(CliError::Server)?;
    announce(ctx, "exchange", &server.base_url(), json!({}));
    signals.wait().await;
    ctx.out.note("shutting down");
    server.shutdown().await;
    Ok(())
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    let ctx = format!("cannot write {}", path.display());
    std::fs::write(path, text).map_err(io(ctx.clone()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        // It holds (dev) secrets: keep it private like a token store.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io(ctx))?;
    }
    Ok(())
}

fn load_seed(path: Option<&Path>) -> Result<Seed> {
    match path {
        Some(p) => Seed::from_file(p).map_err(|e| {
            CliError::BadInput(format!(
                "invalid emulator seed {}: {}",
                p.display(),
                CliError::Emulator(e).chain()
            ))
        }),
        None => Ok(Seed::default()),
    }
}

/// `academy auth-emulator serve`.
pub async fn emulator(ctx: &Context, args: &EmulatorServeArgs) -> Result<()> {
    let config = EmulatorConfig {
        bind: args.bind,
        allow_remote: args.allow_remote,
        seed: load_seed(args.config.as_deref())?,
        state_path: args.state.clone(),
        auto_approve: args.auto_approve.then_some(true),
        access_token_lifetime: args.access_token_lifetime,
        groups_tokens: args.no_groups_tokens.then_some(false),
    };
    let signals = Signals::register()?;
    let handle = academy_globus_emulator::serve(config)
        .await
        .map_err(CliError::Emulator)?;
    if let Some(path) = &args.env_file {
        write_private(path, &env::render(&handle.env()))?;
    }
    ctx.out
        .note("Globus Auth emulator: DEVELOPMENT ONLY (dev secrets, no real authentication)");
    announce(
        ctx,
        "auth-emulator",
        handle.base_url(),
        json!({ "development_only": true }),
    );
    signals.wait().await;
    ctx.out.note("shutting down");
    handle.shutdown().await.map_err(CliError::Emulator)?;
    Ok(())
}

/// `academy auth-emulator env`.
pub fn emulator_env(ctx: &Context, args: &EmulatorEnvArgs) -> Result<()> {
    if !args.bind.ip().is_loopback() {
        return Err(CliError::BadInput(format!(
            "--bind {} is not a loopback address",
            args.bind
        )));
    }
    let seed = load_seed(args.config.as_deref())?;
    let vars = env::environment(&format!("http://{}/", args.bind), &seed);
    let map: serde_json::Map<String, serde_json::Value> =
        vars.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    ctx.out
        .emit(&serde_json::Value::Object(map), || env::render(&vars));
    Ok(())
}
