//! The Globus Auth `/v2/api` resources: clients, client credentials,
//! scopes, projects and identities.
//!
//! Every call needs a Bearer token for `auth.globus.org` with the
//! `manage_projects` scope. Permissions follow Globus: a caller manages a
//! client if it is that client or an admin of the client's project, and
//! creates clients only in projects it administers.

use crate::error::ApiError;
use crate::model::{Client, Credential, DependentScope, Project, Scope};
use crate::request::bearer;
use crate::secret::{digest, random_token};
use crate::server::{Shared, lock};
use crate::state::State;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use uuid::Uuid;

/// Client types Globus Auth accepts.
pub const CLIENT_TYPES: &[&str] = &[
    "client_identity",
    "confidential_client",
    "globus_connect_server",
    "public_installed_client",
    "hybrid_confidential_client_resource_server",
    "resource_server",
    "public_webapp_client",
];

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v2/api/clients", post(create_client).get(list_clients))
        .route(
            "/v2/api/clients/{id}",
            get(get_client).delete(delete_client),
        )
        .route(
            "/v2/api/clients/{id}/credentials",
            post(create_credential).get(list_credentials),
        )
        .route(
            "/v2/api/clients/{id}/credentials/{cred}",
            delete(delete_credential),
        )
        .route(
            "/v2/api/clients/{id}/scopes",
            post(create_scope).get(client_scopes),
        )
        .route("/v2/api/scopes", get(list_scopes))
        .route("/v2/api/scopes/{id}", get(get_scope).delete(delete_scope))
        .route("/v2/api/projects", get(list_projects).post(create_project))
        .route(
            "/v2/api/projects/{id}",
            get(get_project).delete(delete_project),
        )
        .route("/v2/api/identities", get(identities))
}

/// The caller's identity, from a `manage_projects` token.
fn caller(shared: &Shared, st: &State, headers: &HeaderMap) -> Result<Uuid, ApiError> {
    let token = bearer(headers)?;
    let found = st
        .active_access_token(&token, shared.now())
        .ok_or_else(|| ApiError::unauthorized("Token is invalid, expired or revoked"))?;
    let manage = found.record.scopes.iter().any(|s| {
        st.scopes
            .get(s)
            .is_some_and(|s| s.scope_string == crate::defaults::MANAGE_PROJECTS_SCOPE)
    });
    if !manage {
        return Err(ApiError::forbidden(
            "The token lacks the manage_projects scope",
        ));
    }
    Ok(found.record.identity_id)
}

fn parse_id(s: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(s).map_err(|_| ApiError::invalid_request(format!("{what} is not a UUID: {s}")))
}

/// The object under the single top-level key of a JSON body.
fn document(body: &[u8], key: &str) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid_request(format!("Malformed JSON body: {e}")))?;
    match value.get(key) {
        Some(Value::Object(m)) => Ok(m.clone()),
        _ => Err(ApiError::invalid_request(format!(
            "Body must be {{\"{key}\": {{...}}}}"
        ))),
    }
}

fn string_field(doc: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match doc.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid_request(format!("{key} must be a string"))),
    }
}

fn bool_field(doc: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match doc.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::invalid_request(format!(
            "{key} must be a boolean"
        ))),
    }
}

fn string_list(doc: &Map<String, Value>, key: &str) -> Result<Vec<String>, ApiError> {
    match doc.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    ApiError::invalid_request(format!("{key} must be a list of strings"))
                })
            })
            .collect(),
        Some(_) => Err(ApiError::invalid_request(format!(
            "{key} must be a list of strings"
        ))),
    }
}

fn client_json(st: &State, c: &Client) -> Value {
    let scopes: Vec<Uuid> = st
        .scopes
        .values()
        .filter(|s| s.client == Some(c.id))
        .map(|s| s.id)
        .collect();
    let mut out = json!({
        "id": c.id, "name": c.name, "project": c.project, "client_type": c.client_type,
        "visibility": c.visibility, "public_client": c.is_public(),
        "grant_types": c.grant_types(), "redirect_uris": c.redirect_uris,
        "scopes": scopes, "fqdns": [],
        "links": {"terms_and_conditions": null, "privacy_policy": null},
        "parent_client": null, "required_idp": null, "preselect_idp": null,
        "prompt_for_named_grant": true, "userinfo_from_effective_identity": true,
    });
    if let Value::Object(m) = &mut out {
        for (k, v) in &c.extra {
            m.insert(k.clone(), v.clone());
        }
    }
    out
}

