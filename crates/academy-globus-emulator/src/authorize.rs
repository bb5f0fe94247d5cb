//! The browser side of the authorization-code flow: the authorize endpoint
//! with its consent page (or immediate approval with `--auto-approve`) and
//! the `/v2/web/auth-code` page that shows the code, as Globus's does.

use crate::error::ApiError;
use crate::model::AuthCode;
use crate::request::Form;
use crate::secret::{digest, random_token};
use crate::server::{Shared, lock};
use crate::state::State;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State as AxState};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use url::Url;
use uuid::Uuid;

/// Authorization codes live this long (emulated seconds).
const CODE_LIFETIME_SECS: u64 = 600;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v2/oauth2/authorize", get(authorize).post(decide))
        .route("/v2/web/auth-code", get(auth_code_page))
}

/// A validated authorize request.
struct AuthorizeRequest {
    client_id: Uuid,
    client_name: String,
    redirect_uri: String,
    scopes: Vec<Uuid>,
    state: Option<String>,
    code_challenge: Option<String>,
    offline: bool,
}

fn is_loopback(uri: &Url) -> bool {
    match uri.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn redirect_allowed(client: &crate::model::Client, uri: &Url, base: &str) -> bool {
    if client.redirect_uris.iter().any(|r| r == uri.as_str()) {
        return true;
    }
    // Globus lets every client use its own code-display page: here, the
    // emulator's page, reached by its URL or any loopback name.
    let own_host = Url::parse(base).is_ok_and(|b| b.host_str() == uri.host_str());
    if uri.path() == "/v2/web/auth-code" && (own_host || is_loopback(uri)) {
        return true;
    }
    // Native apps may redirect to a local listener.
    client.is_public() && uri.scheme() == "http" && is_loopback(uri)
}

fn validate(st: &State, form: &Form, base: &str) -> Result<AuthorizeRequest, ApiError> {
    let client_id = form.require("client_id")?;
    let client = Uuid::parse_str(client_id)
        .ok()
        .and_then(|id| st.clients.get(&id))
        .ok_or_else(|| ApiError::invalid_request(format!("Unknown client_id: {client_id}")))?;
    if form.get("response_type") != Some("code") {
        return Err(ApiError::invalid_request("response_type must be 'code'"));
    }
    let redirect_uri = form.require("redirect_uri")?;
    let parsed = Url::parse(redirect_uri)
        .map_err(|_| ApiError::invalid_request("redirect_uri is not a URL"))?;
    if !redirect_allowed(client, &parsed, base) {
        return Err(ApiError::invalid_request(format!(
            "redirect_uri {redirect_uri} is not allowed for this client"
        )));
    }
    let scopes = st.resolve_scopes(form.require("scope")?)?;
    let code_challenge = form.get("code_challenge").map(str::to_owned);
    match (form.get("code_challenge_method"), &code_challenge) {
        (Some("S256"), Some(_)) | (None, None) => {}
        (None, Some(_)) | (Some(_), _) => {
            return Err(ApiError::invalid_request(
                "code_challenge_method must be S256 with a code_challenge",
            ));
        }
    }
    if client.is_public() && code_challenge.is_none() {
        return Err(ApiError::invalid_request(
            "Public clients must use PKCE (code_challenge)",
        ));
    }
    Ok(AuthorizeRequest {
        client_id: client.id,
        client_name: client.name.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scopes,
        state: form.get("state").map(str::to_owned),
        code_challenge,
        offline: form.get("access_type") == Some("offline"),
    })
}

fn redirect(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location.to_owned())]).into_response()
}

