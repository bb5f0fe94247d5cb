//! The command line: global options, subcommands and their arguments.

use std::path::PathBuf;

use academy_globus_client::Secret;
use clap::{ArgAction, Args, Parser, Subcommand};

/// Exit codes, shown at the end of `academy --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  other error
  2  usage error (bad flags or arguments)
  3  unknown mailbox (HTTP 404)
  4  mailbox terminated (HTTP 419)
  5  authentication: not logged in, token expired or revoked, permission denied (401/403)
  6  bad input: invalid JSON body, invalid mailbox id, invalid configuration
  7  timeout
  8  network: server unreachable

Environment:
  ACADEMY_EXCHANGE_URL          exchange URL (default https://exchange.academy-agents.org/v1)
  GLOBUS_SDK_SERVICE_URL_AUTH   Globus Auth URL (else GLOBUS_SDK_ENVIRONMENT, else production)
  ACADEMY_HOME                  where `academy login` keeps tokens (tokens.json)
  ACADEMY_GLOBUS_CLIENT_ID, ACADEMY_GLOBUS_CLIENT_SECRET
                                log in as a Globus client instead of a user";

/// `academy`: run the Academy exchange demo, serve an exchange or a Globus
/// Auth emulator, log in, and work with mailboxes and messages.
#[derive(Debug, Parser)]
#[command(
    name = "academy",
    version,
    about = "Academy exchange command-line tool",
    long_about = "Academy exchange command-line tool.\n\n\
        Start with `academy demo`: it runs a Globus Auth emulator and an exchange on loopback, \
        logs a user in, registers an agent through the full Globus flow, runs the agent in its \
        own process and measures request round trips.",
    after_long_help = EXIT_CODES_HELP
)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Exchange base URL (default: the hosted exchange).
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "ACADEMY_EXCHANGE_URL",
        help = "Exchange base URL [default: https://exchange.academy-agents.org/v1]"
    )]
    pub exchange: Option<String>,
    /// Globus Auth base URL (default: GLOBUS_SDK_SERVICE_URL_AUTH, else GLOBUS_SDK_ENVIRONMENT's).
    #[arg(long, global = true, value_name = "URL")]
    pub auth: Option<String>,
    /// Talk to the exchange without Globus authentication (a server without authentication).
    #[arg(long, global = true)]
    pub no_auth: bool,
    /// Machine-readable output: one JSON document per line.
    #[arg(long, global = true)]
    pub json: bool,
    /// Log to stderr (-v info, -vv debug, -vvv trace). Tokens are never logged.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the end-to-end demo (embedded servers unless --exchange/--auth are given).
    Demo(DemoArgs),
    /// Run our exchange server.
    #[command(subcommand)]
    Exchange(ExchangeCommand),
    /// Run the local Globus Auth emulator (development only).
    #[command(subcommand)]
    AuthEmulator(EmulatorCommand),
    /// Log in to Globus (native-app PKCE, or a client with --client-id/--client-secret).
    Login(LoginArgs),
    /// Revoke and delete the stored tokens.
    Logout,
    /// Show who is logged in.
    Whoami,
    /// Create, inspect and terminate mailboxes.
    #[command(subcommand)]
    Mailbox(MailboxCommand),
    /// Send a request message to a mailbox.
    Send(SendArgs),
    /// Receive one message from a mailbox.
    Recv(RecvArgs),
    /// Follow a mailbox: one JSON line per message.
    Listen(ListenArgs),
    /// Find agents by type.
    Discover(DiscoverArgs),
    /// Share a mailbox with a Globus group.
    #[command(subcommand)]
    Share(ShareCommand),
    /// Print a shell completion script (e.g. `academy completions bash`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Agent processes started by `academy demo`.
    #[command(subcommand, hide = true)]
    Agent(AgentCommand),
}

/// `academy demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Number of requests to send.
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    pub timeout: f64,
    /// With an external --auth that is our emulator started with --auto-approve: log in
    /// without a person (no URL to open, no code to paste).
    #[arg(long)]
    pub auto_approve: bool,
    /// Globus project for the agent's client (external --auth only; default: your first project).
    #[arg(long, env = "ACADEMY_GLOBUS_PROJECT_ID", value_name = "UUID")]
    pub project: Option<String>,
}

/// `academy exchange …`.
#[derive(Debug, Subcommand)]
pub enum ExchangeCommand {
    /// Serve the exchange until interrupted (prints `listening on URL`).
    Serve(ExchangeServeArgs),
}