fn scope_json(s: &Scope) -> Value {
    json!({
        "id": s.id, "scope_string": s.scope_string, "name": s.name,
        "description": s.description, "client": s.client,
        "allows_refresh_token": s.allows_refresh_token, "advertised": s.advertised,
        "required_domains": s.required_domains, "dependent_scopes": s.dependent_scopes,
    })
}

fn project_json(st: &State, p: &Project) -> Value {
    let identities: Vec<Value> = p
        .admin_ids
        .iter()
        .map(|id| json!({"id": id, "username": st.username(*id)}))
        .collect();
    let groups: Vec<Value> = p
        .admin_group_ids
        .iter()
        .map(|id| json!({"id": id}))
        .collect();
    json!({
        "id": p.id, "display_name": p.display_name, "project_name": p.display_name,
        "contact_email": p.contact_email, "admin_ids": p.admin_ids,
        "admin_group_ids": if p.admin_group_ids.is_empty() { Value::Null } else { json!(p.admin_group_ids) },
        "admins": {"identities": identities, "groups": groups},
    })
}

/// Now as an RFC 3339 UTC timestamp (no calendar crate in the workspace).
fn timestamp(epoch: u64) -> String {
    let days = i64::try_from(epoch / 86_400).unwrap_or(0);
    let secs = epoch % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.000000+00:00",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

fn managed_client<'a>(st: &'a State, who: Uuid, id: &str) -> Result<&'a Client, ApiError> {
    let id = parse_id(id, "client id")?;
    let client = st
        .clients
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("No such client: {id}")))?;
    if !st.can_manage_client(client, who) {
        return Err(ApiError::forbidden(
            "You are not allowed to manage this client",
        ));
    }
    Ok(client)
}

async fn create_client(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let mut doc = document(&body, "client")?;
    let out = {
        let mut st = lock(&shared.state);
        let who = caller(&shared, &st, &headers)?;
        let name = string_field(&doc, "name")?
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| ApiError::invalid_request("name is required"))?;
        if name.contains(['\n', '\r']) {
            return Err(ApiError::invalid_request(
                "name must not contain line breaks",
            ));
        }
        let project = string_field(&doc, "project")?
            .ok_or_else(|| ApiError::invalid_request("project is required"))?;
        let project = parse_id(&project, "project")?;
        if !st.projects.contains_key(&project) {
            return Err(ApiError::not_found(format!("No such project: {project}")));
        }
        if !st.is_project_admin(project, who) {
            return Err(ApiError::forbidden("You are not an admin of this project"));
        }
        let client_type = match (
            string_field(&doc, "client_type")?,
            bool_field(&doc, "public_client")?,
        ) {
            (Some(t), None) => {
                if !CLIENT_TYPES.contains(&t.as_str()) {
                    return Err(ApiError::invalid_request(format!(
                        "Unknown client_type: {t}"
                    )));
                }
                t
            }
            (None, Some(true)) => "public_installed_client".to_owned(),
            (None, Some(false)) => "confidential_client".to_owned(),
            _ => {
                return Err(ApiError::invalid_request(
                    "Exactly one of client_type and public_client is required",
                ));
            }
        };
        let visibility = string_field(&doc, "visibility")?.unwrap_or_else(|| "private".to_owned());
        if visibility != "public" && visibility != "private" {
            return Err(ApiError::invalid_request(
                "visibility must be public or private",
            ));
        }
        let redirect_uris = string_list(&doc, "redirect_uris")?;
        for k in [
            "name",
            "project",
            "client_type",
            "public_client",
            "visibility",
            "redirect_uris",
        ] {
            doc.remove(k);
        }
        let client = Client {
            id: Uuid::new_v4(),
            name,
            client_type,
            project: Some(project),
            visibility,
            redirect_uris,
            credentials: Vec::new(),
            extra: doc,
        };
        let out = client_json(&st, &client);
        st.clients.insert(client.id, client);
        out
    };
    shared.changed();
    Ok(Json(json!({"client": out})))
}

