//! Messages: header, body kinds, serialisation strategies and the wire JSON
//! (`messages.md`).

mod body;
mod header;
mod serialization;
mod version;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use uuid::Uuid;

pub use body::{ActionRequest, ActionResponse, Body, ErrorCode};
pub use header::{Header, MessageKind};
pub use serialization::{
    EXCEPTION_KEY, SERIALIZED_SENTINEL, SerializationStrategy, encode_exception, exception_text,
    python_json_dumps, python_json_loads,
};
pub use version::{
    ACADEMY_VERSION, DEFAULT_ACADEMY_VERSION, PROTOCOL_VERSION, is_compatible_version,
};

use crate::error::ExchangeError;
use crate::identifier::EntityId;

/// One message: a strictly validated header and a lazily validated body.
///
/// The body is kept as the JSON it arrived as (key order preserved), so that
/// an exchange can pass it through untouched; [`Message::body`] validates it.
///
/// ```
/// use academy_exchange::{AgentId, UserId};
/// use academy_exchange::message::{Body, Message};
/// let user = UserId::new(Some("alice".into()));
/// let agent = AgentId::new(None);
/// let ping = Message::request(user.into(), agent.into(), Body::PingRequest, None);
/// let wire = ping.to_json();
/// let back = Message::from_json(&wire).unwrap();
/// assert_eq!(back.header, ping.header);
/// let reply = back.create_response(Body::SuccessResponse).unwrap();
/// assert_eq!(reply.header.tag, ping.header.tag);
/// assert_eq!(reply.header.dest, ping.header.src);
/// ```
#[derive(Debug, Clone)]
pub struct Message {
    /// The header.
    pub header: Header,
    body: Value,
}

impl PartialEq for Message {
    /// Messages compare by header only, as in academy-py.
    fn eq(&self, other: &Self) -> bool {
        self.header == other.header
    }
}

impl Message {
    /// A message from a header and a body.
    pub fn new(header: Header, body: &Body) -> Self {
        Message {
            header,
            body: body.to_value(),
        }
    }

    /// A message whose body is arbitrary JSON (not validated).
    pub fn with_raw_body(header: Header, body: Value) -> Self {
        Message { header, body }
    }

    /// A new request with a fresh random tag; the kind follows the body.
    pub fn request(src: EntityId, dest: EntityId, body: Body, label: Option<Uuid>) -> Self {
        Self::create(src, dest, body, label, Uuid::new_v4())
    }

    /// A message with an explicit tag; the header kind follows the body kind.
    pub fn create(
        src: EntityId,
        dest: EntityId,
        body: Body,
        label: Option<Uuid>,
        tag: Uuid,
    ) -> Self {
        let kind = if body.is_request() {
            MessageKind::Request
        } else {
            MessageKind::Response
        };
        Message::new(Header::new(src, dest, tag, label, kind), &body)
    }

    /// The response to this request (src and dest swapped, same tag and label).
    pub fn create_response(&self, body: Body) -> Result<Message, ExchangeError> {
        let header = self.header.response_header().ok_or_else(|| {
            ExchangeError::InvalidMessage("cannot create a response to a response".into())
        })?;
        Ok(Message::new(header, &body))
    }

    /// The tag.
    pub fn tag(&self) -> Uuid {
        self.header.tag
    }

    /// The label.
    pub fn label(&self) -> Option<Uuid> {
        self.header.label
    }

    /// The sender.
    pub fn src(&self) -> &EntityId {
        &self.header.src
    }

    /// The destination.
    pub fn dest(&self) -> &EntityId {
        &self.header.dest
    }

    /// True for requests.
    pub fn is_request(&self) -> bool {
        self.header.kind == MessageKind::Request
    }

    /// True for responses.
    pub fn is_response(&self) -> bool {
        self.header.kind == MessageKind::Response
    }

    /// The body exactly as received.
    pub fn raw_body(&self) -> &Value {
        &self.body
    }

    /// The validated body. Like academy-py's `get_body`, an incompatible
    /// protocol version is an error before the body is looked at.
    pub fn body(&self) -> Result<Body, ExchangeError> {
        if !is_compatible_version(self.header.protocol_version.as_deref()) {
            return Err(ExchangeError::IncompatibleProtocol {
                remote: self.header.protocol_version.clone(),
                current: PROTOCOL_VERSION.to_string(),
            });
        }
        Body::from_value(&self.body)
    }

    /// Compact wire JSON (`{"header":…,"body":…}`), as academy-py emits it.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses wire JSON. Unknown top-level and header keys are ignored.
    pub fn from_json(text: &str) -> Result<Message, ExchangeError> {
        serde_json::from_str(text).map_err(|e| ExchangeError::InvalidMessage(e.to_string()))
    }

