//! `academy login`, `academy logout`, `academy whoami`.

use std::sync::Arc;

use academy_globus_client::authorizer::{StoredCredentials, stored_authorizer};
use academy_globus_client::config as gconfig;
use academy_globus_client::token::TokenData;
use academy_globus_client::{AuthClient, TokenResponse, TokenStore};
use serde_json::{Value, json};

use crate::cli::LoginArgs;
use crate::context::{Context, NAMESPACE};
use crate::error::{CliError, Result, client};
use crate::login_flow::login as pkce_login;
use crate::output::Colour;
use academy_globus_exchange::ConsoleLoginFlow;
use academy_globus_exchange::LoginFlow;

/// Scopes of a user login: the exchange, OpenID identity, and optionally
/// `manage_projects` (to create agent clients).
pub fn user_scopes(exchange_scope: &str, manage_projects: bool) -> Vec<String> {
    let mut scopes = vec![
        exchange_scope.to_string(),
        "openid".into(),
        "profile".into(),
        "email".into(),
    ];
    if manage_projects {
        scopes.push(gconfig::MANAGE_PROJECTS_SCOPE.into());
    }
    scopes
}

/// Who a set of tokens belongs to, from userinfo (best effort).
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// Identity id (`sub`).
    pub id: Option<String>,
    /// Username.
    pub username: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Display name.
    pub name: Option<String>,
}

impl Identity {
    fn to_json(&self) -> Value {
        json!({
            "identity_id": self.id,
            "username": self.username,
            "email": self.email,
            "name": self.name,
        })
    }

    /// The best short label.
    pub fn label(&self) -> String {
        self.username
            .clone()
            .or_else(|| self.email.clone())
            .or_else(|| self.id.clone())
            .unwrap_or_else(|| "unknown identity".into())
    }
}

/// Asks userinfo who the `auth.globus.org` token belongs to.
pub async fn userinfo(
    config: academy_globus_client::AuthClientConfig,
    store: Arc<TokenStore>,
    native: AuthClient,
) -> Result<Identity> {
    let authorizer = stored_authorizer(
        store,
        NAMESPACE,
        gconfig::AUTH_RESOURCE_SERVER,
        StoredCredentials::User(native),
    )
    .map_err(client("stored credentials"))?;
    let service =
        AuthClient::service(Arc::new(authorizer), config).map_err(client("Globus Auth client"))?;
    let info = service
        .userinfo()
        .await
        .map_err(|e| match e.http_status() {
            Some(401 | 403) => CliError::LoginRequired {
                reason: "the stored token was rejected".into(),
            },
            _ => client("Globus Auth userinfo")(e),
        })?;
    let text = |k: &str| {
        info.extra
            .get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Ok(Identity {
        id: Some(info.sub.clone()),
        username: text("preferred_username"),
        email: info.email.clone(),
        name: text("name"),
    })
}

/// Stores a login's tokens, tagged with the identity.
pub fn store_tokens(
    store: &TokenStore,
    response: &TokenResponse,
    identity: Option<&str>,
) -> Result<Vec<TokenData>> {
    let tokens: Vec<TokenData> = response
        .by_resource_server()
        .into_values()
        .map(|mut t| {
            if t.identity_id.is_none() {
                t.identity_id = identity.map(str::to_string);
            }
            t
        })
        .collect();
    store
        .store(NAMESPACE, &tokens)
        .map_err(|e| CliError::Other(format!("cannot save tokens: {e}")))?;
    Ok(tokens)
}

fn token_rows(tokens: &[TokenData]) -> Vec<Value> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    tokens
        .iter()
        .map(|t| {
            json!({
                "resource_server": t.resource_server,
                "scope": t.scope,
                "expires_at_seconds": t.expires_at_seconds,
                "expires_in_seconds": t.expires_at_seconds - now,
                "refreshable": t.refresh_token.is_some(),
            })
        })
        .collect()
}

