//! Hostile input, decoder side: property tests over the message decoder
//! (`Message::from_json`, `Body::from_value`, identifiers, the `json`
//! serialisation strategy) with random, mutated, oversized, deeply nested
//! and invalid UTF-8 input.
//!
//! What must hold for every input: no panic, a typed error
//! (`ExchangeError::InvalidMessage` / `Serialization`) for what is not a
//! message, and for what is accepted, a re-serialisation that is accepted
//! again and is a fixed point (so an exchange never forwards something its
//! peers cannot read).
//!
//! CI size: proptest's default 256 cases per property (more with
//! `PROPTEST_CASES`, which `cargo xtask soak` raises).

#![allow(clippy::unwrap_used)] // Test code: a panic is a failed assertion.

use academy_exchange::message::{
    ActionRequest, Body, ErrorCode, Message, SerializationStrategy, python_json_dumps,
    python_json_loads,
};
use academy_exchange::{AgentId, EntityId, ExchangeError, UserId};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use uuid::Uuid;

const VALID: &str = r#"{"header":{"src":{"uid":"4f8a1c2e-0b6d-4e1f-9a3b-5c7d9e0f1a2b","name":"alice","role":"user"},"dest":{"uid":"9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f","name":"adder","role":"agent"},"tag":"11111111-2222-4333-8444-555555555555","label":"66666666-7777-4888-9999-aaaaaaaaaaaa","kind":"request","protocol_version":"1.1","academy_version":"1.0.0"},"body":{"action":"add","serialization":"json","result_serialization":null,"exception_serialization":null,"pargs":"[1, 2]","kargs":"{\"scale\": 10}","kind":"action-request"}}"#;

/// Any JSON value, with finite numbers (JSON has no others).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[a-z_]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn entity_id() -> impl Strategy<Value = EntityId> {
    (
        any::<u128>(),
        prop::option::of(any::<String>()),
        any::<bool>(),
    )
        .prop_map(|(u, name, agent)| {
            let uid = Uuid::from_u128(u);
            if agent {
                AgentId::from_uid(uid, name).into()
            } else {
                UserId::from_uid(uid, name).into()
            }
        })
}

fn strategy() -> impl Strategy<Value = SerializationStrategy> {
    prop_oneof![
        Just(SerializationStrategy::Json),
        Just(SerializationStrategy::Pickle)
    ]
}

/// Every body kind, with arbitrary contents where the format allows.
fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        (
            any::<String>(),
            strategy(),
            prop::option::of(strategy()),
            prop::option::of(strategy()),
            json_value(),
            json_value()
        )
            .prop_map(|(action, s, r, e, pargs, kargs)| Body::ActionRequest(
                ActionRequest {
                    action,
                    serialization: s,
                    result_serialization: r,
                    exception_serialization: e,
                    pargs,
                    kargs,
                }
            )),
        (
            any::<String>(),
            prop::collection::vec(json_value(), 0..4),
            json_value()
        )
            .prop_map(
                |(name, args, kwargs)| Body::ActionRequest(ActionRequest::json(
                    name, &args, &kwargs
                ))
            ),
        Just(Body::PingRequest),
        any::<u128>().prop_map(|u| Body::CancelRequest {
            target_tag: Uuid::from_u128(u)
        }),
        prop::option::of(any::<bool>()).prop_map(|terminate| Body::ShutdownRequest { terminate }),
        (json_value(), strategy()).prop_map(|(result, serialization)| Body::ActionResponse(
            academy_exchange::message::ActionResponse {
                result,
                serialization
            }
        )),
        entity_id().prop_map(|id| Body::AcademyErrorResponse {
            error_code: ErrorCode::MailboxTerminated,
            mailbox_id: Some(id)
        }),
        (strategy(), any::<String>()).prop_map(|(serialization, exception)| {
            Body::UserErrorResponse {
                serialization,
                exception,
            }
        }),
        Just(Body::SuccessResponse),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (
        entity_id(),
        entity_id(),
        body(),
        prop::option::of(any::<u128>()),
        any::<u128>(),
    )
        .prop_map(|(src, dest, body, label, tag)| {
            Message::create(
                src,
                dest,
                body,
                label.map(Uuid::from_u128),
                Uuid::from_u128(tag),
            )
        })
}

/// The decoder contract for one input text.
fn check_text(text: &str) {
    match Message::from_json(text) {
        Ok(m) => check_accepted(&m),
        Err(e) => assert!(
            matches!(e, ExchangeError::InvalidMessage(_)),
            "untyped decoder error {e:?} for {text:?}"
        ),
    }
}

