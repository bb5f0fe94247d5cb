//! The CLI's error type and its exit codes.
//!
//! Every failure becomes a [`CliError`]; [`CliError::exit_code`] tells
//! scripts what kind of failure it was, and the message says what to do.

use academy_exchange::ExchangeError;
use academy_globus_client::Error as ClientError;

/// Process exit codes of `academy` (also listed in `academy --help`).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Any other error.
    pub const OTHER: u8 = 1;
    /// Usage error (bad flags or arguments; reported by clap).
    pub const USAGE: u8 = 2;
    /// The mailbox does not exist (HTTP 404).
    pub const UNKNOWN_MAILBOX: u8 = 3;
    /// The mailbox was terminated (HTTP 419).
    pub const TERMINATED: u8 = 4;
    /// Not logged in, token expired or revoked, or permission denied (401/403).
    pub const AUTH: u8 = 5;
    /// Bad input: invalid JSON body, invalid mailbox id, bad configuration.
    pub const BAD_INPUT: u8 = 6;
    /// Timed out (no message in time, HTTP 408, demo deadline).
    pub const TIMEOUT: u8 = 7;
    /// Network error: server unreachable, connection refused or reset.
    pub const NETWORK: u8 = 8;
}

/// Result alias of this crate.
pub type Result<T, E = CliError> = std::result::Result<T, E>;

/// Every failure of the `academy` tool.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The mailbox is unknown to the exchange.
    #[error(
        "unknown mailbox {mailbox}: check the id (and --agent/--user), or create it with `academy mailbox create`"
    )]
    UnknownMailbox {
        /// The mailbox, as the user gave it.
        mailbox: String,
    },
    /// The mailbox was terminated.
    #[error("mailbox {mailbox} was terminated")]
    Terminated {
        /// The mailbox, as the user gave it.
        mailbox: String,
    },
    /// No usable credentials.
    #[error("{reason}: run `academy login`")]
    LoginRequired {
        /// Why.
        reason: String,
    },
    /// The exchange rejected the token.
    #[error("token expired or revoked: run `academy login`")]
    TokenRejected {
        /// The server's answer.
        #[source]
        source: ClientError,
    },
    /// The caller may not use this mailbox.
    #[error(
        "permission denied: this identity may not use {mailbox} (is it yours, or shared with one of your groups?)"
    )]
    Forbidden {
        /// The mailbox, as the user gave it.
        mailbox: String,
        /// The server's answer.
        #[source]
        source: ClientError,
    },
    /// Bad input from the user.
    #[error("{0}")]
    BadInput(String),
    /// Something took too long.
    #[error("{0}")]
    Timeout(String),
    /// The server could not be reached.
    #[error("cannot reach {what}: is the server running and the URL right?")]
    Network {
        /// Which server.
        what: String,
        /// The connection error.
        #[source]
        source: ClientError,
    },
    /// Another API or client error.
    #[error("{context}")]
    Client {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: ClientError,
    },
    /// An exchange-level error (messages, ids).
    #[error("{context}")]
    Exchange {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: ExchangeError,
    },
    /// A local I/O failure.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The embedded exchange server failed.
    #[error("exchange server")]
    Server(#[source] academy_exchange_server::ServerError),
    /// The embedded Globus Auth emulator failed.
    #[error("Globus Auth emulator")]
    Emulator(#[source] academy_globus_emulator::EmulatorError),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// The process exit code for this error (see [`exit`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::UnknownMailbox { .. } => exit::UNKNOWN_MAILBOX,
            CliError::Terminated { .. } => exit::TERMINATED,
            CliError::LoginRequired { .. }
            | CliError::TokenRejected { .. }
            | CliError::Forbidden { .. } => exit::AUTH,
            CliError::BadInput(_) => exit::BAD_INPUT,
            CliError::Timeout(_) => exit::TIMEOUT,
            CliError::Network { .. } => exit::NETWORK,
            CliError::Client { source, .. } => client_exit_code(source),
            CliError::Exchange { source, .. } => match source {
                ExchangeError::InvalidMessage(_) => exit::BAD_INPUT,
                _ => exit::OTHER,
            },
            CliError::Io { .. }
            | CliError::Server(_)
            | CliError::Emulator(_)
            | CliError::Other(_) => exit::OTHER,
        }
    }

    /// A short machine-readable name of the error kind (the `error` field
    /// of `--json` error output).
    pub fn kind(&self) -> &'static str {
        match self.exit_code() {
            exit::UNKNOWN_MAILBOX => "unknown_mailbox",
            exit::TERMINATED => "mailbox_terminated",
            exit::AUTH => "authentication",
            exit::BAD_INPUT => "bad_input",
            exit::TIMEOUT => "timeout",
            exit::NETWORK => "network",
            _ => "error",
        }
    }

    /// Maps a client error met while working on `mailbox` (the user's
    /// spelling of it) against the server `what`.
    pub fn from_client(err: ClientError, mailbox: Option<&str>, what: &str) -> CliError {
        let mailbox_text = mailbox.unwrap_or("the mailbox").to_string();
        match &err {
            ClientError::LoginRequired { reason } => login_required(reason),
            ClientError::Transport { .. } => CliError::Network {
                what: what.to_string(),
                source: err,
            },
            ClientError::Timeout => CliError::Timeout(format!("{what} did not answer in time")),
            ClientError::Api(api) => match api.http_status {
                404 => CliError::UnknownMailbox {
                    mailbox: mailbox_text,
                },
                419 => CliError::Terminated {
                    mailbox: mailbox_text,
                },
                408 => CliError::Timeout("no message arrived in time".into()),
                401 => CliError::TokenRejected { source: err },
                403 if api.text.contains("Incorrect permissions") => CliError::Forbidden {
                    mailbox: mailbox_text,
                    source: err,
                },
                403 => CliError::TokenRejected { source: err },
                400 | 413 => CliError::BadInput(format!("{what} rejected the request: {api}")),
                _ => CliError::Client {
                    context: format!("{what} failed"),
                    source: err,
                },
            },
            _ => CliError::Client {
                context: format!("{what} failed"),
                source: err,
            },
        }
    }

    /// The message with its chain of causes, `: `-separated.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            let s_text = s.to_string();
            if !text.contains(&s_text) {
                text.push_str(": ");
                text.push_str(&s_text);
            }
            source = s.source();
        }
        text
    }
}

