//! Token issuance: the authorization-code, refresh-token,
//! client-credentials and dependent-token grants, on the state alone.
//!
//! Tokens are grouped by resource server, one access token (and optionally
//! one refresh token) per resource server, as Globus Auth issues them.

use crate::error::ApiError;
use crate::model::{AuthCode, Client, TokenKind, TokenRecord};
use crate::oidc::Signer;
use crate::secret::{digest, digest_eq, pkce_challenge};
use crate::state::State;
use serde_json::{Map, Value, json};
use std::time::{SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// What every grant needs besides the state.
#[derive(Debug)]
pub struct GrantContext<'a> {
    /// Emulated now, epoch seconds.
    pub now: u64,
    /// Access-token lifetime, seconds.
    pub lifetime: u64,
    /// Whether Groups dependent tokens are issued.
    pub groups_tokens: bool,
    /// id_token signer.
    pub signer: &'a Signer,
    /// `iss` of id_tokens (the emulator's URL without trailing slash).
    pub issuer: &'a str,
}

fn group_by_resource_server(st: &State, scopes: &[Uuid]) -> Vec<(String, Vec<Uuid>)> {
    let mut groups: Vec<(String, Vec<Uuid>)> = Vec::new();
    for id in scopes {
        let Some(scope) = st.scopes.get(id) else {
            continue;
        };
        match groups
            .iter_mut()
            .find(|(rs, _)| *rs == scope.resource_server)
        {
            Some((_, ids)) => ids.push(*id),
            None => groups.push((scope.resource_server.clone(), vec![*id])),
        }
    }
    // Globus puts auth.globus.org (the one carrying the id_token) on top.
    groups.sort_by_key(|(rs, _)| rs != crate::defaults::AUTH_RESOURCE_SERVER);
    groups
}

/// Mints the token(s) of one resource server and returns the JSON entry.
fn mint(
    st: &mut State,
    ctx: &GrantContext<'_>,
    client: Uuid,
    identity: Uuid,
    rs: &str,
    scopes: &[Uuid],
    with_refresh: bool,
) -> Map<String, Value> {
    let record = |kind, expires_at, refresh_parent| TokenRecord {
        kind,
        client_id: client,
        identity_id: identity,
        resource_server: rs.to_owned(),
        scopes: scopes.to_vec(),
        issued_at: ctx.now,
        expires_at,
        revoked: false,
        refresh_parent,
    };
    let refresh = with_refresh.then(|| st.insert_token(record(TokenKind::Refresh, None, None)));
    let access = st.insert_token(record(
        TokenKind::Access,
        Some(ctx.now + ctx.lifetime),
        refresh.as_deref().map(digest),
    ));
    let mut entry = Map::new();
    entry.insert("access_token".into(), access.into());
    entry.insert("scope".into(), st.scope_strings(scopes).into());
    entry.insert("expires_in".into(), ctx.lifetime.into());
    entry.insert("token_type".into(), "Bearer".into());
    entry.insert("resource_server".into(), rs.into());
    entry.insert(
        "refresh_token".into(),
        refresh.map_or(Value::Null, Value::from),
    );
    entry
}

fn allows_refresh(st: &State, scopes: &[Uuid]) -> bool {
    scopes
        .iter()
        .all(|s| st.scopes.get(s).is_some_and(|s| s.allows_refresh_token))
}

