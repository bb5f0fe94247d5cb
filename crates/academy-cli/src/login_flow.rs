//! `academy login`'s PKCE login: the console flow that keeps stdout clean
//! (prompts go to stderr, so `--json` output stays parseable), and the
//! login itself for any [`LoginFlow`] (the emulator's auto-approve flow is
//! [`academy_globus_exchange::AutoApproveLoginFlow`]).

use academy_globus_client::login::{AuthorizeRequest, Pkce, exchange_code};
use academy_globus_client::{AuthClient, TokenResponse};
use academy_globus_exchange::{GlobusExchangeError, LoginFlow};
use tokio::io::AsyncBufReadExt as _;
use url::Url;

use crate::error::{CliError, Result, client};

/// Prints the URL on stderr and reads the code from stdin, as academy-py's
/// command-line login does (academy-py prints to stdout).
#[derive(Debug, Default, Clone, Copy)]
pub struct ConsoleLoginFlow;

#[async_trait::async_trait]
impl LoginFlow for ConsoleLoginFlow {
    async fn authorization_code(&self, url: &Url) -> Result<String, GlobusExchangeError> {
        eprintln!("Please visit the following url to authenticate:\n{url}\n");
        eprint!("Enter the auth code: ");
        let mut line = String::new();
        let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
        let n = stdin.read_line(&mut line).await?;
        let code = line.trim().to_string();
        if n == 0 || code.is_empty() {
            return Err(GlobusExchangeError::Login(
                "no auth code was entered".into(),
            ));
        }
        Ok(code)
    }
}

/// This machine's name for the named-grant prefill (`academy on <host>`).
pub fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "localhost".into())
}

/// Runs a native-app PKCE login for `scopes` through `flow`.
pub async fn login(
    auth: &AuthClient,
    flow: &dyn LoginFlow,
    scopes: Vec<String>,
) -> Result<TokenResponse> {
    let pkce = Pkce::generate();
    let request = AuthorizeRequest::academy(auth.base_url(), scopes, &hostname());
    let url = request.url(auth.base_url(), &pkce);
    let code = flow.authorization_code(&url).await.map_err(|e| match e {
        GlobusExchangeError::Login(reason) => CliError::LoginRequired {
            reason: format!("login failed ({reason})"),
        },
        other => CliError::Other(format!("login failed: {other}")),
    })?;
    exchange_code(auth, &request, &pkce, &code)
        .await
        .map_err(|e| match e.http_status() {
            Some(400 | 401) => CliError::LoginRequired {
                reason: format!("the auth code was rejected ({e})"),
            },
            _ => client("Globus Auth token exchange")(e),
        })
}