fn approve(shared: &Shared, req: &AuthorizeRequest, identity: Uuid) -> Result<Response, ApiError> {
    let code = random_token();
    {
        let mut st = lock(&shared.state);
        for s in &req.scopes {
            st.record_consent(identity, *s);
        }
        st.codes.insert(
            digest(&code),
            AuthCode {
                client_id: req.client_id,
                identity_id: identity,
                scopes: req.scopes.clone(),
                redirect_uri: req.redirect_uri.clone(),
                code_challenge: req.code_challenge.clone(),
                offline: req.offline,
                state: req.state.clone(),
                expires_at: shared.now() + CODE_LIFETIME_SECS,
                used: false,
            },
        );
    }
    shared.changed();
    let mut url = Url::parse(&req.redirect_uri)
        .map_err(|_| ApiError::invalid_request("redirect_uri is not a URL"))?;
    url.query_pairs_mut().append_pair("code", &code);
    if let Some(s) = &req.state {
        url.query_pairs_mut().append_pair("state", s);
    }
    Ok(redirect(url.as_str()))
}

async fn authorize(
    AxState(shared): AxState<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = query.unwrap_or_default();
    let form = Form::parse(query.as_bytes())?;
    let settings = shared.settings();
    let (req, users) = {
        let st = lock(&shared.state);
        let req = validate(&st, &form, &shared.base_url)?;
        let users: Vec<(Uuid, String)> = st
            .users
            .values()
            .map(|u| (u.id, u.username.clone()))
            .collect();
        (req, users)
    };
    if settings.auto_approve {
        return approve(&shared, &req, settings.default_user);
    }
    Ok(consent_page(&req, &users, settings.default_user, &query).into_response())
}

async fn decide(AxState(shared): AxState<Arc<Shared>>, body: Bytes) -> Result<Response, ApiError> {
    let form = Form::parse(&body)?;
    let req = validate(&lock(&shared.state), &form, &shared.base_url)?;
    if form.get("decision") != Some("allow") {
        let mut url = Url::parse(&req.redirect_uri)
            .map_err(|_| ApiError::invalid_request("redirect_uri is not a URL"))?;
        url.query_pairs_mut().append_pair("error", "access_denied");
        if let Some(s) = &req.state {
            url.query_pairs_mut().append_pair("state", s);
        }
        return Ok(redirect(url.as_str()));
    }
    let identity = {
        let st = lock(&shared.state);
        let key = form.require("identity")?;
        st.find_user(key)
            .map(|u| u.id)
            .ok_or_else(|| ApiError::invalid_request(format!("Unknown identity: {key}")))?
    };
    approve(&shared, &req, identity)
}

/// Minimal HTML escaping for text and attribute values.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn consent_page(
    req: &AuthorizeRequest,
    users: &[(Uuid, String)],
    default: Uuid,
    query: &str,
) -> Html<String> {
    let hidden: String = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                esc(&k),
                esc(&v)
            )
        })
        .collect();
    let options: String = users
        .iter()
        .map(|(id, name)| {
            let sel = if *id == default { " selected" } else { "" };
            format!("<option value=\"{id}\"{sel}>{}</option>\n", esc(name))
        })
        .collect();
    Html(format!(
        "<!doctype html>\n<html><head><title>Globus Auth emulator: consent</title></head><body>\n\
         <p><strong>Development only</strong>: local Globus Auth emulator.</p>\n\
         <h1>{} would like to access your account</h1>\n\
         <form method=\"post\" action=\"/v2/oauth2/authorize\">\n{hidden}\
         <label>Log in as <select name=\"identity\">\n{options}</select></label>\n\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\n\
         </form></body></html>\n",
        esc(&req.client_name)
    ))
}

async fn auth_code_page(RawQuery(query): RawQuery) -> Result<Html<String>, ApiError> {
    let form = Form::parse(query.unwrap_or_default().as_bytes())?;
    if let Some(error) = form.get("error") {
        return Ok(Html(format!(
            "<!doctype html>\n<html><body><h1>Login failed</h1><p id=\"error\">{}</p></body></html>\n",
            esc(error)
        )));
    }
    let code = form.require("code")?;
    Ok(Html(format!(
        "<!doctype html>\n<html><head><title>Native App Authorization Code</title></head><body>\n\
         <p><strong>Development only</strong>: local Globus Auth emulator.</p>\n\
         <p>Copy this code and paste it into your application:</p>\n\
         <pre><code id=\"auth-code\">{}</code></pre></body></html>\n",
        esc(code)
    )))
}
