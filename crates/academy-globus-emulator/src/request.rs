//! Reading requests: form bodies, HTTP Basic client authentication and
//! Bearer tokens, with typed errors for bad input.

use crate::error::ApiError;
use crate::secret::Secret;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::collections::HashMap;

/// A parsed form body (first value of each field wins).
#[derive(Default)]
pub struct Form(HashMap<String, String>);

impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Form fields carry tokens, codes and secrets: show only the keys.
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Form {
    /// Parses `application/x-www-form-urlencoded` bytes.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| ApiError::invalid_request("Malformed form body"))?;
        let mut map = HashMap::new();
        for (k, v) in pairs {
            map.entry(k).or_insert(v);
        }
        Ok(Self(map))
    }

    /// A field, if present and non-empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A required field.
    pub fn require(&self, key: &str) -> Result<&str, ApiError> {
        self.get(key)
            .ok_or_else(|| ApiError::invalid_request(format!("Missing required parameter: {key}")))
    }
}

/// `Authorization: Basic` credentials, if the header uses that scheme.
pub fn basic_auth(headers: &HeaderMap) -> Result<Option<(String, Secret)>, ApiError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || ApiError::invalid_client("Malformed Basic authorization header");
    let value = value.to_str().map_err(|_| bad())?;
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return Ok(None);
    };
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    Ok(Some((id.to_owned(), Secret::new(secret))))
}

/// The token of an `Authorization: Bearer` header.
pub fn bearer(headers: &HeaderMap) -> Result<String, ApiError> {
    let value = headers
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("Call must be authenticated"))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("Malformed authorization header"))?;
    value
        .strip_prefix("Bearer ")
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("Call must be authenticated with a Bearer token"))
}
