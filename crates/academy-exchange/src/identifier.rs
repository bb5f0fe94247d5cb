//! Entity identifiers: [`AgentId`], [`UserId`] and the [`EntityId`] union.
//!
//! Wire form (`messages.md` §1): `{"uid":"<uuid>","name":<string|null>,"role":"agent"|"user"}`.
//! Identity is the kind plus the UUID; the name is display-only.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ExchangeError;

/// The kind of entity that owns a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An agent: serves requests.
    Agent,
    /// A user: sends requests and receives responses.
    User,
}

impl Role {
    /// The wire string (`"agent"` or `"user"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::User => "user",
        }
    }
}

/// Parses a UUID in any form Python's `uuid.UUID` accepts: hyphenated, 32 hex digits,
/// any case, `{…}` braces and a `urn:uuid:` prefix.
///
/// ```
/// use academy_exchange::identifier::parse_uuid;
/// let a = parse_uuid("{9D3E5F70-1A2B-4C3D-8E9F-0A1B2C3D4E5F}").unwrap();
/// let b = parse_uuid("urn:uuid:9d3e5f701a2b4c3d8e9f0a1b2c3d4e5f").unwrap();
/// assert_eq!(a, b);
/// ```
pub fn parse_uuid(text: &str) -> Result<Uuid, ExchangeError> {
    // Every id on the wire is in the canonical hyphenated form: parse it
    // without the general path's allocation.
    if text.len() == 36
        && let Ok(uid) = Uuid::try_parse(text)
    {
        return Ok(uid);
    }
    // Python strips "urn:", "uuid:", braces and hyphens, then wants 32 hex digits.
    let mut s = text.trim();
    if let Some(rest) = s.strip_prefix("urn:") {
        s = rest;
    }
    if let Some(rest) = s.strip_prefix("uuid:") {
        s = rest;
    }
    let s = s.trim_matches(|c| c == '{' || c == '}');
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ExchangeError::InvalidMessage(format!(
            "badly formed hexadecimal UUID string: {text:?}"
        )));
    }
    Uuid::parse_str(&hex)
        .map_err(|e| ExchangeError::InvalidMessage(format!("invalid UUID {text:?}: {e}")))
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $role:expr, $label:literal) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            uid: Uuid,
            name: Option<String>,
        }

        impl $name {
            /// A new identifier with a random (version 4) UUID.
            pub fn new(name: Option<String>) -> Self {
                Self { uid: Uuid::new_v4(), name }
            }

            /// An identifier for an existing UUID.
            pub fn from_uid(uid: Uuid, name: Option<String>) -> Self {
                Self { uid, name }
            }

            /// The UUID that identifies the mailbox.
            pub fn uid(&self) -> Uuid {
                self.uid
            }

            /// The display name, if any.
            pub fn name(&self) -> Option<&str> {
                self.name.as_deref()
            }

            /// The role of this kind of identifier.
            pub fn role(&self) -> Role {
                $role
            }

            /// The compact wire JSON of this identifier.
            pub fn to_json(&self) -> String {
                // Serialising a struct of strings cannot fail.
                serde_json::to_string(self).unwrap_or_default()
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.uid == other.uid
            }
        }
        impl Eq for $name {}
        impl Hash for $name {
            fn hash<H: Hasher>(&self, state: &mut H) {
                self.role().hash(state);
                self.uid.hash(state);
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt_id(f, $label, self.uid, self.name.as_deref())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(uid={}, name={:?})", stringify!($name), self.uid, self.name)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut st = serializer.serialize_struct(stringify!($name), 3)?;
                st.serialize_field("uid", &self.uid)?;
                st.serialize_field("name", &self.name)?;
                st.serialize_field("role", $role.as_str())?;
                st.end()
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = RawId::deserialize(deserializer)?;
                let role = raw.role.unwrap_or($role);
                if role != $role {
                    return Err(de::Error::custom(format!(
                        "expected role {:?}, found {:?}",
                        $role.as_str(),
                        role.as_str()
                    )));
                }
                Ok(Self { uid: raw.uid, name: raw.name })
            }
        }

        impl FromStr for $name {
            type Err = ExchangeError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                serde_json::from_str(s)
                    .map_err(|e| ExchangeError::InvalidMessage(format!("invalid {}: {e}", stringify!($name))))
            }
        }
    };
}

