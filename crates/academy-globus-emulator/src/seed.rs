//! The seed: the initial users, groups, projects, clients and scopes, read
//! from TOML or built in ([`Seed::default`]).
//!
//! ```toml
//! include_defaults = true      # merge into the built-in default seed
//!
//! [settings]
//! auto_approve = true
//! access_token_lifetime = 60
//! groups_tokens = true
//! default_user = "alice@example.org"
//!
//! [[users]]
//! id = "c0ffee00-0000-4000-8000-000000000003"
//! username = "carol@example.org"
//!
//! [[clients]]
//! id = "c11e0000-0000-4000-8000-000000000009"
//! name = "My app"
//! client_type = "confidential_client"
//! project = "b0c1d2e3-f4a5-4b6c-8d7e-8f9a0b1c2d01"
//! secret = "dev-only"
//!
//! [[scopes]]
//! id = "5c000000-0000-4000-8000-000000000009"
//! client = "c11e0000-0000-4000-8000-000000000009"
//! suffix = "all"
//! allows_refresh_token = true
//! dependent_scopes = [{ scope = "73320ffe-4cb4-4b25-a0a3-83d53d59ce4f", optional = true }]
//!
//! [[groups]]
//! id = "9a0c0000-0000-4000-8000-0000000000b2"
//! name = "Team"
//! members = [{ identity = "c0ffee00-0000-4000-8000-000000000003", status = "active" }]
//! ```

use crate::defaults as d;
use crate::error::EmulatorError;
use crate::model::{Client, Credential, DependentScope, Group, Membership, Project, Scope, User};
use crate::secret::{Secret, digest};
use crate::state::State;
use serde::Deserialize;
use std::path::Path;
use uuid::Uuid;

/// Runtime settings a seed may set (the command line overrides them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedSettings {
    /// Approve authorization requests without showing the consent page.
    pub auto_approve: Option<bool>,
    /// Access-token lifetime in seconds.
    pub access_token_lifetime: Option<u64>,
    /// Whether the dependent-token grant issues Globus Groups tokens.
    pub groups_tokens: Option<bool>,
    /// User (id or username) that approves in auto-approve mode and is
    /// preselected on the consent page.
    pub default_user: Option<String>,
}

/// Which seeded objects the printed environment refers to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedEnv {
    /// The exchange resource-server client (needs a `secret` in the seed).
    pub exchange_client_id: Uuid,
    /// The exchange scope id.
    pub exchange_scope_id: Uuid,
    /// The admin confidential client (needs a `secret` in the seed).
    pub admin_client_id: Uuid,
    /// The project the admin client administers.
    pub project_id: Uuid,
}

/// A seeded client. `secret` (dev only) becomes its one credential.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedClient {
    /// Client id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Client type.
    #[serde(default = "default_client_type")]
    pub client_type: String,
    /// Project.
    pub project: Option<Uuid>,
    /// Visibility.
    #[serde(default = "default_visibility")]
    pub visibility: String,
    /// Redirect URIs.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Dev-only plaintext secret.
    pub secret: Option<Secret>,
}

impl std::fmt::Debug for SeedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedClient")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("client_type", &self.client_type)
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

fn default_client_type() -> String {
    "confidential_client".to_owned()
}
fn default_visibility() -> String {
    "private".to_owned()
}

/// A seeded scope: either client-owned (`client` + `suffix`) or a named
/// service scope (`scope_string` + `resource_server`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedScope {
    /// Scope id.
    pub id: Uuid,
    /// Owning client.
    pub client: Option<Uuid>,
    /// Suffix, for client scopes.
    pub suffix: Option<String>,
    /// Full scope string, for service scopes.
    pub scope_string: Option<String>,
    /// Resource server, for service scopes.
    pub resource_server: Option<String>,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Refresh tokens allowed.
    #[serde(default = "yes")]
    pub allows_refresh_token: bool,
    /// Dependent scopes.
    #[serde(default)]
    pub dependent_scopes: Vec<DependentScope>,
}

fn yes() -> bool {
    true
}

/// A seeded group.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedGroup {
    /// Group id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Memberships.
    #[serde(default)]
    pub members: Vec<Membership>,
}

/// A seeded user.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedUser {
    /// Identity id.
    pub id: Uuid,
    /// Username.
    pub username: String,
    /// Name (default: the username's local part).
    pub name: Option<String>,
    /// E-mail (default: the username).
    pub email: Option<String>,
}