/// `academy login`.
pub async fn login(ctx: &Context, args: &LoginArgs) -> Result<()> {
    let store = ctx.token_store()?;
    let scope = ctx.exchange_scope();
    if let (Some(id), Some(secret)) = (&args.client_id, &args.client_secret) {
        let auth = AuthClient::confidential(id.clone(), secret.clone(), ctx.auth_config()?)
            .map_err(client("Globus Auth client"))?;
        let resp = auth
            .oauth2_client_credentials_tokens(&[scope.as_str()])
            .await
            .map_err(|e| match e.http_status() {
                Some(400 | 401) => CliError::LoginRequired {
                    reason: format!("client credentials rejected ({e})"),
                },
                _ => client("Globus Auth")(e),
            })?;
        let identity = format!("{id}@clients.auth.globus.org");
        let tokens = store_tokens(&store, &resp, Some(&identity))?;
        let v = json!({ "logged_in": true, "identity": identity, "client_id": id,
            "token_store": store.path(), "tokens": token_rows(&tokens) });
        ctx.out.emit(&v, || {
            format!(
                "{} as client {}\ntokens saved in {}",
                ctx.out.paint("Logged in", Colour::Green),
                id,
                store.path().display()
            )
        });
        return Ok(());
    }
    let native = ctx.native_auth()?;
    let flow: &dyn LoginFlow = &ConsoleLoginFlow;
    let resp = pkce_login(&native, flow, user_scopes(&scope, args.manage_projects)).await?;
    store_tokens(&store, &resp, None)?;
    let identity = userinfo(ctx.auth_config()?, store.clone(), native)
        .await
        .unwrap_or_default();
    // Record the identity now that it is known (the token response has none).
    let tokens = store_tokens(&store, &resp, identity.id.as_deref())?;
    let mut v =
        json!({ "logged_in": true, "token_store": store.path(), "tokens": token_rows(&tokens) });
    if let Some(obj) = v.as_object_mut() {
        obj.insert("identity".into(), identity.to_json());
    }
    ctx.out.emit(&v, || {
        format!(
            "{} as {}\ntokens saved in {}",
            ctx.out.paint("Logged in", Colour::Green),
            identity.label(),
            store.path().display()
        )
    });
    Ok(())
}

/// `academy logout`.
pub async fn logout(ctx: &Context) -> Result<()> {
    let store = ctx.token_store()?;
    let tokens = store
        .get_all(NAMESPACE)
        .map_err(|e| CliError::Other(format!("cannot read tokens: {e}")))?;
    let auth = ctx.native_auth()?;
    let mut revoked = Vec::new();
    let mut warnings = Vec::new();
    for (rs, t) in &tokens {
        let mut ok = true;
        for secret in std::iter::once(&t.access_token).chain(t.refresh_token.as_ref()) {
            if let Err(e) = auth.oauth2_revoke_token(secret).await {
                ok = false;
                warnings.push(format!("could not revoke the token for {rs}: {e}"));
            }
        }
        if ok {
            revoked.push(rs.clone());
        }
    }
    store
        .clear(NAMESPACE)
        .map_err(|e| CliError::Other(format!("cannot delete tokens: {e}")))?;
    let v = json!({ "logged_out": true, "revoked": revoked, "deleted": tokens.keys().collect::<Vec<_>>(), "warnings": warnings });
    for w in &warnings {
        ctx.out.note(format!("warning: {w}"));
    }
    ctx.out.emit(&v, || {
        if tokens.is_empty() {
            "No stored tokens; nothing to do.".into()
        } else {
            format!(
                "{}: revoked and deleted the tokens for {} resource server(s)",
                ctx.out.paint("Logged out", Colour::Green),
                tokens.len()
            )
        }
    });
    Ok(())
}

/// `academy whoami`.
pub async fn whoami(ctx: &Context) -> Result<()> {
    let store = ctx.token_store()?;
    let tokens: Vec<TokenData> = store
        .get_all(NAMESPACE)
        .map_err(|e| CliError::Other(format!("cannot read tokens: {e}")))?
        .into_values()
        .collect();
    if tokens.is_empty() {
        return Err(CliError::LoginRequired {
            reason: format!("no stored tokens in {}", store.path().display()),
        });
    }
    let has_auth = tokens
        .iter()
        .any(|t| t.resource_server == gconfig::AUTH_RESOURCE_SERVER);
    let identity = if has_auth {
        userinfo(ctx.auth_config()?, store.clone(), ctx.native_auth()?).await?
    } else {
        Identity {
            id: tokens.iter().find_map(|t| t.identity_id.clone()),
            ..Identity::default()
        }
    };
    let rows = token_rows(&tokens);
    let mut v = identity.to_json();
    if let Some(obj) = v.as_object_mut() {
        obj.insert("token_store".into(), json!(store.path()));
        obj.insert("tokens".into(), Value::Array(rows.clone()));
    }
    ctx.out.emit(&v, || {
        let mut text = ctx.out.fields(&[
            ("identity", identity.label()),
            ("id", identity.id.clone().unwrap_or_default()),
            ("token store", store.path().display().to_string()),
        ]);
        text.push('\n');
        text.push_str(
            &ctx.out.table(
                &["resource server", "expires in", "refreshable"],
                rows.iter()
                    .map(|r| {
                        vec![
                            r["resource_server"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string(),
                            format!("{}s", r["expires_in_seconds"]),
                            r["refreshable"].to_string(),
                        ]
                    })
                    .collect(),
            ),
        );
        text
    });
    Ok(())
}
