//! Reading request bodies as academy-py's server does, and writing answers
//! as Python's `json.dumps` does.
//!
//! The `deserialize_with` helpers here carry Python's type rules that
//! clients rely on (a boolean `timeout` is 0 or 1, `allow_subclasses` is
//! read for truthiness) and the texts of academy-py's 400 answers, which
//! name the field (`'timeout' must be a number`).

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Request;
use crate::message::python_json_dumps;

/// Why a request body was refused (400 on our server).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The body is not JSON (academy-py answers 500 here).
    #[error("not valid JSON: {0}")]
    NotJson(String),
    /// The body is JSON but not an object (academy-py answers 500 here).
    #[error("the body must be a JSON object")]
    NotObject,
    /// A required field is absent; its detail text is the quoted key.
    #[error("'{0}'")]
    Missing(&'static str),
    /// A field is present but invalid; the text names the field.
    #[error("{0}")]
    Invalid(String),
}

impl BodyError {
    /// Whether academy-py would answer `Missing or invalid field: …`
    /// ([`super::status::invalid_field`] with this error's text) rather
    /// than fail on the body as a whole.
    pub fn is_field_error(&self) -> bool {
        matches!(self, BodyError::Missing(_) | BodyError::Invalid(_))
    }
}

/// Decodes a request body: a JSON object with `T`'s required fields
/// ([`Request::REQUIRED`], the first missing one reported) and valid values.
/// Unknown fields are ignored, as academy-py does.
///
/// ```
/// use academy_exchange::wire::{BodyError, DiscoverRequest, decode_request};
/// let r: DiscoverRequest = decode_request(br#"{"agent": "m.A", "allow_subclasses": 1}"#).unwrap();
/// assert!(r.allow_subclasses);
/// assert_eq!(decode_request::<DiscoverRequest>(br#"{"agent": "m.A"}"#),
///     Err(BodyError::Missing("allow_subclasses")));
/// assert_eq!(decode_request::<DiscoverRequest>(b"[]"), Err(BodyError::NotObject));
/// ```
pub fn decode_request<T: Request>(body: &[u8]) -> Result<T, BodyError> {
    // One parse on the hot path; the precise error only when it fails.
    match serde_json::from_slice::<T>(body) {
        Ok(request) => Ok(request),
        Err(_) => decode_slowly::<T>(body),
    }
}

/// Reads the body as Python's `json.loads` would (a repeated key keeps its
/// last value, where the derived decoder refuses it), then checks the
/// fields in order, so the error is academy-py's.
fn decode_slowly<T: Request>(body: &[u8]) -> Result<T, BodyError> {
    let fields: Map<String, Value> = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(BodyError::NotObject),
        Err(e) => return Err(BodyError::NotJson(e.to_string())),
    };
    if let Some(missing) = T::REQUIRED.iter().find(|f| !fields.contains_key(**f)) {
        return Err(BodyError::Missing(missing));
    }
    T::deserialize(Value::Object(fields)).map_err(|e| BodyError::Invalid(e.to_string()))
}

/// Writes an answer as Python's `json.dumps` would (`", "` and `": "`
/// separators, non-ASCII escaped).
///
/// ```
/// use academy_exchange::wire::{StatusAnswer, encode_answer};
/// use academy_exchange::MailboxStatus;
/// assert_eq!(encode_answer(&StatusAnswer { status: MailboxStatus::Active }).unwrap(),
///     r#"{"status": "ACTIVE"}"#);
/// ```
pub fn encode_answer<T: Serialize>(answer: &T) -> Result<String, serde_json::Error> {
    serde_json::to_value(answer).map(|v| python_json_dumps(&v))
}

/// A string field; anything else is `'<field>' must be a string`.
pub(crate) fn string<'de, D: Deserializer<'de>>(
    deserializer: D,
    field: &'static str,
) -> Result<String, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::String(s) => Ok(s),
        _ => Err(de::Error::custom(format!("'{field}' must be a string"))),
    }
}

/// `agent` of `GET /discover`: a string.
pub fn agent<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    string(deserializer, "agent")
}

/// `group_id`: a string.
pub fn group_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    string(deserializer, "group_id")
}

/// `agent` of `POST /mailbox`: a string or `null`.
pub fn optional_agent<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(de::Error::custom("'agent' must be a string")),
    }
}

/// `timeout`: a number, or a boolean as Python compares it (1 or 0). The
/// range is checked against the server's maximum later.
pub fn timeout<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Number(n) => Ok(Some(n.as_f64().unwrap_or(f64::NAN))),
        Value::Bool(b) => Ok(Some(f64::from(u8::from(b)))),
        _ => Err(de::Error::custom("'timeout' must be a number")),
    }
}