async fn list_clients(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let st = lock(&shared.state);
    let who = caller(&shared, &st, &headers)?;
    let clients: Vec<Value> = st
        .clients
        .values()
        .filter(|c| st.can_manage_client(c, who))
        .map(|c| client_json(&st, c))
        .collect();
    Ok(Json(json!({"clients": clients})))
}

async fn get_client(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let st = lock(&shared.state);
    let who = caller(&shared, &st, &headers)?;
    let client = managed_client(&st, who, &id)?;
    Ok(Json(json!({"client": client_json(&st, client)})))
}

async fn delete_client(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let out = {
        let mut st = lock(&shared.state);
        let who = caller(&shared, &st, &headers)?;
        let client = managed_client(&st, who, &id)?.clone();
        let out = client_json(&st, &client);
        let removed: Vec<Uuid> = st
            .scopes
            .values()
            .filter(|s| s.client == Some(client.id))
            .map(|s| s.id)
            .collect();
        st.scopes.retain(|_, s| s.client != Some(client.id));
        for s in st.scopes.values_mut() {
            s.dependent_scopes.retain(|d| !removed.contains(&d.scope));
        }
        st.clients.remove(&client.id);
        // Tokens issued to it or for its scopes stop being active (State::active_token).
        out
    };
    shared.changed();
    Ok(Json(json!({"client": out})))
}

async fn create_credential(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let doc = document(&body, "credential")?;
    let out = {
        let mut st = lock(&shared.state);
        let who = caller(&shared, &st, &headers)?;
        let client = managed_client(&st, who, &id)?;
        if client.is_public() {
            return Err(ApiError::invalid_request(
                "Public clients cannot have credentials",
            ));
        }
        let client_id = client.id;
        let name = string_field(&doc, "name")?.unwrap_or_default();
        let secret = random_token();
        let cred = Credential {
            id: Uuid::new_v4(),
            name,
            created: timestamp(shared.now()),
            secret_sha256: digest(&secret),
        };
        let out = json!({
            "id": cred.id, "name": cred.name, "created": cred.created,
            "client": client_id, "secret": secret,
        });
        if let Some(c) = st.clients.get_mut(&client_id) {
            c.credentials.push(cred);
        }
        out
    };
    shared.changed();
    Ok(Json(json!({"credential": out})))
}

async fn list_credentials(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let st = lock(&shared.state);
    let who = caller(&shared, &st, &headers)?;
    let client = managed_client(&st, who, &id)?;
    let creds: Vec<Value> = client
        .credentials
        .iter()
        .map(|c| json!({"id": c.id, "name": c.name, "created": c.created, "client": client.id, "secret": null}))
        .collect();
    Ok(Json(json!({"credentials": creds})))
}

