//! Message bodies (`messages.md` §4).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::serialization::{SERIALIZED_SENTINEL, SerializationStrategy, exception_text};
use crate::error::ExchangeError;
use crate::identifier::{EntityId, parse_uuid};

/// Academy error codes carried by `academy-error-response`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0: the destination mailbox was terminated.
    MailboxTerminated,
    /// 1: the agent stopped before it answered a ping.
    PingCancelled,
    /// 2: a cancel-request whose target is not running.
    ActionInvalidState,
    /// 3: the action was cancelled.
    ActionCancelled,
    /// 4: a user client cannot serve requests.
    InvalidClient,
    /// 5: the request's protocol version is incompatible.
    IncompatibleProtocol,
}

impl ErrorCode {
    /// The wire integer.
    pub fn code(self) -> u8 {
        match self {
            ErrorCode::MailboxTerminated => 0,
            ErrorCode::PingCancelled => 1,
            ErrorCode::ActionInvalidState => 2,
            ErrorCode::ActionCancelled => 3,
            ErrorCode::InvalidClient => 4,
            ErrorCode::IncompatibleProtocol => 5,
        }
    }

    /// The code for a wire integer.
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => ErrorCode::MailboxTerminated,
            1 => ErrorCode::PingCancelled,
            2 => ErrorCode::ActionInvalidState,
            3 => ErrorCode::ActionCancelled,
            4 => ErrorCode::InvalidClient,
            5 => ErrorCode::IncompatibleProtocol,
            _ => return None,
        })
    }
}

/// An `action-request` body.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionRequest {
    /// Action (method) name.
    pub action: String,
    /// Strategy of `pargs` and `kargs`.
    pub serialization: SerializationStrategy,
    /// Requested result strategy (`None`: same as `serialization`).
    pub result_serialization: Option<SerializationStrategy>,
    /// Requested exception strategy (`None`: same as the result's).
    pub exception_serialization: Option<SerializationStrategy>,
    /// Positional arguments: normally a string (encoded array); raw JSON is accepted.
    pub pargs: Value,
    /// Keyword arguments: normally a string (encoded object); raw JSON is accepted.
    pub kargs: Value,
}

impl ActionRequest {
    /// A `json`-strategy request with positional and keyword arguments.
    ///
    /// ```
    /// use academy_exchange::message::ActionRequest;
    /// let r = ActionRequest::json("add", &[1.into(), 2.into()], &serde_json::json!({"scale": 10}));
    /// assert_eq!(r.pargs, "[1, 2]");
    /// assert_eq!(r.kargs, "{\"scale\": 10}");
    /// ```
    pub fn json(action: impl Into<String>, args: &[Value], kwargs: &Value) -> Self {
        let strategy = SerializationStrategy::Json;
        let kwargs = if kwargs.is_null() {
            Value::Object(Map::new())
        } else {
            kwargs.clone()
        };
        ActionRequest {
            action: action.into(),
            serialization: strategy,
            result_serialization: None,
            exception_serialization: None,
            pargs: Value::String(super::python_json_dumps(&Value::Array(args.to_vec()))),
            kargs: Value::String(super::python_json_dumps(&kwargs)),
        }
    }

    /// The strategy the result must use.
    pub fn result_strategy(&self) -> SerializationStrategy {
        self.result_serialization.unwrap_or(self.serialization)
    }

    /// The strategy an exception must use.
    pub fn exception_strategy(&self) -> SerializationStrategy {
        self.exception_serialization
            .unwrap_or_else(|| self.result_strategy())
    }

    /// Decoded positional arguments.
    pub fn args(&self) -> Result<Vec<Value>, ExchangeError> {
        match self.decode_field(&self.pargs, Value::Array(Vec::new()))? {
            Value::Array(items) => Ok(items),
            other => Err(ExchangeError::InvalidMessage(format!(
                "pargs must be an array, found {other}"
            ))),
        }
    }

    /// Decoded keyword arguments.
    pub fn kwargs(&self) -> Result<Map<String, Value>, ExchangeError> {
        match self.decode_field(&self.kargs, Value::Object(Map::new()))? {
            Value::Object(map) => Ok(map),
            other => Err(ExchangeError::InvalidMessage(format!(
                "kargs must be an object, found {other}"
            ))),
        }
    }

    fn decode_field(&self, field: &Value, empty: Value) -> Result<Value, ExchangeError> {
        match field {
            Value::Null => Ok(empty),
            Value::String(text) => self.serialization.decode(text),
            raw => Ok(raw.clone()),
        }
    }
}

