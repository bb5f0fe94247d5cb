//! OAuth2 endpoints: token (all grants), introspection, revocation,
//! userinfo, and the OpenID discovery documents.

use crate::error::ApiError;
use crate::grants::{self, GrantContext};
use crate::model::{Client, TokenKind};
use crate::request::{Form, basic_auth, bearer};
use crate::server::{Shared, lock};
use crate::state::State;
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v2/oauth2/token", post(token))
        .route("/v2/oauth2/token/introspect", post(introspect))
        .route("/v2/oauth2/token/revoke", post(revoke))
        .route("/v2/oauth2/token/validate", post(introspect))
        .route("/v2/oauth2/userinfo", get(userinfo).post(userinfo))
        .route(
            "/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/jwk.json", get(jwk))
}

/// The calling client: Basic auth for confidential clients, or a
/// `client_id` form field for public ones.
fn calling_client(st: &State, headers: &HeaderMap, form: &Form) -> Result<Client, ApiError> {
    if let Some((id, secret)) = basic_auth(headers)? {
        return st.authenticate_client(&id, secret.expose()).cloned();
    }
    let id = form
        .get("client_id")
        .ok_or_else(|| ApiError::invalid_client("Client authentication required"))?;
    let client = Uuid::parse_str(id)
        .ok()
        .and_then(|id| st.clients.get(&id))
        .ok_or_else(|| ApiError::invalid_client("Unknown client"))?;
    if !client.is_public() {
        return Err(ApiError::invalid_client(
            "Confidential clients must authenticate with their secret",
        ));
    }
    Ok(client.clone())
}

fn confidential_client(st: &State, headers: &HeaderMap) -> Result<Client, ApiError> {
    let (id, secret) = basic_auth(headers)?
        .ok_or_else(|| ApiError::invalid_client("Client authentication (HTTP Basic) required"))?;
    st.authenticate_client(&id, secret.expose()).cloned()
}

async fn token(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let form = Form::parse(&body)?;
    let settings = shared.settings();
    let issuer = shared.base_url.trim_end_matches('/').to_owned();
    let ctx = GrantContext {
        now: shared.now(),
        lifetime: settings.access_token_lifetime,
        groups_tokens: settings.groups_tokens,
        signer: &shared.signer,
        issuer: &issuer,
    };
    let grant = form.require("grant_type")?.to_owned();
    let result = {
        let mut st = lock(&shared.state);
        // Without a state file nothing else drops dead codes and tokens.
        st.prune(ctx.now);
        match grant.as_str() {
            "authorization_code" => {
                let client = calling_client(&st, &headers, &form)?;
                let code = form.require("code")?;
                grants::authorization_code(
                    &mut st,
                    &ctx,
                    &client,
                    code,
                    form.get("redirect_uri"),
                    form.get("code_verifier"),
                )
            }
            "refresh_token" => {
                let client = calling_client(&st, &headers, &form)?;
                let rt = form.require("refresh_token")?;
                grants::refresh_token(&mut st, &ctx, &client, rt)
            }
            "client_credentials" => {
                let client = confidential_client(&st, &headers)?;
                let scope = form.require("scope")?;
                grants::client_credentials(&mut st, &ctx, &client, scope)
            }
            "urn:globus:auth:grant_type:dependent_token" => {
                let client = confidential_client(&st, &headers)?;
                let tok = form.require("token")?;
                grants::dependent_token(
                    &mut st,
                    &ctx,
                    &client,
                    tok,
                    form.get("scope"),
                    form.get("access_type") == Some("offline"),
                )
            }
            other => Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("Unsupported grant_type: {other}"),
            )),
        }
    };
    shared.changed();
    result.map(Json)
}

async fn introspect(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let form = Form::parse(&body)?;
    let st = lock(&shared.state);
    confidential_client(&st, &headers)?;
    let token = form.require("token")?;
    let Some(found) = st.active_token(token, shared.now()) else {
        return Ok(Json(json!({"active": false})));
    };
    let rec = found.record;
    let username = st.username(rec.identity_id);
    let user = st.users.get(&rec.identity_id);
    let mut out = json!({
        "active": true,
        "token_type": if rec.kind == TokenKind::Access { "Bearer" } else { "refresh_token" },
        "scope": st.scope_strings(&rec.scopes),
        "client_id": rec.client_id,
        "sub": rec.identity_id,
        "username": username,
        "name": user.map(|u| u.name.clone()),
        "email": user.map(|u| u.email.clone()),
        "aud": [rec.resource_server],
        "iss": shared.base_url.trim_end_matches('/'),
        "iat": rec.issued_at,
        "nbf": rec.issued_at,
    });
    if let Some(exp) = rec.expires_at {
        out["exp"] = exp.into();
    }
    let includes = form.get("include").unwrap_or("");
    if includes.split(',').any(|i| i.trim() == "identity_set") {
        out["identity_set"] = json!([rec.identity_id]);
    }
    if includes
        .split(',')
        .any(|i| i.trim() == "identity_set_detail")
    {
        out["identity_set_detail"] = json!([{
            "sub": rec.identity_id, "username": username,
            "name": user.map(|u| u.name.clone()), "email": user.map(|u| u.email.clone()),
        }]);
    }
    Ok(Json(out))
}

async fn revoke(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let form = Form::parse(&body)?;
    {
        let mut st = lock(&shared.state);
        calling_client(&st, &headers, &form)?;
        let token = form.require("token")?;
        // RFC 7009: unknown tokens are not an error.
        st.revoke(token);
    }
    shared.changed();
    Ok(Json(json!({"active": false})))
}

async fn userinfo(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let token = bearer(&headers)?;
    let st = lock(&shared.state);
    let found = st
        .active_access_token(&token, shared.now())
        .ok_or_else(|| ApiError::unauthorized("Token is invalid, expired or revoked"))?;
    let has = |name: &str| {
        found
            .record
            .scopes
            .iter()
            .any(|s| st.scopes.get(s).is_some_and(|s| s.scope_string == name))
    };
    if !has(crate::defaults::OPENID_SCOPE) {
        return Err(ApiError::forbidden("The token lacks the openid scope"));
    }
    let id = found.record.identity_id;
    let username = st.username(id);
    let mut out = json!({"sub": id, "identity_set": [{"sub": id, "username": username}]});
    if has(crate::defaults::PROFILE_SCOPE) {
        out["preferred_username"] = username.clone().into();
        let name = st
            .users
            .get(&id)
            .map(|u| u.name.clone())
            .or_else(|| st.clients.get(&id).map(|c| c.name.clone()));
        out["name"] = name.into();
        out["organization"] = "Academy emulator".into();
    }
    if has(crate::defaults::EMAIL_SCOPE) {
        out["email"] = st.users.get(&id).map(|u| u.email.clone()).into();
    }
    Ok(Json(out))
}

async fn openid_configuration(AxState(shared): AxState<Arc<Shared>>) -> Json<Value> {
    Json(crate::oidc::openid_configuration(&shared.base_url))
}

async fn jwk() -> Json<Value> {
    Json(crate::oidc::jwks())
}