fn fmt_id(f: &mut fmt::Formatter<'_>, label: &str, uid: Uuid, name: Option<&str>) -> fmt::Result {
    match name {
        Some(n) => write!(f, "{label}<{n}>"),
        None => {
            let s = uid.to_string();
            write!(f, "{label}<{}>", &s[..8])
        }
    }
}

id_type!(
    /// Identifier of an agent's mailbox.
    ///
    /// ```
    /// use academy_exchange::AgentId;
    /// let id: AgentId = r#"{"uid":"9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f","name":null,"role":"agent"}"#
    ///     .parse()
    ///     .unwrap();
    /// assert_eq!(id.to_string(), "AgentId<9d3e5f70>");
    /// assert_eq!(
    ///     id.to_json(),
    ///     r#"{"uid":"9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f","name":null,"role":"agent"}"#
    /// );
    /// ```
    AgentId,
    Role::Agent,
    "AgentId"
);

id_type!(
    /// Identifier of a user's mailbox.
    ///
    /// ```
    /// use academy_exchange::UserId;
    /// let id = UserId::new(Some("alice".into()));
    /// assert_eq!(id.to_string(), "UserId<alice>");
    /// ```
    UserId,
    Role::User,
    "UserId"
);

/// Either kind of identifier. `role` decides; a value without `role` is an [`AgentId`].
///
/// ```
/// use academy_exchange::EntityId;
/// let id: EntityId = r#"{"uid":"4f8a1c2e-0b6d-4e1f-9a3b-5c7d9e0f1a2b","name":"alice","role":"user"}"#
///     .parse()
///     .unwrap();
/// assert!(id.is_user());
/// assert_eq!(id.to_string(), "UserId<alice>");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum EntityId {
    /// An agent.
    Agent(AgentId),
    /// A user.
    User(UserId),
}

impl EntityId {
    /// The UUID.
    pub fn uid(&self) -> Uuid {
        match self {
            EntityId::Agent(a) => a.uid(),
            EntityId::User(u) => u.uid(),
        }
    }

    /// The display name, if any.
    pub fn name(&self) -> Option<&str> {
        match self {
            EntityId::Agent(a) => a.name(),
            EntityId::User(u) => u.name(),
        }
    }

    /// The role.
    pub fn role(&self) -> Role {
        match self {
            EntityId::Agent(_) => Role::Agent,
            EntityId::User(_) => Role::User,
        }
    }

    /// True for an agent.
    pub fn is_agent(&self) -> bool {
        matches!(self, EntityId::Agent(_))
    }

    /// True for a user.
    pub fn is_user(&self) -> bool {
        matches!(self, EntityId::User(_))
    }

    /// The agent identifier, if this is one.
    pub fn as_agent(&self) -> Option<&AgentId> {
        match self {
            EntityId::Agent(a) => Some(a),
            EntityId::User(_) => None,
        }
    }

    /// The compact wire JSON of this identifier.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntityId::Agent(a) => a.fmt(f),
            EntityId::User(u) => u.fmt(f),
        }
    }
}

impl fmt::Debug for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntityId::Agent(a) => a.fmt(f),
            EntityId::User(u) => u.fmt(f),
        }
    }
}

impl From<AgentId> for EntityId {
    fn from(v: AgentId) -> Self {
        EntityId::Agent(v)
    }
}

impl From<UserId> for EntityId {
    fn from(v: UserId) -> Self {
        EntityId::User(v)
    }
}

impl Serialize for EntityId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            EntityId::Agent(a) => a.serialize(serializer),
            EntityId::User(u) => u.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for EntityId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawId::deserialize(deserializer)?;
        Ok(match raw.role.unwrap_or(Role::Agent) {
            Role::Agent => EntityId::Agent(AgentId {
                uid: raw.uid,
                name: raw.name,
            }),
            Role::User => EntityId::User(UserId {
                uid: raw.uid,
                name: raw.name,
            }),
        })
    }
}

impl FromStr for EntityId {
    type Err = ExchangeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_str(s)
            .map_err(|e| ExchangeError::InvalidMessage(format!("invalid EntityId: {e}")))
    }
}

/// The shared wire shape, with Python's validation rules: unknown keys rejected,
/// lenient UUID forms, `name` a string or null.
struct RawId {
    uid: Uuid,
    name: Option<String>,
    role: Option<Role>,
}

