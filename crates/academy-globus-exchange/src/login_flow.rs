//! How a user grants consent during a native-app login: the flow gets the
//! authorize URL and returns the authorization code
//! (`globus-exchange-client.md` §4.2).

use std::fmt::Debug;

use async_trait::async_trait;
use http::{HeaderMap, Method};
use url::Url;

use crate::error::GlobusExchangeError;

/// Obtains an authorization code for an authorize URL.
#[async_trait]
pub trait LoginFlow: Send + Sync + Debug {
    /// Lets the user (or the emulator) approve `authorize_url` and returns
    /// the code the redirect carries.
    async fn authorization_code(&self, authorize_url: &Url) -> Result<String, GlobusExchangeError>;
}

/// academy-py's command-line flow: shows the URL, reads the code from
/// standard input.
///
/// The prompt goes to standard error (academy-py prints it on standard
/// output), so that a program's own output, e.g. `academy --json`, stays
/// clean.
///
/// ```no_run
/// use std::sync::Arc;
/// use academy_globus_exchange::{ConsoleLoginFlow, GlobusApp, GlobusAppConfig};
/// let app = GlobusApp::user(GlobusAppConfig::from_env().unwrap(), Arc::new(ConsoleLoginFlow), None);
/// # let _ = app;
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct ConsoleLoginFlow;

#[async_trait]
impl LoginFlow for ConsoleLoginFlow {
    async fn authorization_code(&self, authorize_url: &Url) -> Result<String, GlobusExchangeError> {
        use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
        let mut out = tokio::io::stderr();
        let prompt = format!(
            "Please visit the following url to authenticate:\n{authorize_url}\nEnter the auth code: "
        );
        out.write_all(prompt.as_bytes()).await?;
        out.flush().await?;
        let mut line = String::new();
        let n = tokio::io::BufReader::new(tokio::io::stdin())
            .read_line(&mut line)
            .await?;
        let code = line.trim();
        if n == 0 || code.is_empty() {
            return Err(GlobusExchangeError::Login(
                "no authorization code entered".into(),
            ));
        }
        Ok(code.to_string())
    }
}

/// **For the Globus Auth emulator only** (started with auto-approve):
/// requests the authorize URL and takes the code from the redirect, as if
/// the default user had clicked "Allow". Real Globus Auth answers with a
/// login page, which this flow reports as an error.
#[derive(Debug, Default, Clone, Copy)]
pub struct AutoApproveLoginFlow;

#[async_trait]
impl LoginFlow for AutoApproveLoginFlow {
    async fn authorization_code(&self, authorize_url: &Url) -> Result<String, GlobusExchangeError> {
        let http = academy_globus_client::HttpClient::builder(authorize_url.clone())
            .retry(academy_globus_client::RetryPolicy::none())
            .build()?;
        let resp = http
            .execute(
                Method::GET,
                authorize_url.as_str(),
                academy_globus_client::http::RequestBody::Empty,
                HeaderMap::new(),
            )
            .await?;
        let location = resp
            .headers
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                GlobusExchangeError::Login(format!(
                    "the authorize URL answered {} without a redirect (is the emulator's auto-approve on?)",
                    resp.status
                ))
            })?;
        let redirect = Url::parse(location)
            .map_err(|e| GlobusExchangeError::Login(format!("invalid redirect location: {e}")))?;
        let mut code = None;
        for (k, v) in redirect.query_pairs() {
            match k.as_ref() {
                "code" => code = Some(v.into_owned()),
                "error" => {
                    return Err(GlobusExchangeError::Login(format!(
                        "authorization refused: {v}"
                    )));
                }
                _ => {}
            }
        }
        code.ok_or_else(|| GlobusExchangeError::Login("the redirect carries no code".into()))
    }
}