/// An accepted message re-serialises to text that is accepted again and
/// re-serialises to itself; its body validates or fails with a typed error.
fn check_accepted(m: &Message) {
    let wire = m.to_json();
    let again = Message::from_json(&wire)
        .unwrap_or_else(|e| panic!("re-serialisation rejected ({e}): {wire}"));
    assert_eq!(again.header, m.header);
    assert_eq!(again.raw_body(), m.raw_body());
    assert_eq!(
        again.to_json(),
        wire,
        "re-serialisation is not a fixed point"
    );
    match m.body() {
        Ok(body) => {
            assert_eq!(Body::from_value(&body.to_value()).unwrap(), body);
            if let Body::ActionRequest(req) = &body {
                // Decoding arguments may fail, but with a typed error.
                if let Err(e) = req.args() {
                    assert!(matches!(
                        e,
                        ExchangeError::InvalidMessage(_) | ExchangeError::Serialization(_)
                    ));
                }
                if let Err(e) = req.kwargs() {
                    assert!(matches!(
                        e,
                        ExchangeError::InvalidMessage(_) | ExchangeError::Serialization(_)
                    ));
                }
            }
        }
        Err(e) => assert!(
            matches!(
                e,
                ExchangeError::InvalidMessage(_) | ExchangeError::IncompatibleProtocol { .. }
            ),
            "untyped body error {e:?}"
        ),
    }
}

/// Header paths a structural mutation may hit.
const PATHS: &[&[&str]] = &[
    &["header"],
    &["header", "src"],
    &["header", "src", "uid"],
    &["header", "src", "name"],
    &["header", "src", "role"],
    &["header", "dest"],
    &["header", "dest", "uid"],
    &["header", "dest", "role"],
    &["header", "tag"],
    &["header", "label"],
    &["header", "kind"],
    &["header", "protocol_version"],
    &["header", "academy_version"],
    &["body"],
    &["body", "kind"],
    &["body", "action"],
    &["body", "serialization"],
    &["body", "result_serialization"],
    &["body", "pargs"],
    &["body", "kargs"],
    &["body", "target_tag"],
    &["body", "terminate"],
    &["body", "error_code"],
    &["body", "mailbox_id"],
    &["body", "result"],
    &["body", "exception"],
];

/// Removes (`None`) or replaces the value at `path`, if its parent is an object.
fn mutate_at(root: &mut Value, path: &[&str], replacement: Option<Value>) {
    let (last, parents) = path.split_last().unwrap();
    let mut node = root;
    for key in parents {
        match node.get_mut(*key) {
            Some(next) => node = next,
            None => return,
        }
    }
    if let Value::Object(map) = node {
        match replacement {
            Some(v) => {
                map.insert((*last).to_string(), v);
            }
            None => {
                map.shift_remove(*last);
            }
        }
    }
}