    /// Parses from an already-decoded JSON value.
    pub fn from_value(value: Value) -> Result<Message, ExchangeError> {
        let Value::Object(mut map) = value else {
            return Err(ExchangeError::InvalidMessage(
                "message must be a JSON object".into(),
            ));
        };
        let header = map
            .remove("header")
            .ok_or_else(|| ExchangeError::InvalidMessage("missing field `header`".into()))?;
        let body = map
            .remove("body")
            .ok_or_else(|| ExchangeError::InvalidMessage("missing field `body`".into()))?;
        let header: Header = serde_json::from_value(header)
            .map_err(|e| ExchangeError::InvalidMessage(format!("header: {e}")))?;
        Ok(Message { header, body })
    }
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = serializer.serialize_struct("Message", 2)?;
        st.serialize_field("header", &self.header)?;
        st.serialize_field("body", &self.body)?;
        st.end()
    }
}

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = Map::deserialize(deserializer)?;
        Message::from_value(Value::Object(map)).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &str = r#"{"header":{"src":{"uid":"4f8a1c2e-0b6d-4e1f-9a3b-5c7d9e0f1a2b","name":"alice","role":"user"},"dest":{"uid":"9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f","name":"adder","role":"agent"},"tag":"11111111-2222-4333-8444-555555555555","label":"66666666-7777-4888-9999-aaaaaaaaaaaa","kind":"request","protocol_version":"1.1","academy_version":"1.0.0"},"body":{"action":"add","serialization":"json","result_serialization":null,"exception_serialization":null,"pargs":"[1, 2]","kargs":"{\"scale\": 10}","kind":"action-request"}}"#;

    #[test]
    fn spec_example_round_trips_byte_for_byte() {
        let m = Message::from_json(REQUEST).unwrap();
        assert_eq!(m.to_json(), REQUEST);
        let Body::ActionRequest(req) = m.body().unwrap() else {
            panic!("wrong kind")
        };
        assert_eq!(req.args().unwrap(), vec![Value::from(1), Value::from(2)]);
        assert_eq!(req.kwargs().unwrap()["scale"], 10);
        // Re-encoding the typed body reproduces the original bytes too.
        assert_eq!(
            Message::new(m.header.clone(), &Body::ActionRequest(req)).to_json(),
            REQUEST
        );
    }

    #[test]
    fn header_defaults_and_unknown_keys() {
        let text = r#"{"header":{"src":{"uid":"4f8a1c2e-0b6d-4e1f-9a3b-5c7d9e0f1a2b"},"dest":{"uid":"9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f","role":"user"},"tag":"11111111222243338444555555555555","kind":"response","extra":1},"body":null,"junk":true}"#;
        let m = Message::from_json(text).unwrap();
        assert_eq!(m.header.label, None);
        assert_eq!(m.header.academy_version, "0.5.0");
        assert_eq!(m.header.protocol_version.as_deref(), Some("1.1"));
        assert!(
            m.to_json()
                .contains("\"tag\":\"11111111-2222-4333-8444-555555555555\"")
        );
        assert!(!m.to_json().contains("extra"));
        assert!(m.body().is_err());
    }

    #[test]
    fn rejects_null_academy_version_and_missing_body() {
        let bad = REQUEST.replace("\"academy_version\":\"1.0.0\"", "\"academy_version\":null");
        assert!(Message::from_json(&bad).is_err());
        assert!(Message::from_json(r#"{"header":{}}"#).is_err());
        let nobody = r#"{"header":{"src":{"uid":"4f8a1c2e-0b6d-4e1f-9a3b-5c7d9e0f1a2b"},"dest":{"uid":"9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f"},"tag":"11111111-2222-4333-8444-555555555555","kind":"request"}}"#;
        assert!(Message::from_json(nobody).is_err());
    }

    #[test]
    fn incompatible_version_blocks_body() {
        let bad = REQUEST.replace("\"protocol_version\":\"1.1\"", "\"protocol_version\":\"2\"");
        let m = Message::from_json(&bad).unwrap();
        assert!(matches!(
            m.body(),
            Err(ExchangeError::IncompatibleProtocol { .. })
        ));
    }

    #[test]
    fn body_kinds_serialise_with_kind_last() {
        let id: EntityId =
            r#"{"uid":"9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f","name":null,"role":"agent"}"#
                .parse()
                .unwrap();
        let cases = [
            (Body::PingRequest, r#"{"kind":"ping-request"}"#.to_string()),
            (Body::ShutdownRequest { terminate: None }, r#"{"terminate":null,"kind":"shutdown-request"}"#.into()),
            (
                Body::AcademyErrorResponse { error_code: ErrorCode::MailboxTerminated, mailbox_id: Some(id) },
                r#"{"error_code":0,"mailbox_id":{"uid":"9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f","name":null,"role":"agent"},"kind":"academy-error-response"}"#.into(),
            ),
            (Body::SuccessResponse, r#"{"kind":"success-response"}"#.into()),
        ];
        for (body, text) in cases {
            assert_eq!(serde_json::to_string(&body).unwrap(), text);
            assert_eq!(serde_json::from_str::<Body>(&text).unwrap(), body);
        }
        assert!(
            serde_json::from_str::<Body>(r#"{"error_code":9,"kind":"academy-error-response"}"#)
                .is_err()
        );
        assert!(serde_json::from_str::<Body>(r#"{}"#).is_err());
        assert!(
            serde_json::from_str::<Body>(
                r#"{"error_code":0,"mailbox_id":null,"kind":"academy-error-response"}"#
            )
            .is_err()
        );
    }
}