/// A seeded project.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedProject {
    /// Project id.
    pub id: Uuid,
    /// Name.
    pub display_name: String,
    /// Contact e-mail.
    #[serde(default)]
    pub contact_email: String,
    /// Admin identities.
    #[serde(default)]
    pub admin_ids: Vec<Uuid>,
    /// Admin groups.
    #[serde(default)]
    pub admin_group_ids: Vec<Uuid>,
}

/// The whole seed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// In a file: merge into [`Seed::default`] (entries with the same id replace).
    #[serde(default = "yes")]
    pub include_defaults: bool,
    /// Settings.
    #[serde(default)]
    pub settings: SeedSettings,
    /// Environment references (default: the built-in ids).
    pub env: Option<SeedEnv>,
    /// Users.
    #[serde(default)]
    pub users: Vec<SeedUser>,
    /// Projects.
    #[serde(default)]
    pub projects: Vec<SeedProject>,
    /// Clients.
    #[serde(default)]
    pub clients: Vec<SeedClient>,
    /// Scopes.
    #[serde(default)]
    pub scopes: Vec<SeedScope>,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<SeedGroup>,
}

fn uuid(s: &str) -> Uuid {
    // The defaults are compile-time constants that parse; nil would surface in tests.
    Uuid::parse_str(s).unwrap_or_default()
}

fn service_scope(id: &str, scope: &str, rs: &str, name: &str) -> SeedScope {
    SeedScope {
        id: uuid(id),
        client: None,
        suffix: None,
        scope_string: Some(scope.to_owned()),
        resource_server: Some(rs.to_owned()),
        name: name.to_owned(),
        description: String::new(),
        allows_refresh_token: true,
        dependent_scopes: Vec::new(),
    }
}

impl Default for Seed {
    /// The built-in seed: academy-py's exchange and native client, the admin
    /// client and project, Alice and Bob, one group (see [`crate::defaults`]).
    fn default() -> Self {
        let client = |id: &str, name: &str, ty: &str, secret: Option<&str>| SeedClient {
            id: uuid(id),
            name: name.to_owned(),
            client_type: ty.to_owned(),
            project: Some(uuid(d::PROJECT_ID)),
            visibility: "private".to_owned(),
            redirect_uris: Vec::new(),
            secret: secret.map(Secret::new),
        };
        Seed {
            include_defaults: true,
            settings: SeedSettings::default(),
            env: None,
            users: vec![
                SeedUser {
                    id: uuid(d::ALICE_ID),
                    username: d::ALICE_USERNAME.to_owned(),
                    name: Some("Alice Example".to_owned()),
                    email: None,
                },
                SeedUser {
                    id: uuid(d::BOB_ID),
                    username: d::BOB_USERNAME.to_owned(),
                    name: Some("Bob Example".to_owned()),
                    email: None,
                },
            ],
            projects: vec![SeedProject {
                id: uuid(d::PROJECT_ID),
                display_name: "Academy development project".to_owned(),
                contact_email: d::ALICE_USERNAME.to_owned(),
                admin_ids: vec![uuid(d::ALICE_ID), uuid(d::ADMIN_CLIENT_ID)],
                admin_group_ids: Vec::new(),
            }],
            clients: vec![
                client(
                    d::EXCHANGE_CLIENT_ID,
                    "Academy Exchange (emulator)",
                    "hybrid_confidential_client_resource_server",
                    Some(d::EXCHANGE_CLIENT_SECRET),
                ),
                client(
                    d::NATIVE_CLIENT_ID,
                    "Academy (emulator)",
                    "public_installed_client",
                    None,
                ),
                client(
                    d::ADMIN_CLIENT_ID,
                    "Academy admin client (emulator)",
                    "confidential_client",
                    Some(d::ADMIN_CLIENT_SECRET),
                ),
            ],
            scopes: vec![
                service_scope(
                    d::OPENID_SCOPE_ID,
                    d::OPENID_SCOPE,
                    d::AUTH_RESOURCE_SERVER,
                    "OpenID",
                ),
                service_scope(
                    d::PROFILE_SCOPE_ID,
                    d::PROFILE_SCOPE,
                    d::AUTH_RESOURCE_SERVER,
                    "Profile",
                ),
                service_scope(
                    d::EMAIL_SCOPE_ID,
                    d::EMAIL_SCOPE,
                    d::AUTH_RESOURCE_SERVER,
                    "Email",
                ),
                service_scope(
                    d::MANAGE_PROJECTS_SCOPE_ID,
                    d::MANAGE_PROJECTS_SCOPE,
                    d::AUTH_RESOURCE_SERVER,
                    "Manage projects",
                ),
                service_scope(
                    d::GROUPS_SCOPE_ID,
                    d::GROUPS_SCOPE,
                    d::GROUPS_RESOURCE_SERVER,
                    "View groups and memberships",
                ),
                SeedScope {
                    id: uuid(d::EXCHANGE_SCOPE_ID),
                    client: Some(uuid(d::EXCHANGE_CLIENT_ID)),
                    suffix: Some(d::EXCHANGE_SCOPE_SUFFIX.to_owned()),
                    scope_string: None,
                    resource_server: None,
                    name: "Academy Exchange".to_owned(),
                    description: "Use the Academy exchange".to_owned(),
                    allows_refresh_token: true,
                    dependent_scopes: vec![DependentScope {
                        scope: uuid(d::GROUPS_SCOPE_ID),
                        optional: true,
                        requires_refresh_token: false,
                    }],
                },
            ],
            groups: vec![SeedGroup {
                id: uuid(d::GROUP_ID),
                name: "Academy developers".to_owned(),
                description: "Seeded group".to_owned(),
                members: vec![
                    Membership {
                        identity: uuid(d::ALICE_ID),
                        role: "admin".to_owned(),
                        status: "active".to_owned(),
                    },
                    Membership {
                        identity: uuid(d::BOB_ID),
                        role: "member".to_owned(),
                        status: "invited".to_owned(),
                    },
                ],
            }],
        }
    }
}