/// `last_id`: a non-negative integer, `null` meaning absent.
pub fn last_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        v => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| de::Error::custom("'last_id' must be a non-negative integer")),
    }
}

/// An answer's delivery `id`: a non-negative integer, anything else absent.
pub fn lenient_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    Ok(Value::deserialize(deserializer)?.as_u64())
}

/// Python's truthiness of any JSON value.
pub fn truthy<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(is_truthy(&Value::deserialize(deserializer)?))
}

/// Python's truthiness: `null`, `false`, `0`, `""`, `[]` and `{}` are false.
///
/// ```
/// use academy_exchange::wire::python::is_truthy;
/// assert!(!is_truthy(&serde_json::json!(0.0)));
/// assert!(is_truthy(&serde_json::json!([0])));
/// ```
pub fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::wire::{
        CreateMailboxRequest, MailboxRequest, RecvRequest, SendRequest, TimeoutOutOfRange,
    };
    use crate::{EntityId, UserId};

    fn body(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    fn me() -> String {
        EntityId::from(UserId::new(None)).to_json()
    }

    #[test]
    fn timeout_rules() {
        let recv = |t: Value| {
            decode_request::<RecvRequest>(&body(json!({ "mailbox": me(), "timeout": t })))
                .map(|r| r.wait(60))
        };
        let none = decode_request::<RecvRequest>(&body(json!({ "mailbox": me() }))).unwrap();
        assert_eq!(none.wait(60), Ok(Duration::from_secs(60)));
        assert_eq!(recv(json!(60)).unwrap(), Ok(Duration::from_secs(60)));
        assert!(recv(json!(0.5)).unwrap().is_ok());
        assert!(recv(json!(true)).unwrap().is_ok());
        assert_eq!(
            recv(json!(0)).unwrap(),
            Err(TimeoutOutOfRange { max_s: 60 })
        );
        assert_eq!(
            recv(json!(60.01)).unwrap(),
            Err(TimeoutOutOfRange { max_s: 60 })
        );
        assert_eq!(
            recv(json!("x")).unwrap_err(),
            BodyError::Invalid("'timeout' must be a number".into())
        );
        assert!(recv(json!(null)).is_err());
    }

    #[test]
    fn field_errors_name_the_field() {
        assert_eq!(
            decode_request::<MailboxRequest>(b"{}"),
            Err(BodyError::Missing("mailbox"))
        );
        assert_eq!(
            decode_request::<MailboxRequest>(&body(json!({ "mailbox": {"uid": "x"} }))),
            Err(BodyError::Invalid("'mailbox' must be a string".into()))
        );
        match decode_request::<MailboxRequest>(&body(json!({ "mailbox": "{}" }))) {
            Err(BodyError::Invalid(m)) => assert!(m.starts_with("'mailbox': "), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            decode_request::<CreateMailboxRequest>(&body(json!({ "mailbox": me(), "agent": [1] }))),
            Err(BodyError::Invalid("'agent' must be a string".into()))
        );
        let user = decode_request::<CreateMailboxRequest>(&body(
            json!({ "mailbox": me(), "agent": null }),
        ))
        .unwrap();
        assert_eq!(user.agent, None);
        assert_eq!(
            decode_request::<SendRequest>(&body(json!({ "message": 1 }))),
            Err(BodyError::Invalid("'message' must be a string".into()))
        );
        assert_eq!(
            decode_request::<RecvRequest>(&body(json!({ "mailbox": me(), "last_id": -1 }))),
            Err(BodyError::Invalid(
                "'last_id' must be a non-negative integer".into()
            ))
        );
        assert!(matches!(
            decode_request::<MailboxRequest>(b"not json"),
            Err(BodyError::NotJson(_))
        ));
        assert!(!BodyError::NotObject.is_field_error());
        assert!(BodyError::Missing("x").is_field_error());
    }

    #[test]
    fn truthiness() {
        for v in [
            json!(null),
            json!(false),
            json!(0),
            json!(""),
            json!([]),
            json!({}),
        ] {
            assert!(!is_truthy(&v));
        }
        for v in [json!(true), json!(1), json!("x"), json!([0])] {
            assert!(is_truthy(&v));
        }
    }

    #[test]
    fn requests_round_trip() {
        let r = RecvRequest {
            mailbox: EntityId::from(UserId::new(Some("me".into()))),
            timeout: None,
            last_id: Some(0),
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("timeout"), "{text}");
        assert_eq!(decode_request::<RecvRequest>(text.as_bytes()), Ok(r));
    }
}
