//! Golden vectors made by academy-py 1.0.0 (`tests/py/make_vectors.py`):
//! Rust decodes each one, re-encodes it byte for byte, and rebuilds it from
//! its inputs with the Rust constructors.

#![allow(clippy::unwrap_used)] // tests may unwrap (preamble)

use std::path::PathBuf;

use academy_exchange::message::{
    ActionRequest, ActionResponse, Body, ErrorCode, Message, SerializationStrategy,
    encode_exception,
};
use academy_exchange::{AgentId, EntityId, ExchangeError, UserId};
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn index() -> Vec<Value> {
    let text = std::fs::read_to_string(vectors_dir().join("index.json")).unwrap();
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn read(entry: &Value) -> String {
    std::fs::read_to_string(vectors_dir().join(entry["file"].as_str().unwrap())).unwrap()
}

fn strategy(v: &Value) -> Option<SerializationStrategy> {
    v.as_str()
        .map(|s| serde_json::from_value(Value::String(s.into())).unwrap())
}

/// The body a Rust sender would build from the vector's inputs.
fn rebuild(kind: &str, r: &Value) -> Body {
    match kind {
        "action-request" => {
            let mut req = ActionRequest::json(
                r["action"].as_str().unwrap(),
                r["args"].as_array().unwrap(),
                &r["kwargs"],
            );
            req.result_serialization = strategy(&r["result_serialization"]);
            req.exception_serialization = strategy(&r["exception_serialization"]);
            Body::ActionRequest(req)
        }
        "cancel-request" => Body::CancelRequest {
            target_tag: r["target_tag"].as_str().unwrap().parse().unwrap(),
        },
        "shutdown-request" => Body::ShutdownRequest {
            terminate: r["terminate"].as_bool(),
        },
        "action-response" => Body::ActionResponse(ActionResponse::json(&r["result"])),
        "academy-error-response" => Body::AcademyErrorResponse {
            error_code: ErrorCode::from_code(r["error_code"].as_i64().unwrap()).unwrap(),
            mailbox_id: serde_json::from_value::<Option<EntityId>>(r["mailbox_id"].clone())
                .unwrap(),
        },
        "user-error-response" => Body::UserErrorResponse {
            serialization: SerializationStrategy::Json,
            exception: encode_exception(
                r["type_name"].as_str().unwrap(),
                r["message"].as_str().unwrap(),
            ),
        },
        other => panic!("no rebuild rule for {other}"),
    }
}

#[test]
fn every_vector_decodes_and_reencodes_byte_exact() {
    let entries = index();
    assert!(entries.len() >= 30, "vector set looks incomplete");
    let mut kinds = std::collections::BTreeSet::new();
    for entry in &entries {
        let name = entry["name"].as_str().unwrap();
        let text = read(entry);
        match entry["type"].as_str().unwrap() {
            "agent_id" => {
                let id: AgentId = text.parse().unwrap();
                assert_eq!(id.to_json(), text, "{name}");
                assert_eq!(id.uid().to_string(), entry["uid"].as_str().unwrap());
                assert_eq!(id.name(), entry["id_name"].as_str(), "{name}");
                let any: EntityId = text.parse().unwrap();
                assert!(any.is_agent());
            }
            "user_id" => {
                let id: UserId = text.parse().unwrap();
                assert_eq!(id.to_json(), text, "{name}");
                let any: EntityId = text.parse().unwrap();
                assert!(any.is_user());
            }
            "message" => check_message(name, entry, &text),
            other => panic!("unknown vector type {other}"),
        }
        if let Some(k) = entry["kind"].as_str() {
            kinds.insert(k.to_string());
        }
    }
    for k in [
        "action-request",
        "ping-request",
        "cancel-request",
        "shutdown-request",
        "action-response",
        "academy-error-response",
        "user-error-response",
        "success-response",
    ] {
        assert!(kinds.contains(k), "no vector for {k}");
    }
}

fn check_message(name: &str, entry: &Value, text: &str) {
    let m = Message::from_json(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(m.to_json(), text, "{name}: raw re-encoding differs");
    let body = m.body().unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(body.kind(), entry["kind"].as_str().unwrap(), "{name}");
    assert_eq!(
        m.is_request(),
        entry["header_kind"] == "request",
        "{name}: header kind"
    );
    // Re-encoding the typed body gives the same bytes.
    assert_eq!(
        Message::new(m.header.clone(), &body).to_json(),
        text,
        "{name}: typed re-encoding differs"
    );
    match &body {
        Body::ActionRequest(r) if entry["opaque"] == true => {
            assert_eq!(r.serialization, SerializationStrategy::Pickle);
            assert!(
                matches!(r.args(), Err(ExchangeError::Serialization(_))),
                "{name}"
            );
        }
        Body::ActionRequest(r) => {
            assert_eq!(
                Value::Array(r.args().unwrap()),
                entry["args"],
                "{name}: args"
            );
            assert_eq!(
                Value::Object(r.kwargs().unwrap()),
                entry["kwargs"],
                "{name}: kwargs"
            );
        }
        Body::ActionResponse(r) => assert_eq!(r.value().unwrap(), entry["result"], "{name}"),
        Body::AcademyErrorResponse { error_code, .. } => {
            assert_eq!(
                i64::from(error_code.code()),
                entry["error_code"].as_i64().unwrap()
            );
        }
        Body::UserErrorResponse { exception, .. } => {
            let decoded = SerializationStrategy::Json.decode(exception).unwrap();
            assert_eq!(
                academy_exchange::message::exception_text(&decoded),
                entry["exception_str"].as_str(),
                "{name}"
            );
        }
        _ => {}
    }
    // Built from scratch by the Rust constructors: the same bytes.
    if let Some(inputs) = entry.get("rebuild") {
        let rebuilt = rebuild(body.kind(), inputs);
        assert_eq!(
            Message::new(m.header.clone(), &rebuilt).to_json(),
            text,
            "{name}: Rust-built message differs from academy-py's"
        );
    } else if !body.kind().starts_with("action") && body.kind() != "user-error-response" {
        // Field-less kinds rebuild trivially.
        assert_eq!(Message::new(m.header.clone(), &body).to_json(), text);
    }
}

#[test]
fn vector_script_path_is_stable() {
    // xtask and the docs refer to this path.
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/make_vectors.py");
    assert!(script.is_file());
}