fn merge<T>(base: &mut Vec<T>, extra: Vec<T>, id: impl Fn(&T) -> Uuid) {
    for item in extra {
        match base.iter().position(|b| id(b) == id(&item)) {
            Some(i) => base[i] = item,
            None => base.push(item),
        }
    }
}

impl Seed {
    /// Reads a TOML seed file (merged into the default when `include_defaults`).
    pub fn from_file(path: &Path) -> Result<Self, EmulatorError> {
        let text = std::fs::read_to_string(path).map_err(|source| EmulatorError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            SeedError::Toml(source) => EmulatorError::SeedParse {
                path: path.to_owned(),
                source,
            },
        })
    }

    /// Parses TOML text (merged into the default when `include_defaults`).
    pub fn from_toml(text: &str) -> Result<Self, SeedError> {
        let file: Seed = toml::from_str(text).map_err(SeedError::Toml)?;
        if !file.include_defaults {
            return Ok(file);
        }
        let mut seed = Seed::default();
        seed.settings = file.settings;
        seed.env = file.env.or(seed.env);
        merge(&mut seed.users, file.users, |u| u.id);
        merge(&mut seed.projects, file.projects, |p| p.id);
        merge(&mut seed.clients, file.clients, |c| c.id);
        merge(&mut seed.scopes, file.scopes, |s| s.id);
        merge(&mut seed.groups, file.groups, |g| g.id);
        Ok(seed)
    }

    /// The environment references, defaulting to the built-in ids.
    pub fn env_refs(&self) -> SeedEnv {
        self.env.clone().unwrap_or(SeedEnv {
            exchange_client_id: uuid(d::EXCHANGE_CLIENT_ID),
            exchange_scope_id: uuid(d::EXCHANGE_SCOPE_ID),
            admin_client_id: uuid(d::ADMIN_CLIENT_ID),
            project_id: uuid(d::PROJECT_ID),
        })
    }

    /// The dev secret of a seeded client.
    pub fn client_secret(&self, id: Uuid) -> Option<&Secret> {
        self.clients.iter().find(|c| c.id == id)?.secret.as_ref()
    }

    /// Builds the initial state, checking references.
    pub fn to_state(&self) -> Result<State, EmulatorError> {
        let mut st = State::default();
        for u in &self.users {
            let local = u.username.split('@').next().unwrap_or(&u.username);
            st.users.insert(
                u.id,
                User {
                    id: u.id,
                    username: u.username.clone(),
                    name: u.name.clone().unwrap_or_else(|| local.to_owned()),
                    email: u.email.clone().unwrap_or_else(|| u.username.clone()),
                },
            );
        }
        for p in &self.projects {
            st.projects.insert(
                p.id,
                Project {
                    id: p.id,
                    display_name: p.display_name.clone(),
                    contact_email: p.contact_email.clone(),
                    admin_ids: p.admin_ids.clone(),
                    admin_group_ids: p.admin_group_ids.clone(),
                },
            );
        }
        for g in &self.groups {
            st.groups.insert(
                g.id,
                Group {
                    id: g.id,
                    name: g.name.clone(),
                    description: g.description.clone(),
                    memberships: g.members.clone(),
                },
            );
        }
        for c in &self.clients {
            if let Some(p) = c.project
                && !st.projects.contains_key(&p)
            {
                return Err(EmulatorError::Seed(format!(
                    "client {} names unknown project {p}",
                    c.id
                )));
            }
            let credentials = c
                .secret
                .iter()
                .map(|s| Credential {
                    id: Uuid::from_u128(c.id.as_u128() ^ 0x5eed),
                    name: "Seeded credential".to_owned(),
                    created: "1970-01-01T00:00:00+00:00".to_owned(),
                    secret_sha256: digest(s.expose()),
                })
                .collect();
            st.clients.insert(
                c.id,
                Client {
                    id: c.id,
                    name: c.name.clone(),
                    client_type: c.client_type.clone(),
                    project: c.project,
                    visibility: c.visibility.clone(),
                    redirect_uris: c.redirect_uris.clone(),
                    credentials,
                    extra: serde_json::Map::new(),
                },
            );
        }
        for s in &self.scopes {
            let (scope_string, rs) = match (
                &s.client,
                &s.suffix,
                &s.scope_string,
                &s.resource_server,
            ) {
                (Some(client), Some(suffix), None, None) => {
                    if !st.clients.contains_key(client) {
                        return Err(EmulatorError::Seed(format!(
                            "scope {} names unknown client {client}",
                            s.id
                        )));
                    }
                    (
                        d::client_scope_string(&client.to_string(), suffix),
                        client.to_string(),
                    )
                }
                (None, None, Some(scope), Some(rs)) => (scope.clone(), rs.clone()),
                _ => {
                    return Err(EmulatorError::Seed(format!(
                        "scope {} needs either client + suffix or scope_string + resource_server",
                        s.id
                    )));
                }
            };
            st.scopes.insert(
                s.id,
                Scope {
                    id: s.id,
                    scope_string,
                    resource_server: rs,
                    client: s.client,
                    name: s.name.clone(),
                    description: s.description.clone(),
                    allows_refresh_token: s.allows_refresh_token,
                    advertised: false,
                    required_domains: Vec::new(),
                    dependent_scopes: s.dependent_scopes.clone(),
                },
            );
        }
        for s in st.scopes.values() {
            for dep in &s.dependent_scopes {
                if !st.scopes.contains_key(&dep.scope) {
                    return Err(EmulatorError::Seed(format!(
                        "scope {} depends on unknown scope {}",
                        s.id, dep.scope
                    )));
                }
            }
        }
        if let Some(user) = &self.settings.default_user
            && st.find_user(user).is_none()
        {
            return Err(EmulatorError::Seed(format!(
                "default_user {user} is not a seeded user"
            )));
        }
        if st.users.is_empty() {
            return Err(EmulatorError::Seed("the seed has no user".to_owned()));
        }
        Ok(st)
    }
}

