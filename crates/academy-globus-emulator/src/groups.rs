//! The Globus Groups call the exchange server needs: `GET
//! /v2/groups/my_groups`, answered for the token's identity from the seeded
//! groups.

use crate::error::ApiError;
use crate::request::bearer;
use crate::server::{Shared, lock};
use axum::extract::State as AxState;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::Arc;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/v2/groups/my_groups", get(my_groups))
}

/// Groups in which the caller has any membership (active or not), each
/// with the caller's memberships, as Globus Groups answers.
async fn my_groups(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let token = bearer(&headers)?;
    let st = lock(&shared.state);
    let found = st
        .active_access_token(&token, shared.now())
        .ok_or_else(|| ApiError::unauthorized("Token is invalid, expired or revoked"))?;
    if found.record.resource_server != crate::defaults::GROUPS_RESOURCE_SERVER {
        return Err(ApiError::forbidden(
            "The token is not a Globus Groups token",
        ));
    }
    let me = found.record.identity_id;
    let username = st.username(me);
    let groups: Vec<Value> = st
        .groups
        .values()
        .filter_map(|g| {
            let mine: Vec<Value> = g
                .memberships
                .iter()
                .filter(|m| m.identity == me)
                .map(|m| {
                    json!({"group_id": g.id, "identity_id": me, "username": username,
                           "role": m.role, "status": m.status})
                })
                .collect();
            (!mine.is_empty()).then(|| {
                json!({"id": g.id, "name": g.name, "description": g.description,
                       "parent_id": null, "group_type": "regular",
                       "enforce_session": false, "session_limit": 28800,
                       "session_timeout": 86400, "my_memberships": mine})
            })
        })
        .collect();
    Ok(Json(Value::Array(groups)))
}