async fn delete_credential(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    Path((id, cred)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let out = {
        let mut st = lock(&shared.state);
        let who = caller(&shared, &st, &headers)?;
        let client_id = managed_client(&st, who, &id)?.id;
        let cred = parse_id(&cred, "credential id")?;
        let client = st
            .clients
            .get_mut(&client_id)
            .ok_or_else(|| ApiError::not_found("No such client"))?;
        let pos = client
            .credentials
            .iter()
            .position(|c| c.id == cred)
            .ok_or_else(|| ApiError::not_found(format!("No such credential: {cred}")))?;
        let c = client.credentials.remove(pos);
        json!({"id": c.id, "name": c.name, "created": c.created, "client": client_id, "secret": null})
    };
    shared.changed();
    Ok(Json(json!({"credential": out})))
}

fn valid_suffix(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn parse_dependents(st: &State, doc: &Map<String, Value>) -> Result<Vec<DependentScope>, ApiError> {
    let Some(value) = doc.get("dependent_scopes").filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let deps: Vec<DependentScope> = serde_json::from_value(value.clone())
        .map_err(|e| ApiError::invalid_request(format!("dependent_scopes is malformed: {e}")))?;
    for d in &deps {
        if !st.scopes.contains_key(&d.scope) {
            return Err(ApiError::invalid_request(format!(
                "Unknown dependent scope id: {}",
                d.scope
            )));
        }
    }
    Ok(deps)
}

async fn create_scope(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let doc = document(&body, "scope")?;
    let out = {
        let mut st = lock(&shared.state);
        let who = caller(&shared, &st, &headers)?;
        let client_id = managed_client(&st, who, &id)?.id;
        let name = string_field(&doc, "name")?
            .ok_or_else(|| ApiError::invalid_request("name is required"))?;
        let description = string_field(&doc, "description")?
            .ok_or_else(|| ApiError::invalid_request("description is required"))?;
        let suffix = string_field(&doc, "scope_suffix")?
            .ok_or_else(|| ApiError::invalid_request("scope_suffix is required"))?;
        if !valid_suffix(&suffix) {
            return Err(ApiError::invalid_request(
                "scope_suffix may contain only lowercase letters, digits and underscores",
            ));
        }
        let scope_string = crate::defaults::client_scope_string(&client_id.to_string(), &suffix);
        if st.scope_by_string(&scope_string).is_some() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("Scope already exists: {scope_string}"),
            ));
        }
        let scope = Scope {
            id: Uuid::new_v4(),
            scope_string,
            resource_server: client_id.to_string(),
            client: Some(client_id),
            name,
            description,
            allows_refresh_token: bool_field(&doc, "allows_refresh_token")?.unwrap_or(true),
            advertised: bool_field(&doc, "advertised")?.unwrap_or(false),
            required_domains: string_list(&doc, "required_domains")?,
            dependent_scopes: parse_dependents(&st, &doc)?,
        };
        let out = scope_json(&scope);
        st.scopes.insert(scope.id, scope);
        out
    };
    shared.changed();
    // The shape Academy reads (`scopes[0]`), as Globus Auth answers.
    Ok(Json(json!({"scopes": [out]})))
}

async fn client_scopes(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let st = lock(&shared.state);
    let who = caller(&shared, &st, &headers)?;
    let client_id = managed_client(&st, who, &id)?.id;
    let scopes: Vec<Value> = st
        .scopes
        .values()
        .filter(|s| s.client == Some(client_id))
        .map(scope_json)
        .collect();
    Ok(Json(json!({"scopes": scopes})))
}

async fn list_scopes(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let form = crate::request::Form::parse(query.unwrap_or_default().as_bytes())?;
    let st = lock(&shared.state);
    caller(&shared, &st, &headers)?;
    let ids: Vec<&str> = form
        .get("ids")
        .map(|v| v.split(',').collect())
        .unwrap_or_default();
    let strings: Vec<&str> = form
        .get("scope_strings")
        .map(|v| v.split(',').collect())
        .unwrap_or_default();
    let scopes: Vec<Value> = st
        .scopes
        .values()
        .filter(|s| {
            (ids.is_empty() && strings.is_empty())
                || ids.contains(&s.id.to_string().as_str())
                || strings.contains(&s.scope_string.as_str())
        })
        .map(scope_json)
        .collect();
    Ok(Json(json!({"scopes": scopes})))
}

async fn get_scope(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let st = lock(&shared.state);
    caller(&shared, &st, &headers)?;
    let id = parse_id(&id, "scope id")?;
    let scope = st
        .scopes
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("No such scope: {id}")))?;
    Ok(Json(json!({"scope": scope_json(scope)})))
}

async fn delete_scope(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let out = {
        let mut st = lock(&shared.state);
        let who = caller(&shared, &st, &headers)?;
        let id = parse_id(&id, "scope id")?;
        let scope = st
            .scopes
            .get(&id)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("No such scope: {id}")))?;
        let owner = scope
            .client
            .and_then(|c| st.clients.get(&c))
            .ok_or_else(|| ApiError::forbidden("Service scopes cannot be deleted"))?;
        if !st.can_manage_client(owner, who) {
            return Err(ApiError::forbidden(
                "You are not allowed to manage this scope",
            ));
        }
        st.scopes.remove(&id);
        for s in st.scopes.values_mut() {
            s.dependent_scopes.retain(|d| d.scope != id);
        }
        scope_json(&scope)
    };
    shared.changed();
    Ok(Json(json!({"scope": out})))
}