/// `academy exchange serve`.
#[derive(Debug, Clone, Args)]
pub struct ExchangeServeArgs {
    /// TOML configuration (academy-py's server keys); default: memory, no auth, 127.0.0.1:8700.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override the bind host.
    #[arg(long)]
    pub host: Option<String>,
    /// Override the bind port (0 picks a free port).
    #[arg(long)]
    pub port: Option<u16>,
    /// Also serve the routes under this path prefix (e.g. /v1).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Console log filter (`tracing` syntax, e.g. `info`); default: -v, else the TOML's logger level.
    #[arg(long, env = "ACADEMY_EXCHANGE_LOG", value_name = "FILTER")]
    pub log_level: Option<String>,
}

/// `academy auth-emulator …`.
#[derive(Debug, Subcommand)]
pub enum EmulatorCommand {
    /// Serve the emulator until interrupted.
    Serve(EmulatorServeArgs),
    /// Print the environment that points clients at an emulator on --bind.
    Env(EmulatorEnvArgs),
}

/// `academy auth-emulator serve` (the flags of `academy-globus-emulator`).
#[derive(Debug, Clone, Args)]
pub struct EmulatorServeArgs {
    /// Address to listen on (loopback only unless --allow-remote).
    #[arg(long, default_value = academy_globus_emulator::defaults::BIND)]
    pub bind: std::net::SocketAddr,
    /// Allow a non-loopback --bind address.
    #[arg(long)]
    pub allow_remote: bool,
    /// Seed TOML file (users, groups, projects, clients, scopes, settings).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Write the shell-sourceable environment to this file.
    #[arg(long)]
    pub env_file: Option<PathBuf>,
    /// JSON file that keeps clients and tokens across restarts.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Approve logins at once instead of showing a consent page.
    #[arg(long)]
    pub auto_approve: bool,
    /// Access-token lifetime in seconds.
    #[arg(long, value_name = "SECS")]
    pub access_token_lifetime: Option<u64>,
    /// Issue no Globus Groups dependent tokens.
    #[arg(long)]
    pub no_groups_tokens: bool,
}

/// `academy auth-emulator env`.
#[derive(Debug, Clone, Args)]
pub struct EmulatorEnvArgs {
    /// Address the emulator listens on.
    #[arg(long, default_value = academy_globus_emulator::defaults::BIND)]
    pub bind: std::net::SocketAddr,
    /// Seed TOML file.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// `academy login`.
#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// Log in as this Globus client (client credentials) instead of a user.
    #[arg(long, env = "ACADEMY_GLOBUS_CLIENT_ID", requires = "client_secret")]
    pub client_id: Option<String>,
    /// The client's secret.
    #[arg(
        long,
        env = "ACADEMY_GLOBUS_CLIENT_SECRET",
        hide_env_values = true,
        value_parser = parse_secret
    )]
    pub client_secret: Option<Secret>,
    /// Also ask for the scope that creates Globus clients (needed to register agents).
    #[arg(long)]
    pub manage_projects: bool,
}

/// Secrets from the command line stay redacted in `Debug`.
fn parse_secret(text: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(text))
}

/// Chooses the role of a bare UUID.
#[derive(Debug, Clone, Copy, Args, Default)]
pub struct RoleArgs {
    /// The id is an agent's.
    #[arg(long, conflicts_with = "user")]
    pub agent: bool,
    /// The id is a user's.
    #[arg(long)]
    pub user: bool,
}

impl RoleArgs {
    /// The role chosen by the flags, if any.
    pub fn role(&self) -> Option<academy_exchange::Role> {
        if self.agent {
            Some(academy_exchange::Role::Agent)
        } else if self.user {
            Some(academy_exchange::Role::User)
        } else {
            None
        }
    }
}

/// A mailbox id argument with its role flags.
#[derive(Debug, Clone, Args)]
pub struct MailboxArgs {
    /// Mailbox id: a UUID (role from --agent/--user, else looked up) or EntityId JSON.
    #[arg(value_name = "ID")]
    pub id: String,
    /// Role flags.
    #[command(flatten)]
    pub role: RoleArgs,
}

/// `academy mailbox …`.
#[derive(Debug, Subcommand)]
pub enum MailboxCommand {
    /// Create a mailbox (a new user mailbox unless an id or --type is given).
    Create(CreateArgs),
    /// Show a mailbox's status and heartbeat age (exit 3 if missing, 4 if terminated).
    Status(MailboxArgs),
    /// Terminate a mailbox.
    Terminate(MailboxArgs),
    /// Record a heartbeat for a mailbox.
    Heartbeat(MailboxArgs),
    /// Show an agent mailbox's request statistics.
    Stats(MailboxArgs),
}