/// Errors parsing seed text.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// Malformed TOML or unknown field.
    #[error("invalid seed TOML")]
    Toml(#[source] toml::de::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_seed_builds() {
        let st = Seed::default().to_state().unwrap();
        let ex = st.scope_by_string(d::EXCHANGE_SCOPE).unwrap();
        assert_eq!(ex.id.to_string(), d::EXCHANGE_SCOPE_ID);
        assert_eq!(ex.dependent_scopes[0].scope.to_string(), d::GROUPS_SCOPE_ID);
        assert!(st.is_project_admin(uuid(d::PROJECT_ID), uuid(d::ADMIN_CLIENT_ID)));
        assert!(
            st.authenticate_client(d::ADMIN_CLIENT_ID, d::ADMIN_CLIENT_SECRET)
                .is_ok()
        );
        assert!(st.authenticate_client(d::ADMIN_CLIENT_ID, "wrong").is_err());
    }

    #[test]
    fn file_merges_into_default() {
        let seed = Seed::from_toml(
            "[settings]\nauto_approve = true\n[[users]]\nid = \"c0ffee00-0000-4000-8000-000000000003\"\nusername = \"carol@example.org\"\n",
        )
        .unwrap();
        let st = seed.to_state().unwrap();
        assert_eq!(st.users.len(), 3);
        assert_eq!(seed.settings.auto_approve, Some(true));
    }

    #[test]
    fn dangling_dependency_is_rejected() {
        let seed = Seed::from_toml(
            "[[scopes]]\nid = \"5c000000-0000-4000-8000-000000000009\"\nclient = \"ca1e2fbf-4e73-40a6-b2ab-c9458e5fcf99\"\nsuffix = \"x\"\ndependent_scopes = [{ scope = \"5c000000-0000-4000-8000-00000000000a\" }]\n",
        )
        .unwrap();
        assert!(matches!(seed.to_state(), Err(EmulatorError::Seed(_))));
    }

    #[test]
    fn unknown_field_is_rejected() {
        assert!(Seed::from_toml("bogus = 1").is_err());
    }
}
