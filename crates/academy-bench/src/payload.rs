//! The messages the scenarios exchange, built identically on both sides
//! (`py/client_driver.py` builds the same bytes with academy-py).
//!
//! A request carries `payload` bytes as its single positional argument
//! (`pargs = ["xxx…"]`, json strategy), or is a ping. The echo answer
//! carries the already-encoded arguments back as its result, so neither
//! side decodes or re-encodes the payload: the exchange path is what is
//! measured.

use academy_exchange::message::{
    ActionRequest, ActionResponse, Body, SERIALIZED_SENTINEL, SerializationStrategy,
    python_json_dumps,
};
use academy_exchange::{AgentId, EntityId, ExchangeError, Message, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a round trip carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    /// A ping request, answered by a success response.
    Ping,
    /// An action request with this many payload bytes, echoed back.
    Bytes(usize),
}

impl Payload {
    /// The round-trip payloads of the issue: ping, 100 B, 10 KiB, 500 KiB.
    pub const ROUND_TRIP: [Payload; 4] = [
        Payload::Ping,
        Payload::Bytes(100),
        Payload::Bytes(10 * 1024),
        Payload::Bytes(500 * 1024),
    ];

    /// A short label: `ping`, `100B`, `10KiB`, `500KiB`.
    pub fn label(self) -> String {
        match self {
            Payload::Ping => "ping".into(),
            Payload::Bytes(n) if n >= 1024 && n % 1024 == 0 => format!("{}KiB", n / 1024),
            Payload::Bytes(n) => format!("{n}B"),
        }
    }

    /// The size given to the Python driver (`None` for ping).
    pub fn bytes(self) -> Option<usize> {
        match self {
            Payload::Ping => None,
            Payload::Bytes(n) => Some(n),
        }
    }

    /// The request body.
    pub fn body(self) -> Body {
        match self {
            Payload::Ping => Body::PingRequest,
            Payload::Bytes(n) => Body::ActionRequest(ActionRequest {
                action: "echo".into(),
                serialization: SerializationStrategy::Json,
                result_serialization: None,
                exception_serialization: None,
                pargs: Value::String(python_json_dumps(&Value::Array(vec![Value::String(
                    "x".repeat(n),
                )]))),
                kargs: Value::String("{}".into()),
            }),
        }
    }

    /// A request from `src` to `dest` with a fresh tag.
    pub fn request(self, src: &EntityId, dest: &EntityId) -> Message {
        Message::request(src.clone(), dest.clone(), self.body(), None)
    }

    /// Bytes of the wire JSON of one request.
    pub fn wire_bytes(self) -> usize {
        let src: EntityId = UserId::new(None).into();
        let dest: EntityId = AgentId::new(None).into();
        self.request(&src, &dest).to_json().len()
    }
}

/// The echo agent's answer to `request`: success for a ping, the request's
/// encoded arguments as the result of an action.
pub fn echo(request: &Message) -> Result<Message, ExchangeError> {
    let raw = request.raw_body();
    let body = if raw.get("kind").and_then(Value::as_str) == Some("action-request") {
        Body::ActionResponse(ActionResponse {
            result: Value::Array(vec![
                Value::String(SERIALIZED_SENTINEL.into()),
                raw.get("pargs").cloned().unwrap_or(Value::Null),
            ]),
            serialization: SerializationStrategy::Json,
        })
    } else {
        Body::SuccessResponse
    };
    request.create_response(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        let labels: Vec<String> = Payload::ROUND_TRIP.iter().map(|p| p.label()).collect();
        assert_eq!(labels, ["ping", "100B", "10KiB", "500KiB"]);
    }

    #[test]
    fn echo_carries_the_arguments_back() {
        let src: EntityId = UserId::new(None).into();
        let dest: EntityId = AgentId::new(None).into();
        let req = Payload::Bytes(100).request(&src, &dest);
        let resp = echo(&Message::from_json(&req.to_json()).unwrap()).unwrap();
        assert_eq!(resp.tag(), req.tag());
        assert_eq!(resp.dest(), &src);
        let Body::ActionResponse(r) = resp.body().unwrap() else {
            panic!("not an action response")
        };
        assert_eq!(r.value().unwrap(), serde_json::json!(["x".repeat(100)]));
        let ping = echo(&Payload::Ping.request(&src, &dest)).unwrap();
        assert_eq!(ping.body().unwrap(), Body::SuccessResponse);
    }

    #[test]
    fn largest_payload_fits_the_python_sse_line_limit() {
        // exchange-http-api.md §6.9: 524 280 bytes at most.
        assert!(Payload::Bytes(500 * 1024).wire_bytes() < 524_000);
    }
}
