//! The emulator's whole mutable state and the lookups every endpoint needs.
//!
//! It serialises to the optional JSON state file; secrets appear there only
//! as digests.

use crate::error::ApiError;
use crate::model::{
    AuthCode, Client, Consent, Group, Project, Scope, TokenKind, TokenRecord, User,
};
use crate::secret::{digest, digest_eq, random_token};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// Everything the emulator knows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Users by id.
    pub users: BTreeMap<Uuid, User>,
    /// Clients by id.
    pub clients: BTreeMap<Uuid, Client>,
    /// Scopes by id.
    pub scopes: BTreeMap<Uuid, Scope>,
    /// Projects by id.
    pub projects: BTreeMap<Uuid, Project>,
    /// Groups by id.
    pub groups: BTreeMap<Uuid, Group>,
    /// Tokens by digest of their value.
    pub tokens: BTreeMap<String, TokenRecord>,
    /// Authorization codes by digest of their value.
    pub codes: BTreeMap<String, AuthCode>,
    /// Recorded consents.
    pub consents: BTreeSet<Consent>,
}

/// A token record found active, with its digest.
#[derive(Debug, Clone)]
pub struct ActiveToken {
    /// Digest (state key).
    pub digest: String,
    /// The record.
    pub record: TokenRecord,
}

impl State {
    /// Username of an identity: a user's username, or
    /// `<client-id>@clients.auth.globus.org` for a client identity.
    pub fn username(&self, identity: Uuid) -> Option<String> {
        if let Some(user) = self.users.get(&identity) {
            return Some(user.username.clone());
        }
        self.clients
            .contains_key(&identity)
            .then(|| format!("{identity}@clients.auth.globus.org"))
    }

    /// A user by id or username.
    pub fn find_user(&self, key: &str) -> Option<&User> {
        match Uuid::parse_str(key) {
            Ok(id) => self.users.get(&id),
            Err(_) => self.users.values().find(|u| u.username == key),
        }
    }

    /// A scope by its scope string.
    pub fn scope_by_string(&self, scope: &str) -> Option<&Scope> {
        self.scopes.values().find(|s| s.scope_string == scope)
    }

    /// Resolves a space-separated scope list to scope ids; unknown → `invalid_scope`.
    pub fn resolve_scopes(&self, scopes: &str) -> Result<Vec<Uuid>, ApiError> {
        let mut ids = Vec::new();
        for s in scopes.split_whitespace() {
            let scope = self
                .scope_by_string(s)
                .ok_or_else(|| ApiError::invalid_scope(format!("Unknown scope: {s}")))?;
            if !ids.contains(&scope.id) {
                ids.push(scope.id);
            }
        }
        if ids.is_empty() {
            return Err(ApiError::invalid_scope("No scope requested"));
        }
        Ok(ids)
    }

    /// Space-separated scope strings of scope ids.
    pub fn scope_strings(&self, ids: &[Uuid]) -> String {
        ids.iter()
            .filter_map(|id| self.scopes.get(id))
            .map(|s| s.scope_string.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Authenticates a confidential client by id and secret.
    pub fn authenticate_client(&self, id: &str, secret: &str) -> Result<&Client, ApiError> {
        let bad = || ApiError::invalid_client("Invalid client credentials");
        let id = Uuid::parse_str(id).map_err(|_| bad())?;
        let client = self.clients.get(&id).ok_or_else(bad)?;
        let hash = digest(secret);
        if client
            .credentials
            .iter()
            .any(|c| digest_eq(&c.secret_sha256, &hash))
        {
            Ok(client)
        } else {
            Err(bad())
        }
    }

    /// Whether `identity` is an admin of `project` (directly or through an
    /// active membership of an admin group).
    pub fn is_project_admin(&self, project: Uuid, identity: Uuid) -> bool {
        let Some(p) = self.projects.get(&project) else {
            return false;
        };
        p.admin_ids.contains(&identity)
            || p.admin_group_ids.iter().any(|g| {
                self.groups.get(g).is_some_and(|g| {
                    g.memberships
                        .iter()
                        .any(|m| m.identity == identity && m.status == "active")
                })
            })
    }

    /// Whether `identity` may manage `client`: the client itself or an admin
    /// of its project, as Globus Auth allows.
    pub fn can_manage_client(&self, client: &Client, identity: Uuid) -> bool {
        client.id == identity
            || client
                .project
                .is_some_and(|p| self.is_project_admin(p, identity))
    }

    /// Stores a new token and returns its value.
    pub fn insert_token(&mut self, record: TokenRecord) -> String {
        let value = random_token();
        self.tokens.insert(digest(&value), record);
        value
    }

    /// The record of a token if it exists, is not revoked and not expired.
    pub fn active_token(&self, value: &str, now: u64) -> Option<ActiveToken> {
        let key = digest(value);
        let record = self.tokens.get(&key)?;
        if record.revoked || record.expires_at.is_some_and(|exp| exp <= now) {
            return None;
        }
        if let Some(parent) = &record.refresh_parent
            && self.tokens.get(parent).is_some_and(|p| p.revoked)
        {
            return None;
        }
        // Tokens of a deleted client, or for a deleted client's scopes, die with it.
        if !self.clients.contains_key(&record.client_id)
            || !record.scopes.iter().all(|s| self.scopes.contains_key(s))
        {
            return None;
        }
        Some(ActiveToken {
            digest: key,
            record: record.clone(),
        })
    }

    /// An active access token.
    pub fn active_access_token(&self, value: &str, now: u64) -> Option<ActiveToken> {
        self.active_token(value, now)
            .filter(|t| t.record.kind == TokenKind::Access)
    }

    /// Revokes a token (and, for a refresh token, everything minted from it).
    /// Returns whether a token was found.
    pub fn revoke(&mut self, value: &str) -> bool {
        let key = digest(value);
        let Some(record) = self.tokens.get_mut(&key) else {
            return false;
        };
        record.revoked = true;
        if record.kind == TokenKind::Refresh {
            for t in self.tokens.values_mut() {
                if t.refresh_parent.as_deref() == Some(key.as_str()) {
                    t.revoked = true;
                }
            }
        }
        true
    }

    /// Records consent of `identity` to `scope` and, recursively, its dependents.
    pub fn record_consent(&mut self, identity: Uuid, scope: Uuid) {
        let mut pending = vec![scope];
        while let Some(s) = pending.pop() {
            if self.consents.insert(Consent {
                identity_id: identity,
                scope_id: s,
            }) && let Some(sc) = self.scopes.get(&s)
            {
                pending.extend(sc.dependent_scopes.iter().map(|d| d.scope));
            }
        }
    }

    /// Whether `identity` consented to `scope` (client identities always have).
    pub fn has_consent(&self, identity: Uuid, scope: Uuid) -> bool {
        self.clients.contains_key(&identity)
            || self.consents.contains(&Consent {
                identity_id: identity,
                scope_id: scope,
            })
    }

    /// Drops expired codes and expired, unreferenced access tokens.
    pub fn prune(&mut self, now: u64) {
        self.codes.retain(|_, c| c.expires_at > now && !c.used);
        self.tokens.retain(|_, t| {
            t.kind == TokenKind::Refresh || t.expires_at.is_none_or(|e| e + 3600 > now)
        });
    }
}
