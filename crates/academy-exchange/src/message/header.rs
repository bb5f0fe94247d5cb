//! Message headers (`messages.md` §2).

use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use super::version::{ACADEMY_VERSION, DEFAULT_ACADEMY_VERSION, PROTOCOL_VERSION};
use crate::identifier::{EntityId, parse_uuid};

/// Whether a message is a request or a response; this, not the body, decides routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    /// A request: expects a response with the same tag.
    Request,
    /// A response to the request with the same tag.
    Response,
}

/// A message header. Field order is the order academy-py emits.
///
/// ```
/// use academy_exchange::message::{Header, MessageKind};
/// let h: Header = serde_json::from_str(r#"{
///     "src":{"uid":"4f8a1c2e-0b6d-4e1f-9a3b-5c7d9e0f1a2b","name":"alice","role":"user"},
///     "dest":{"uid":"9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f","name":null,"role":"agent"},
///     "tag":"11111111-2222-4333-8444-555555555555","kind":"request"}"#).unwrap();
/// assert_eq!(h.kind, MessageKind::Request);
/// assert_eq!(h.protocol_version.as_deref(), Some("1.1"));
/// assert_eq!(h.academy_version, "0.5.0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Sender mailbox.
    pub src: EntityId,
    /// Destination mailbox.
    pub dest: EntityId,
    /// Unique per request; a response repeats its request's tag.
    #[serde(deserialize_with = "de_uuid")]
    pub tag: Uuid,
    /// Identifies the sending handle when several share a mailbox.
    #[serde(default, deserialize_with = "de_opt_uuid")]
    pub label: Option<Uuid>,
    /// Request or response.
    pub kind: MessageKind,
    /// The sender's protocol version (`null` allowed, read as incompatible).
    #[serde(default = "default_protocol_version")]
    pub protocol_version: Option<String>,
    /// The sender's academy feature level; never `null` on the wire.
    #[serde(default = "default_academy_version")]
    pub academy_version: String,
}

impl Header {
    /// A header from us: our protocol and academy versions.
    pub fn new(
        src: EntityId,
        dest: EntityId,
        tag: Uuid,
        label: Option<Uuid>,
        kind: MessageKind,
    ) -> Self {
        Header {
            src,
            dest,
            tag,
            label,
            kind,
            protocol_version: Some(PROTOCOL_VERSION.to_string()),
            academy_version: ACADEMY_VERSION.to_string(),
        }
    }

    /// The header of a response to this request: src and dest swapped, same
    /// tag and label, our own versions. `None` if this is already a response.
    pub fn response_header(&self) -> Option<Header> {
        match self.kind {
            MessageKind::Request => Some(Header::new(
                self.dest.clone(),
                self.src.clone(),
                self.tag,
                self.label,
                MessageKind::Response,
            )),
            MessageKind::Response => None,
        }
    }
}

fn default_protocol_version() -> Option<String> {
    Some(PROTOCOL_VERSION.to_string())
}

fn default_academy_version() -> String {
    DEFAULT_ACADEMY_VERSION.to_string()
}

fn de_uuid<'de, D: Deserializer<'de>>(d: D) -> Result<Uuid, D::Error> {
    let s = String::deserialize(d)?;
    parse_uuid(&s).map_err(serde::de::Error::custom)
}

fn de_opt_uuid<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Uuid>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(s) => parse_uuid(&s).map(Some).map_err(serde::de::Error::custom),
        None => Ok(None),
    }
}