impl<'de> Deserialize<'de> for RawId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an entity identifier object with uid, name and role")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawId, A::Error> {
                let mut uid: Option<Uuid> = None;
                let mut name: Option<Option<String>> = None;
                let mut role: Option<Role> = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "uid" => {
                            if uid.is_some() {
                                return Err(de::Error::duplicate_field("uid"));
                            }
                            let text: String = map.next_value()?;
                            uid = Some(parse_uuid(&text).map_err(de::Error::custom)?);
                        }
                        "name" => {
                            if name.is_some() {
                                return Err(de::Error::duplicate_field("name"));
                            }
                            name = Some(map.next_value()?);
                        }
                        "role" => {
                            if role.is_some() {
                                return Err(de::Error::duplicate_field("role"));
                            }
                            role = Some(map.next_value()?);
                        }
                        other => {
                            return Err(de::Error::unknown_field(other, &["uid", "name", "role"]));
                        }
                    }
                }
                let uid = uid.ok_or_else(|| de::Error::missing_field("uid"))?;
                Ok(RawId {
                    uid,
                    name: name.flatten(),
                    role,
                })
            }
        }
        deserializer.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_forms_python_accepts() {
        let canonical = parse_uuid("9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f").unwrap();
        for text in [
            "9D3E5F70-1A2B-4C3D-8E9F-0A1B2C3D4E5F",
            "9d3e5f701a2b4c3d8e9f0a1b2c3d4e5f",
            // 36 characters with the hyphens elsewhere: not the canonical
            // form, still accepted by Python (it drops every hyphen).
            "9d3e5f701-a2b-4c3d-8e9f-0a1b2c3d4e5f",
            "{9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f}",
            " urn:uuid:9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f ",
        ] {
            assert_eq!(parse_uuid(text).unwrap(), canonical, "{text}");
        }
        for bad in [
            "9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5g",
            "9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5",
            "",
        ] {
            assert!(parse_uuid(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn agent_round_trip_is_wire_exact() {
        let text = r#"{"uid":"9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f","name":null,"role":"agent"}"#;
        let id: AgentId = text.parse().unwrap();
        assert_eq!(id.to_json(), text);
        assert_eq!(id.to_string(), "AgentId<9d3e5f70>");
    }

    #[test]
    fn entity_without_role_is_agent() {
        let id: EntityId = r#"{"uid":"9d3e5f701a2b4c3d8e9f0a1b2c3d4e5f"}"#.parse().unwrap();
        assert!(id.is_agent());
        assert_eq!(id.name(), None);
    }

    #[test]
    fn rejects_unknown_keys_bad_role_bad_name() {
        assert!(
            "{\"uid\":\"9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f\",\"x\":1}"
                .parse::<EntityId>()
                .is_err()
        );
        assert!(
            "{\"uid\":\"9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f\",\"role\":\"robot\"}"
                .parse::<EntityId>()
                .is_err()
        );
        assert!(
            "{\"uid\":\"9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f\",\"name\":5}"
                .parse::<EntityId>()
                .is_err()
        );
        assert!("{\"uid\":\"not-a-uuid\"}".parse::<EntityId>().is_err());
        assert!("{\"name\":\"x\"}".parse::<EntityId>().is_err());
    }

    #[test]
    fn user_id_rejects_agent_role() {
        assert!(
            r#"{"uid":"9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f","role":"agent"}"#
                .parse::<UserId>()
                .is_err()
        );
    }

    #[test]
    fn equality_ignores_name_but_not_role() {
        let uid = Uuid::new_v4();
        let a1 = EntityId::from(AgentId::from_uid(uid, Some("a".into())));
        let a2 = EntityId::from(AgentId::from_uid(uid, None));
        let u = EntityId::from(UserId::from_uid(uid, None));
        assert_eq!(a1, a2);
        assert_ne!(a1, u);
    }

    #[test]
    fn lenient_uuid_forms() {
        for form in [
            "9D3E5F70-1A2B-4C3D-8E9F-0A1B2C3D4E5F",
            "{9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f}",
            "urn:uuid:9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
            "9d3e5f701a2b4c3d8e9f0a1b2c3d4e5f",
        ] {
            let u = parse_uuid(form).unwrap();
            assert_eq!(u.to_string(), "9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f");
        }
    }
}
