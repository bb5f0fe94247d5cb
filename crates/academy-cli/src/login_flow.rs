//! `academy login`'s PKCE login for any [`LoginFlow`]: the console flow
//! ([`academy_globus_exchange::ConsoleLoginFlow`], prompting on stderr so
//! `--json` output stays parseable) or the emulator's auto-approve flow
//! ([`academy_globus_exchange::AutoApproveLoginFlow`]).

use academy_globus_client::login::{AuthorizeRequest, Pkce, exchange_code};
use academy_globus_client::{AuthClient, TokenResponse};
use academy_globus_exchange::{GlobusExchangeError, LoginFlow};

use crate::error::{CliError, Result, client};

/// Runs a native-app PKCE login for `scopes` through `flow`.
pub async fn login(
    auth: &AuthClient,
    flow: &dyn LoginFlow,
    scopes: Vec<String>,
) -> Result<TokenResponse> {
    let pkce = Pkce::generate();
    let request = AuthorizeRequest::academy(
        auth.base_url(),
        scopes,
        &academy_globus_exchange::app::hostname(),
    );
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
