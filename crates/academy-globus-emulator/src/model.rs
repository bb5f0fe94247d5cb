//! The emulator's records: identities, clients, scopes, projects, groups,
//! tokens, authorization codes and consents.
//!
//! Secrets (client secrets, tokens, codes) are kept only as SHA-256 hex
//! digests, so neither `Debug` output nor the JSON state file holds them.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A user identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Identity id (`sub`).
    pub id: Uuid,
    /// Username, e.g. `alice@example.org` (what the exchange uses as caller id).
    pub username: String,
    /// Display name.
    pub name: String,
    /// E-mail address.
    pub email: String,
}

/// A client credential; the secret itself is shown once at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// Credential id.
    pub id: Uuid,
    /// Credential name.
    pub name: String,
    /// Creation time, RFC 3339-like string.
    pub created: String,
    /// SHA-256 hex digest of the secret.
    pub secret_sha256: String,
}

/// A Globus Auth client (app or resource server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// Client id; also the identity id of the client's own identity.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// One of the Globus client types (`public_installed_client`, …).
    pub client_type: String,
    /// Owning project.
    pub project: Option<Uuid>,
    /// `public` or `private`.
    pub visibility: String,
    /// Allowed redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Credentials (hashed secrets).
    pub credentials: Vec<Credential>,
    /// Extra JSON fields given at creation, echoed back.
    #[serde(default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Client {
    /// Whether this client is public (no secret, PKCE required).
    pub fn is_public(&self) -> bool {
        self.client_type == "public_installed_client" || self.client_type == "public_webapp_client"
    }

    /// The OAuth2 grant types Globus lists for this client type.
    pub fn grant_types(&self) -> Vec<&'static str> {
        match self.client_type.as_str() {
            "public_installed_client" | "public_webapp_client" => {
                vec!["authorization_code", "refresh_token"]
            }
            "client_identity" | "globus_connect_server" => {
                vec![
                    "client_credentials",
                    "urn:globus:auth:grant_type:dependent_token",
                ]
            }
            "resource_server" => vec!["urn:globus:auth:grant_type:dependent_token"],
            _ => vec![
                "authorization_code",
                "client_credentials",
                "refresh_token",
                "urn:globus:auth:grant_type:dependent_token",
            ],
        }
    }
}

/// A dependency of one scope on another, by scope id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DependentScope {
    /// The dependent scope's id.
    pub scope: Uuid,
    /// Whether the user may decline it.
    #[serde(default)]
    pub optional: bool,
    /// Whether dependent tokens for it come with a refresh token.
    #[serde(default)]
    pub requires_refresh_token: bool,
}

/// A scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// Scope id.
    pub id: Uuid,
    /// The full scope string.
    pub scope_string: String,
    /// Resource server: a client id, or `auth.globus.org` / `groups.api.globus.org`.
    pub resource_server: String,
    /// Owning client, for client-defined scopes.
    pub client: Option<Uuid>,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Whether refresh tokens may be issued for it.
    pub allows_refresh_token: bool,
    /// Whether it is advertised.
    #[serde(default)]
    pub advertised: bool,
    /// Required identity domains (not enforced).
    #[serde(default)]
    pub required_domains: Vec<String>,
    /// Declared dependent scopes.
    #[serde(default)]
    pub dependent_scopes: Vec<DependentScope>,
}

/// A project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// Project id.
    pub id: Uuid,
    /// Display name.
    pub display_name: String,
    /// Contact e-mail.
    pub contact_email: String,
    /// Admin identity ids (users or clients).
    pub admin_ids: Vec<Uuid>,
    /// Admin group ids (active members are admins).
    #[serde(default)]
    pub admin_group_ids: Vec<Uuid>,
}

/// A group membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// Member identity id.
    pub identity: Uuid,
    /// `member`, `manager` or `admin`.
    #[serde(default = "default_role")]
    pub role: String,
    /// `active`, `invited`, `pending`, …
    #[serde(default = "default_status")]
    pub status: String,
}

fn default_role() -> String {
    "member".to_owned()
}

fn default_status() -> String {
    "active".to_owned()
}

/// A Globus group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Group id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Memberships.
    #[serde(default)]
    pub memberships: Vec<Membership>,
}

/// Whether a token record is an access or a refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// A bearer access token.
    Access,
    /// A refresh token.
    Refresh,
}

/// An issued token (stored under the SHA-256 of its value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Access or refresh.
    pub kind: TokenKind,
    /// Client the token was issued to.
    pub client_id: Uuid,
    /// Identity the token acts for.
    pub identity_id: Uuid,
    /// Resource server of all its scopes.
    pub resource_server: String,
    /// Scope ids.
    pub scopes: Vec<Uuid>,
    /// Issue time, epoch seconds (emulator clock).
    pub issued_at: u64,
    /// Expiry (access tokens only).
    pub expires_at: Option<u64>,
    /// Whether it was revoked.
    pub revoked: bool,
    /// For access tokens minted from a refresh token: that token's digest,
    /// so revoking the refresh token also revokes them.
    pub refresh_parent: Option<String>,
}

/// A pending authorization code (stored under the SHA-256 of its value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthCode {
    /// Client that asked for it.
    pub client_id: Uuid,
    /// Identity that approved.
    pub identity_id: Uuid,
    /// Approved scope ids.
    pub scopes: Vec<Uuid>,
    /// Redirect URI the code was sent to.
    pub redirect_uri: String,
    /// PKCE S256 challenge, if any.
    pub code_challenge: Option<String>,
    /// Whether refresh tokens were asked for.
    pub offline: bool,
    /// `state` of the authorize request.
    pub state: Option<String>,
    /// Expiry, epoch seconds.
    pub expires_at: u64,
    /// Set when redeemed: codes are single use.
    pub used: bool,
}

/// One consent: an identity allowed a scope (and, through it, its dependents).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Consent {
    /// Consenting identity.
    pub identity_id: Uuid,
    /// Consented scope id.
    pub scope_id: Uuid,
}