fn id_token(st: &State, ctx: &GrantContext<'_>, client: Uuid, identity: Uuid) -> Option<String> {
    // Real time: globus-sdk checks exp/iat against the local clock.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let username = st.username(identity)?;
    let (name, email) = match st.users.get(&identity) {
        Some(u) => (u.name.clone(), Value::from(u.email.clone())),
        None => (
            st.clients
                .get(&identity)
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            Value::Null,
        ),
    };
    let identity_entry = json!({
        "sub": identity, "username": username, "name": name, "email": email,
        "identity_provider": Uuid::nil(), "identity_provider_display_name": "Emulator",
        "organization": "Academy emulator", "last_authentication": now,
    });
    let claims = json!({
        "iss": ctx.issuer, "sub": identity, "aud": client.to_string(),
        "exp": now + ctx.lifetime.max(300), "iat": now,
        "preferred_username": username, "name": name, "email": email,
        "identity_provider": Uuid::nil(), "identity_provider_display_name": "Emulator",
        "organization": "Academy emulator", "last_authentication": now,
        "identity_set": [identity_entry],
    });
    ctx.signer.sign(&claims)
}

/// A full token response (top-level token plus `other_tokens`).
pub fn token_response(
    st: &mut State,
    ctx: &GrantContext<'_>,
    client: Uuid,
    identity: Uuid,
    scopes: &[Uuid],
    offline: bool,
    state_param: Option<&str>,
) -> Value {
    let groups = group_by_resource_server(st, scopes);
    let openid = scopes.iter().any(|s| {
        st.scopes
            .get(s)
            .is_some_and(|s| s.scope_string == crate::defaults::OPENID_SCOPE)
    });
    let mut entries: Vec<Map<String, Value>> = groups
        .iter()
        .map(|(rs, ids)| {
            let refresh = offline && allows_refresh(st, ids);
            mint(st, ctx, client, identity, rs, ids, refresh)
        })
        .collect();
    if entries.is_empty() {
        return json!({"other_tokens": []});
    }
    let mut top = entries.remove(0);
    if openid && let Some(tok) = id_token(st, ctx, client, identity) {
        top.insert("id_token".into(), tok.into());
    }
    if let Some(s) = state_param {
        top.insert("state".into(), s.into());
    }
    top.insert(
        "other_tokens".into(),
        Value::Array(entries.into_iter().map(Value::Object).collect()),
    );
    Value::Object(top)
}

/// `grant_type=authorization_code`.
pub fn authorization_code(
    st: &mut State,
    ctx: &GrantContext<'_>,
    client: &Client,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
) -> Result<Value, ApiError> {
    let key = digest(code);
    let record: AuthCode = st
        .codes
        .get(&key)
        .cloned()
        .ok_or_else(|| ApiError::invalid_grant("Invalid authorization code"))?;
    if record.used {
        return Err(ApiError::invalid_grant("Authorization code already used"));
    }
    if record.expires_at <= ctx.now {
        return Err(ApiError::invalid_grant("Authorization code expired"));
    }
    if record.client_id != client.id {
        return Err(ApiError::invalid_grant(
            "Authorization code was issued to another client",
        ));
    }
    if redirect_uri != Some(record.redirect_uri.as_str()) {
        return Err(ApiError::invalid_grant(
            "redirect_uri does not match the authorize request",
        ));
    }
    if let Some(challenge) = &record.code_challenge {
        let verifier = verifier.ok_or_else(|| ApiError::invalid_grant("Missing code_verifier"))?;
        if !digest_eq(&pkce_challenge(verifier), challenge) {
            return Err(ApiError::invalid_grant("Invalid code_verifier"));
        }
    }
    if let Some(c) = st.codes.get_mut(&key) {
        c.used = true;
    }
    Ok(token_response(
        st,
        ctx,
        client.id,
        record.identity_id,
        &record.scopes,
        record.offline,
        record.state.as_deref(),
    ))
}

