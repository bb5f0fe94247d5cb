//! The crate's error type for what happens outside the exchange API
//! proper: configuration, logins and the Globus Auth management calls.
//! Every public exchange operation returns
//! [`academy_exchange::ExchangeError`]; this type converts into it.

use academy_exchange::ExchangeError;

/// Failures of [`crate::GlobusApp`], the login flows and the factories'
/// configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GlobusExchangeError {
    /// A configuration value is missing or invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The interactive or automatic login did not produce a code or tokens.
    #[error("login failed: {0}")]
    Login(String),
    /// The Globus Auth API or the exchange HTTP stack failed.
    #[error(transparent)]
    Globus(#[from] academy_globus_client::Error),
    /// Reading the authorization code from the terminal failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<GlobusExchangeError> for ExchangeError {
    fn from(e: GlobusExchangeError) -> Self {
        match e {
            GlobusExchangeError::Globus(g) => crate::error_map::map_error(g, None),
            GlobusExchangeError::Login(m) => ExchangeError::Unauthorized(format!(
                "login failed: {m}; log in again (run `academy login`)"
            )),
            other => ExchangeError::transport(other.to_string(), other),
        }
    }
}