fn login_required(reason: &str) -> CliError {
    let reason = if reason.starts_with("no stored tokens") {
        format!("not logged in ({reason})")
    } else {
        format!("login expired or revoked ({reason})")
    };
    CliError::LoginRequired { reason }
}

fn client_exit_code(e: &ClientError) -> u8 {
    match e {
        ClientError::Transport { .. } => exit::NETWORK,
        ClientError::Timeout => exit::TIMEOUT,
        ClientError::LoginRequired { .. } => exit::AUTH,
        ClientError::Config(_) => exit::BAD_INPUT,
        ClientError::Api(api) => match api.http_status {
            401 | 403 => exit::AUTH,
            404 => exit::UNKNOWN_MAILBOX,
            419 => exit::TERMINATED,
            408 => exit::TIMEOUT,
            400 | 413 => exit::BAD_INPUT,
            _ => exit::OTHER,
        },
        _ => exit::OTHER,
    }
}

/// Wraps a client error with context (no mailbox involved).
pub fn client(context: impl Into<String>) -> impl FnOnce(ClientError) -> CliError {
    let context = context.into();
    move |source| match source {
        ClientError::LoginRequired { reason } => login_required(&reason),
        ClientError::Transport { .. } => CliError::Network {
            what: context,
            source,
        },
        source => CliError::Client { context, source },
    }
}

/// Wraps an I/O error with context.
pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
    let context = context.into();
    move |source| CliError::Io { context, source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use academy_globus_client::ApiError;

    fn api(status: u16, text: &str) -> ClientError {
        ApiError::from_response(
            http::StatusCode::from_u16(status).unwrap(),
            &http::HeaderMap::new(),
            text.as_bytes(),
            false,
        )
        .into()
    }

    #[test]
    fn statuses_map_to_exit_codes() {
        let m = |s, t| CliError::from_client(api(s, t), Some("X"), "the exchange");
        assert_eq!(
            m(404, "Unknown mailbox ID").exit_code(),
            exit::UNKNOWN_MAILBOX
        );
        assert_eq!(m(419, "Mailbox was closed").exit_code(), exit::TERMINATED);
        let expired = m(403, "Token expired or revoked.");
        assert_eq!(expired.exit_code(), exit::AUTH);
        assert!(expired.to_string().contains("academy login"));
        let perm = m(403, "Incorrect permissions");
        assert!(perm.to_string().contains("permission denied"));
        assert_eq!(
            m(400, "Missing or invalid field").exit_code(),
            exit::BAD_INPUT
        );
        assert_eq!(m(408, "Request timeout").exit_code(), exit::TIMEOUT);
        assert_eq!(m(500, "boom").exit_code(), exit::OTHER);
        assert_eq!(
            CliError::from_client(ClientError::LoginRequired { reason: "r".into() }, None, "x")
                .exit_code(),
            exit::AUTH
        );
    }
}