/// An `action-response` body.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionResponse {
    /// `["__serialized__", "<text>"]`, or a raw JSON value.
    pub result: Value,
    /// Strategy of the result.
    pub serialization: SerializationStrategy,
}

impl ActionResponse {
    /// A `json`-strategy response carrying `value`.
    ///
    /// ```
    /// use academy_exchange::message::ActionResponse;
    /// let r = ActionResponse::json(&30.into());
    /// assert_eq!(r.result, serde_json::json!(["__serialized__", "30"]));
    /// assert_eq!(r.value().unwrap(), serde_json::json!(30));
    /// ```
    pub fn json(value: &Value) -> Self {
        ActionResponse {
            result: Value::Array(vec![
                Value::String(SERIALIZED_SENTINEL.into()),
                Value::String(super::python_json_dumps(value)),
            ]),
            serialization: SerializationStrategy::Json,
        }
    }

    /// The decoded result. An encoded exception becomes [`ExchangeError::RemoteAction`].
    pub fn value(&self) -> Result<Value, ExchangeError> {
        let decoded = match self.result.as_array().map(Vec::as_slice) {
            Some([Value::String(tag), Value::String(text)]) if tag == SERIALIZED_SENTINEL => {
                self.serialization.decode(text)?
            }
            _ => self.result.clone(),
        };
        if let Some(text) = exception_text(&decoded) {
            return Err(ExchangeError::RemoteAction(text.to_string()));
        }
        Ok(decoded)
    }
}

/// Every body kind. Serialises with `kind` last, as academy-py does.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// `action-request`.
    ActionRequest(ActionRequest),
    /// `ping-request`.
    PingRequest,
    /// `cancel-request`.
    CancelRequest {
        /// Tag of the action request to cancel.
        target_tag: Uuid,
    },
    /// `shutdown-request`.
    ShutdownRequest {
        /// Override whether the agent terminates its mailbox.
        terminate: Option<bool>,
    },
    /// `action-response`.
    ActionResponse(ActionResponse),
    /// `academy-error-response`.
    AcademyErrorResponse {
        /// The error code.
        error_code: ErrorCode,
        /// The mailbox the error refers to.
        mailbox_id: Option<EntityId>,
    },
    /// `user-error-response`.
    UserErrorResponse {
        /// Strategy of `exception`.
        serialization: SerializationStrategy,
        /// The encoded exception.
        exception: String,
    },
    /// `success-response`.
    SuccessResponse,
}