/// `academy mailbox create`.
#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// Existing id to register (UUID or EntityId JSON); default: a new one.
    #[arg(value_name = "ID")]
    pub id: Option<String>,
    /// Role flags (default user, or agent with --type).
    #[command(flatten)]
    pub role: RoleArgs,
    /// Display name of a new id.
    #[arg(long)]
    pub name: Option<String>,
    /// Register an agent of this type: its MRO, most-derived first (e.g. `demo.Echo,academy.agent.Agent`).
    #[arg(long = "type", value_name = "MRO")]
    pub agent_type: Option<String>,
}

/// `academy send`.
#[derive(Debug, Clone, Args)]
pub struct SendArgs {
    /// Destination mailbox (UUID of an agent unless --to-user, or EntityId JSON).
    #[arg(long, value_name = "ID")]
    pub to: String,
    /// The destination is a user mailbox.
    #[arg(long)]
    pub to_user: bool,
    /// Sender mailbox (UUID of a user, or EntityId JSON); default: a new user mailbox.
    #[arg(long, value_name = "ID")]
    pub from: Option<String>,
    /// Message body as JSON (`-` or absent: read stdin). With --action: the
    /// positional arguments as a JSON array (or {"args": [...], "kwargs": {...}}; absent: none).
    #[arg(value_name = "BODY")]
    pub body: Option<String>,
    /// Build an action request for this action instead of taking a whole body.
    #[arg(long)]
    pub action: Option<String>,
    /// Wait up to SECS for the response on the sender mailbox and print it.
    #[arg(long, value_name = "SECS")]
    pub wait: Option<f64>,
}

/// `academy recv`.
#[derive(Debug, Clone, Args)]
pub struct RecvArgs {
    /// The mailbox to receive from.
    #[command(flatten)]
    pub mailbox: MailboxArgs,
    /// Seconds to wait for a message (the server caps it).
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub timeout: f64,
}

/// `academy listen`.
#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// The mailbox to follow.
    #[command(flatten)]
    pub mailbox: MailboxArgs,
    /// Stop after this many messages.
    #[arg(long)]
    pub count: Option<usize>,
    /// Stop (exit 7) when no message arrives for this many seconds.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
}

/// `academy discover`.
#[derive(Debug, Clone, Args)]
pub struct DiscoverArgs {
    /// Agent type, `<module>.<ClassName>`.
    #[arg(value_name = "TYPE")]
    pub agent_type: String,
    /// Only agents of exactly this type.
    #[arg(long)]
    pub no_subclasses: bool,
}

/// `academy share …`.
#[derive(Debug, Subcommand)]
pub enum ShareCommand {
    /// Share a mailbox with a group.
    Add {
        /// The mailbox.
        #[command(flatten)]
        mailbox: MailboxArgs,
        /// Globus group id.
        #[arg(value_name = "GROUP")]
        group: String,
    },
    /// List the groups a mailbox is shared with.
    List {
        /// The mailbox.
        #[command(flatten)]
        mailbox: MailboxArgs,
    },
    /// Stop sharing a mailbox with a group.
    Remove {
        /// The mailbox.
        #[command(flatten)]
        mailbox: MailboxArgs,
        /// Globus group id.
        #[arg(value_name = "GROUP")]
        group: String,
    },
}

/// `academy agent …` (hidden).
#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Serve a registered agent until its mailbox is terminated.
    Run(AgentRunArgs),
}

/// `academy agent run`.
#[derive(Debug, Clone, Args)]
pub struct AgentRunArgs {
    /// The factory JSON shipped by the launcher.
    #[arg(long)]
    pub factory: PathBuf,
    /// The registration JSON shipped by the launcher.
    #[arg(long)]
    pub registration: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn client_secret_is_redacted() {
        let cli = Cli::try_parse_from([
            "academy",
            "login",
            "--client-id",
            "id",
            "--client-secret",
            "s3cr3t-value",
        ])
        .unwrap();
        assert!(!format!("{cli:?}").contains("s3cr3t-value"));
    }

    #[test]
    fn role_flags_conflict() {
        let r = Cli::try_parse_from(["academy", "mailbox", "status", "x", "--agent", "--user"]);
        assert!(r.is_err());
    }
}
