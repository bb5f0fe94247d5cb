//! Mailbox id arguments: a bare UUID (any form Python's `uuid.UUID`
//! accepts) whose role comes from `--agent`/`--user` or is looked up, or a
//! full `EntityId` JSON object.

use academy_exchange::identifier::parse_uuid;
use academy_exchange::{AgentId, EntityId, Role, UserId};
use academy_globus_client::AcademyGlobusClient;
use uuid::Uuid;

use crate::error::{CliError, Result};

/// A parsed mailbox argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxRef {
    /// A whole identifier (role included).
    Full(EntityId),
    /// A UUID whose role is not known yet.
    Bare(Uuid),
}

/// Parses a mailbox argument.
///
/// ```
/// use academy_cli::ids::{parse, MailboxRef};
/// assert!(matches!(parse("9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f").unwrap(), MailboxRef::Bare(_)));
/// let full = parse(r#"{"uid":"9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f","name":null,"role":"user"}"#).unwrap();
/// assert!(matches!(full, MailboxRef::Full(id) if id.is_user()));
/// assert!(parse("not-a-uuid").is_err());
/// ```
pub fn parse(text: &str) -> Result<MailboxRef> {
    let t = text.trim();
    if t.starts_with('{') {
        return serde_json::from_str::<EntityId>(t)
            .map(MailboxRef::Full)
            .map_err(|e| CliError::BadInput(format!("invalid mailbox id JSON {text:?}: {e}")));
    }
    parse_uuid(t).map(MailboxRef::Bare).map_err(|_| {
        CliError::BadInput(format!(
            "invalid mailbox id {text:?}: expected a UUID or EntityId JSON"
        ))
    })
}

/// An identifier of `role` for `uid`.
pub fn with_role(uid: Uuid, role: Role) -> EntityId {
    match role {
        Role::Agent => AgentId::from_uid(uid, None).into(),
        Role::User => UserId::from_uid(uid, None).into(),
    }
}

/// Resolves `text` to an identifier: a full id as given, a bare UUID with
/// `role`, else with `default`, else by asking the exchange which role has
/// a mailbox with that UUID (agent first).
pub async fn resolve(
    client: &AcademyGlobusClient,
    text: &str,
    role: Option<Role>,
    default: Option<Role>,
    what: &str,
) -> Result<EntityId> {
    let uid = match parse(text)? {
        MailboxRef::Full(id) => return Ok(id),
        MailboxRef::Bare(uid) => uid,
    };
    if let Some(role) = role.or(default) {
        return Ok(with_role(uid, role));
    }
    for role in [Role::Agent, Role::User] {
        let id = with_role(uid, role);
        match client.get_heartbeat(&id).await {
            Ok(_) => return Ok(id),
            Err(e) if e.http_status() == Some(404) => continue,
            // Terminated or not ours: the mailbox exists with this role.
            Err(e) if matches!(e.http_status(), Some(419 | 403)) => return Ok(id),
            Err(e) => return Err(CliError::from_client(e, Some(text), what)),
        }
    }
    Err(CliError::UnknownMailbox {
        mailbox: text.to_string(),
    })
}