impl Body {
    /// The `kind` discriminator.
    pub fn kind(&self) -> &'static str {
        match self {
            Body::ActionRequest(_) => "action-request",
            Body::PingRequest => "ping-request",
            Body::CancelRequest { .. } => "cancel-request",
            Body::ShutdownRequest { .. } => "shutdown-request",
            Body::ActionResponse(_) => "action-response",
            Body::AcademyErrorResponse { .. } => "academy-error-response",
            Body::UserErrorResponse { .. } => "user-error-response",
            Body::SuccessResponse => "success-response",
        }
    }

    /// True for request kinds.
    pub fn is_request(&self) -> bool {
        matches!(
            self,
            Body::ActionRequest(_)
                | Body::PingRequest
                | Body::CancelRequest { .. }
                | Body::ShutdownRequest { .. }
        )
    }

    /// The body as a JSON value in academy-py's field order.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        match self {
            Body::ActionRequest(r) => {
                m.insert("action".into(), Value::String(r.action.clone()));
                m.insert("serialization".into(), strategy(r.serialization));
                m.insert(
                    "result_serialization".into(),
                    opt_strategy(r.result_serialization),
                );
                m.insert(
                    "exception_serialization".into(),
                    opt_strategy(r.exception_serialization),
                );
                m.insert("pargs".into(), r.pargs.clone());
                m.insert("kargs".into(), r.kargs.clone());
            }
            Body::PingRequest | Body::SuccessResponse => {}
            Body::CancelRequest { target_tag } => {
                m.insert("target_tag".into(), Value::String(target_tag.to_string()));
            }
            Body::ShutdownRequest { terminate } => {
                m.insert(
                    "terminate".into(),
                    terminate.map(Value::Bool).unwrap_or(Value::Null),
                );
            }
            Body::ActionResponse(r) => {
                m.insert("result".into(), r.result.clone());
                m.insert("serialization".into(), strategy(r.serialization));
            }
            Body::AcademyErrorResponse {
                error_code,
                mailbox_id,
            } => {
                m.insert("error_code".into(), Value::from(error_code.code()));
                m.insert(
                    "mailbox_id".into(),
                    mailbox_id
                        .as_ref()
                        .and_then(|id| serde_json::to_value(id).ok())
                        .unwrap_or(Value::Null),
                );
            }
            Body::UserErrorResponse {
                serialization,
                exception,
            } => {
                m.insert("serialization".into(), strategy(*serialization));
                m.insert("exception".into(), Value::String(exception.clone()));
            }
        }
        m.insert("kind".into(), Value::String(self.kind().into()));
        Value::Object(m)
    }

    /// Validates a JSON value as a body. Unknown keys are ignored; `kind` is required.
    pub fn from_value(value: &Value) -> Result<Body, ExchangeError> {
        let obj = value
            .as_object()
            .ok_or_else(|| invalid(format!("body must be an object, found {value}")))?;
        let kind = obj
            .get("kind")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("body has no kind".into()))?;
        Ok(match kind {
            "action-request" => Body::ActionRequest(ActionRequest {
                action: req_str(obj, "action")?,
                serialization: req_strategy(obj, "serialization")?,
                result_serialization: opt_strategy_field(obj, "result_serialization")?,
                exception_serialization: opt_strategy_field(obj, "exception_serialization")?,
                pargs: obj.get("pargs").cloned().unwrap_or(Value::Null),
                kargs: obj.get("kargs").cloned().unwrap_or(Value::Null),
            }),
            "ping-request" => Body::PingRequest,
            "cancel-request" => Body::CancelRequest {
                target_tag: parse_uuid(&req_str(obj, "target_tag")?)?,
            },
            "shutdown-request" => Body::ShutdownRequest {
                terminate: match obj.get("terminate") {
                    None | Some(Value::Null) => None,
                    Some(Value::Bool(b)) => Some(*b),
                    Some(other) => {
                        return Err(invalid(format!("terminate must be a bool, found {other}")));
                    }
                },
            },
            "action-response" => Body::ActionResponse(ActionResponse {
                result: obj
                    .get("result")
                    .cloned()
                    .ok_or_else(|| invalid("missing result".into()))?,
                serialization: req_strategy(obj, "serialization")?,
            }),
            "academy-error-response" => {
                let code = obj
                    .get("error_code")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| invalid("missing or invalid error_code".into()))?;
                let error_code = ErrorCode::from_code(code)
                    .ok_or_else(|| invalid(format!("unknown error_code {code}")))?;
                let mailbox_id = match obj.get("mailbox_id") {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(
                        serde_json::from_value::<EntityId>(v.clone())
                            .map_err(|e| invalid(format!("invalid mailbox_id: {e}")))?,
                    ),
                };
                if error_code == ErrorCode::MailboxTerminated && mailbox_id.is_none() {
                    return Err(invalid("error code 0 requires mailbox_id".into()));
                }
                Body::AcademyErrorResponse {
                    error_code,
                    mailbox_id,
                }
            }
            "user-error-response" => Body::UserErrorResponse {
                serialization: req_strategy(obj, "serialization")?,
                exception: req_str(obj, "exception")?,
            },
            "success-response" => Body::SuccessResponse,
            other => return Err(invalid(format!("unknown body kind {other:?}"))),
        })
    }
}

impl Serialize for Body {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Body::from_value(&value).map_err(serde::de::Error::custom)
    }
}

fn invalid(msg: String) -> ExchangeError {
    ExchangeError::InvalidMessage(msg)
}

fn strategy(s: SerializationStrategy) -> Value {
    Value::String(s.as_str().into())
}

fn opt_strategy(s: Option<SerializationStrategy>) -> Value {
    s.map(strategy).unwrap_or(Value::Null)
}

fn req_str(obj: &Map<String, Value>, key: &str) -> Result<String, ExchangeError> {
    obj.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| invalid(format!("missing or invalid field {key:?}")))
}

fn req_strategy(
    obj: &Map<String, Value>,
    key: &str,
) -> Result<SerializationStrategy, ExchangeError> {
    opt_strategy_field(obj, key)?.ok_or_else(|| invalid(format!("missing field {key:?}")))
}

fn opt_strategy_field(
    obj: &Map<String, Value>,
    key: &str,
) -> Result<Option<SerializationStrategy>, ExchangeError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|_| invalid(format!("invalid serialization strategy {v} in {key:?}"))),
    }
}
