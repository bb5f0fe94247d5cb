//! Identifiers and dev-only secrets of the built-in default seed.
//!
//! The exchange, scope and native-app ids are academy-py's real well-known
//! ids, so academy-py works against the emulator unmodified. Every secret
//! here is a fixed, publicly known **development-only** value: it makes the
//! printed environment reproducible and must never protect anything real.

/// Client id of the Academy exchange resource server (academy-py's default).
pub const EXCHANGE_CLIENT_ID: &str = "ca1e2fbf-4e73-40a6-b2ab-c9458e5fcf99";
/// Dev-only secret of the exchange resource server client.
pub const EXCHANGE_CLIENT_SECRET: &str = "dev-only-academy-exchange-secret";
/// Scope id of the exchange's `academy_exchange` scope (academy-py's default).
pub const EXCHANGE_SCOPE_ID: &str = "a9e8d535-83e9-40c6-baf4-3f16538b2f10";
/// Suffix of the exchange scope.
pub const EXCHANGE_SCOPE_SUFFIX: &str = "academy_exchange";
/// Full scope string of the exchange scope.
pub const EXCHANGE_SCOPE: &str =
    "https://auth.globus.org/scopes/ca1e2fbf-4e73-40a6-b2ab-c9458e5fcf99/academy_exchange";

/// Client id of academy-py's native (public) app client.
pub const NATIVE_CLIENT_ID: &str = "1624cf3f-45ee-4f54-9de4-2d5d79191346";

/// Confidential "admin" client that administers [`PROJECT_ID`].
pub const ADMIN_CLIENT_ID: &str = "5e1f3c2a-7d4b-4c1e-9a6f-0a1b2c3d4e01";
/// Dev-only secret of [`ADMIN_CLIENT_ID`].
pub const ADMIN_CLIENT_SECRET: &str = "dev-only-academy-admin-secret";
/// The default project, administered by [`ALICE_ID`] and [`ADMIN_CLIENT_ID`].
pub const PROJECT_ID: &str = "b0c1d2e3-f4a5-4b6c-8d7e-8f9a0b1c2d01";

/// Identity id of the default user.
pub const ALICE_ID: &str = "a11ce000-0000-4000-8000-000000000001";
/// Username of the default user.
pub const ALICE_USERNAME: &str = "alice@example.org";
/// Identity id of the second user.
pub const BOB_ID: &str = "b0b00000-0000-4000-8000-000000000002";
/// Username of the second user.
pub const BOB_USERNAME: &str = "bob@example.org";

/// Seeded group with [`ALICE_ID`] as an active member (and Bob invited).
pub const GROUP_ID: &str = "9a0c0000-0000-4000-8000-0000000000a1";

/// Resource server of the Globus Auth scopes.
pub const AUTH_RESOURCE_SERVER: &str = "auth.globus.org";
/// Resource server of the Globus Groups scope.
pub const GROUPS_RESOURCE_SERVER: &str = "groups.api.globus.org";

/// `openid` scope string.
pub const OPENID_SCOPE: &str = "openid";
/// Scope id of `openid`.
pub const OPENID_SCOPE_ID: &str = "0c000000-0000-4000-8000-0000000000a1";
/// `profile` scope string.
pub const PROFILE_SCOPE: &str = "profile";
/// Scope id of `profile`.
pub const PROFILE_SCOPE_ID: &str = "0c000000-0000-4000-8000-0000000000a2";
/// `email` scope string.
pub const EMAIL_SCOPE: &str = "email";
/// Scope id of `email`.
pub const EMAIL_SCOPE_ID: &str = "0c000000-0000-4000-8000-0000000000a3";
/// Scope string needed for the `/v2/api` client and project calls.
pub const MANAGE_PROJECTS_SCOPE: &str = "urn:globus:auth:scope:auth.globus.org:manage_projects";
/// Scope id of [`MANAGE_PROJECTS_SCOPE`].
pub const MANAGE_PROJECTS_SCOPE_ID: &str = "0c000000-0000-4000-8000-0000000000a4";
/// Globus Groups scope the exchange requests as a dependent token.
pub const GROUPS_SCOPE: &str =
    "urn:globus:auth:scope:groups.api.globus.org:view_my_groups_and_memberships";
/// Scope id of [`GROUPS_SCOPE`] (the real Globus id).
pub const GROUPS_SCOPE_ID: &str = "73320ffe-4cb4-4b25-a0a3-83d53d59ce4f";

/// Default access-token lifetime: 48 hours, as Globus Auth issues them.
pub const ACCESS_TOKEN_LIFETIME_SECS: u64 = 172_800;
/// Default bind address of the binary.
pub const BIND: &str = "127.0.0.1:8701";

/// Scope string of a client-owned scope, independent of the emulator's URL.
///
/// ```
/// use academy_globus_emulator::defaults::{client_scope_string, EXCHANGE_CLIENT_ID, EXCHANGE_SCOPE};
/// assert_eq!(client_scope_string(EXCHANGE_CLIENT_ID, "academy_exchange"), EXCHANGE_SCOPE);
/// ```
pub fn client_scope_string(client_id: &str, suffix: &str) -> String {
    format!("https://auth.globus.org/scopes/{client_id}/{suffix}")
}