/// `grant_type=refresh_token`: a new access token; the same refresh token.
pub fn refresh_token(
    st: &mut State,
    ctx: &GrantContext<'_>,
    client: &Client,
    token: &str,
) -> Result<Value, ApiError> {
    let found = st
        .active_token(token, ctx.now)
        .filter(|t| t.record.kind == TokenKind::Refresh)
        .ok_or_else(|| ApiError::invalid_grant("Invalid or revoked refresh token"))?;
    let rec = found.record;
    if rec.client_id != client.id {
        return Err(ApiError::invalid_grant(
            "Refresh token was issued to another client",
        ));
    }
    let access = st.insert_token(TokenRecord {
        kind: TokenKind::Access,
        client_id: rec.client_id,
        identity_id: rec.identity_id,
        resource_server: rec.resource_server.clone(),
        scopes: rec.scopes.clone(),
        issued_at: ctx.now,
        expires_at: Some(ctx.now + ctx.lifetime),
        revoked: false,
        refresh_parent: Some(found.digest),
    });
    Ok(json!({
        "access_token": access,
        "scope": st.scope_strings(&rec.scopes),
        "expires_in": ctx.lifetime,
        "token_type": "Bearer",
        "resource_server": rec.resource_server,
        "refresh_token": token,
        "other_tokens": [],
    }))
}

/// `grant_type=client_credentials`: any existing scope, for the client's
/// own identity (Globus consents for client identities automatically).
pub fn client_credentials(
    st: &mut State,
    ctx: &GrantContext<'_>,
    client: &Client,
    scope: &str,
) -> Result<Value, ApiError> {
    let scopes = st.resolve_scopes(scope)?;
    Ok(token_response(
        st, ctx, client.id, client.id, &scopes, false, None,
    ))
}

/// `grant_type=urn:globus:auth:grant_type:dependent_token`: a JSON array of
/// tokens for the presented token's declared dependent scopes.
pub fn dependent_token(
    st: &mut State,
    ctx: &GrantContext<'_>,
    client: &Client,
    token: &str,
    scope: Option<&str>,
    offline: bool,
) -> Result<Value, ApiError> {
    let presented = st
        .active_access_token(token, ctx.now)
        .ok_or_else(|| ApiError::invalid_grant("Token is invalid, expired or revoked"))?
        .record;
    if presented.resource_server != client.id.to_string() {
        return Err(ApiError::invalid_grant(
            "The calling client is not the resource server of the token",
        ));
    }
    let mut declared = Vec::new();
    for s in &presented.scopes {
        if let Some(scope) = st.scopes.get(s) {
            for d in &scope.dependent_scopes {
                if !declared
                    .iter()
                    .any(|x: &crate::model::DependentScope| x.scope == d.scope)
                {
                    declared.push(d.clone());
                }
            }
        }
    }
    let groups_scope = Uuid::parse_str(crate::defaults::GROUPS_SCOPE_ID).ok();
    let skip_groups = |id: Uuid| !ctx.groups_tokens && Some(id) == groups_scope;
    let wanted: Vec<Uuid> = match scope {
        Some(requested) => {
            let mut ids = Vec::new();
            for s in requested.split_whitespace() {
                let sc = st
                    .scope_by_string(s)
                    .ok_or_else(|| ApiError::invalid_scope(format!("Unknown scope: {s}")))?;
                if !declared.iter().any(|d| d.scope == sc.id) {
                    return Err(ApiError::invalid_scope(format!(
                        "{s} is not a dependent scope of the token's scopes"
                    )));
                }
                ids.push(sc.id);
            }
            ids
        }
        None => declared.iter().map(|d| d.scope).collect(),
    };
    let mut granted = Vec::new();
    for id in wanted {
        if skip_groups(id) {
            continue;
        }
        if !st.has_consent(presented.identity_id, id) {
            let optional = declared.iter().any(|d| d.scope == id && d.optional);
            if optional {
                continue;
            }
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "consent_required",
                "The identity has not consented to a required dependent scope",
            ));
        }
        granted.push(id);
    }
    let groups = group_by_resource_server(st, &granted);
    let entries: Vec<Value> = groups
        .iter()
        .map(|(rs, ids)| {
            let refresh = offline && allows_refresh(st, ids);
            Value::Object(mint(
                st,
                ctx,
                client.id,
                presented.identity_id,
                rs,
                ids,
                refresh,
            ))
        })
        .collect();
    Ok(Value::Array(entries))
}