async fn list_projects(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let st = lock(&shared.state);
    let who = caller(&shared, &st, &headers)?;
    let projects: Vec<Value> = st
        .projects
        .values()
        .filter(|p| st.is_project_admin(p.id, who))
        .map(|p| project_json(&st, p))
        .collect();
    Ok(Json(json!({"projects": projects})))
}

fn uuid_list(doc: &Map<String, Value>, key: &str) -> Result<Vec<Uuid>, ApiError> {
    string_list(doc, key)?
        .iter()
        .map(|s| parse_id(s, key))
        .collect()
}

async fn create_project(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let doc = document(&body, "project")?;
    let out = {
        let mut st = lock(&shared.state);
        caller(&shared, &st, &headers)?;
        let display_name = string_field(&doc, "display_name")?
            .ok_or_else(|| ApiError::invalid_request("display_name is required"))?;
        let contact_email = string_field(&doc, "contact_email")?
            .ok_or_else(|| ApiError::invalid_request("contact_email is required"))?;
        let admin_ids = uuid_list(&doc, "admin_ids")?;
        let admin_group_ids = uuid_list(&doc, "admin_group_ids")?;
        if admin_ids.is_empty() && admin_group_ids.is_empty() {
            return Err(ApiError::invalid_request("At least one admin is required"));
        }
        let project = Project {
            id: Uuid::new_v4(),
            display_name,
            contact_email,
            admin_ids,
            admin_group_ids,
        };
        let out = project_json(&st, &project);
        st.projects.insert(project.id, project);
        out
    };
    shared.changed();
    Ok(Json(json!({"project": out})))
}

fn admin_project<'a>(st: &'a State, who: Uuid, id: &str) -> Result<&'a Project, ApiError> {
    let id = parse_id(id, "project id")?;
    let p = st
        .projects
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("No such project: {id}")))?;
    if !st.is_project_admin(id, who) {
        return Err(ApiError::forbidden("You are not an admin of this project"));
    }
    Ok(p)
}

async fn get_project(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let st = lock(&shared.state);
    let who = caller(&shared, &st, &headers)?;
    let p = admin_project(&st, who, &id)?;
    Ok(Json(json!({"project": project_json(&st, p)})))
}

async fn delete_project(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let out = {
        let mut st = lock(&shared.state);
        let who = caller(&shared, &st, &headers)?;
        let p = admin_project(&st, who, &id)?.clone();
        if st.clients.values().any(|c| c.project == Some(p.id)) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "The project still has clients",
            ));
        }
        let out = project_json(&st, &p);
        st.projects.remove(&p.id);
        out
    };
    shared.changed();
    Ok(Json(json!({"project": out})))
}

async fn identities(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let form = crate::request::Form::parse(query.unwrap_or_default().as_bytes())?;
    let token = bearer(&headers)?;
    let st = lock(&shared.state);
    st.active_access_token(&token, shared.now())
        .ok_or_else(|| ApiError::unauthorized("Token is invalid, expired or revoked"))?;
    let mut out = Vec::new();
    let usernames = form.get("usernames").unwrap_or("");
    let ids = form.get("ids").unwrap_or("");
    for u in st.users.values() {
        if usernames.split(',').any(|n| n == u.username)
            || ids.split(',').any(|i| i == u.id.to_string())
        {
            out.push(json!({"id": u.id, "username": u.username, "name": u.name,
                            "email": u.email, "status": "used", "identity_provider": Uuid::nil()}));
        }
    }
    Ok(Json(json!({"identities": out})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_formats_known_dates() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(timestamp(1_715_116_967), "2024-05-07T21:22:47.000000+00:00");
    }

    #[test]
    fn suffix_rules() {
        assert!(valid_suffix("launch"));
        assert!(valid_suffix("academy_exchange2"));
        assert!(!valid_suffix("Launch"));
        assert!(!valid_suffix(""));
        assert!(!valid_suffix("a-b"));
    }
}