/// Values that look almost right: the shapes a buggy or hostile peer sends.
fn near_miss() -> impl Strategy<Value = Value> {
    prop_oneof![
        json_value(),
        Just(json!("")),
        Just(json!("request")),
        Just(json!("response")),
        Just(json!("agent")),
        Just(json!("user")),
        Just(json!("json")),
        Just(json!("pickle")),
        Just(json!("action-request")),
        Just(json!("academy-error-response")),
        Just(json!("cancel-request")),
        Just(json!("shutdown-request")),
        Just(json!("11111111-2222-4333-8444-55555555555")),
        Just(json!("urn:uuid:{11111111-2222-4333-8444-555555555555}")),
        Just(json!("1111111122224333844455555555555é")),
        Just(json!("[1, NaN, Infinity, -Infinity]")),
        Just(json!("{\"a\": NaN")),
        Just(json!(0)),
        Just(json!(7)),
        Just(json!(-1)),
        Just(json!(1e300)),
        Just(json!(u64::MAX)),
        Just(json!({"uid": "9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f", "role": "robot"})),
        Just(json!({"uid": "9d3e5f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f", "name": 5})),
    ]
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check_text(&text);
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        check_text(&value.to_string());
        if let Err(e) = Body::from_value(&value) {
            prop_assert!(matches!(e, ExchangeError::InvalidMessage(_)));
        }
        if let Ok(id) = serde_json::from_value::<EntityId>(value.clone()) {
            let back: EntityId = id.to_json().parse().unwrap();
            prop_assert_eq!(back.to_json(), id.to_json());
        }
    }

    #[test]
    fn generated_messages_round_trip(m in message()) {
        let wire = m.to_json();
        let back = Message::from_json(&wire).unwrap();
        prop_assert_eq!(&back.header, &m.header);
        prop_assert_eq!(back.body().unwrap(), m.body().unwrap());
        check_accepted(&back);
    }

    #[test]
    fn structurally_mutated_messages_never_panic(
        mutations in prop::collection::vec(
            (0..PATHS.len(), prop::option::of(near_miss())),
            1..4,
        )
    ) {
        let mut value: Value = serde_json::from_str(VALID).unwrap();
        for (path, replacement) in mutations {
            mutate_at(&mut value, PATHS[path], replacement);
        }
        check_text(&value.to_string());
    }

    #[test]
    fn byte_mutated_messages_never_panic(
        m in message(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..8),
    ) {
        let mut bytes = m.to_json().into_bytes();
        for (at, byte, op) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                2 => {
                    bytes.remove(i);
                }
                _ => bytes.truncate(i),
            }
        }
        // Raw bytes (possibly invalid UTF-8) through serde, as a server reads a body.
        if let Ok(m) = serde_json::from_slice::<Message>(&bytes) {
            check_accepted(&m);
        }
        if let Ok(text) = std::str::from_utf8(&bytes) {
            check_text(text);
        }
    }

    #[test]
    fn python_json_round_trips(value in json_value()) {
        let text = python_json_dumps(&value);
        prop_assert!(text.is_ascii(), "json.dumps escapes non-ASCII: {}", text);
        prop_assert_eq!(python_json_loads(&text).unwrap(), value);
    }

    #[test]
    fn python_json_loads_never_panics(text in any::<String>()) {
        if let Err(e) = python_json_loads(&text) {
            prop_assert!(matches!(e, ExchangeError::Serialization(_)));
        }
    }
}

#[test]
fn deeply_nested_json_is_an_error_not_a_stack_overflow() {
    for depth in [1_000usize, 100_000, 1_000_000] {
        let body = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let text = VALID.replace(r#""pargs":"[1, 2]""#, &format!(r#""pargs":{body}"#));
        let err = Message::from_json(&text).unwrap_err();
        assert!(matches!(err, ExchangeError::InvalidMessage(_)), "{err:?}");
        let obj = format!("{}{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        assert!(Message::from_json(&obj).is_err());
        // Nested inside the json strategy's text, decoded lazily.
        let inner = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let e = python_json_loads(&inner).unwrap_err();
        assert!(matches!(e, ExchangeError::Serialization(_)));
    }
    // Moderate nesting stays accepted and round-trips.
    let body = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    let text = VALID.replace(r#""pargs":"[1, 2]""#, &format!(r#""pargs":{body}"#));
    check_accepted(&Message::from_json(&text).unwrap());
}

#[test]
fn oversized_messages_decode_in_linear_time() {
    // 8 MiB of payload: the decoder has no size limit of its own (the
    // server enforces 1 MiB bodies and 512 KiB messages), so it must at
    // least not be quadratic.
    let big = "x".repeat(8 << 20);
    let text = VALID.replace("\"add\"", &format!("\"{big}\""));
    let start = std::time::Instant::now();
    let m = Message::from_json(&text).unwrap();
    assert_eq!(m.to_json().len(), text.len());
    let many_keys: String = (0..200_000)
        .map(|i| format!("\"k{i}\":{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let text = VALID.replace(
        r#""pargs":"[1, 2]""#,
        &format!(r#""pargs":{{{many_keys}}}"#),
    );
    check_accepted(&Message::from_json(&text).unwrap());
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "decoding took {:?}",
        start.elapsed()
    );
}

#[test]
fn invalid_utf8_is_rejected() {
    let mut bytes = VALID.as_bytes().to_vec();
    let at = VALID.find("adder").unwrap();
    for bad in [[0xffu8, 0xfe].as_slice(), &[0xc3], &[0xed, 0xa0, 0x80]] {
        let mut b = bytes.clone();
        b.splice(at..at + 1, bad.iter().copied());
        assert!(serde_json::from_slice::<Message>(&b).is_err());
    }
    // Lone surrogates written as escapes are not valid Unicode either.
    bytes = VALID.replace("adder", "\\ud800").into_bytes();
    assert!(serde_json::from_slice::<Message>(&bytes).is_err());
    assert!(Message::from_json(&VALID.replace("adder", "\\ud800")).is_err());
}
