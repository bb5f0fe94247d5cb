//! Rust-made messages validated by academy-py 1.0.0 (`tests/py/check_rust_messages.py`).
//!
//! Needs `ACADEMY_PY_PYTHON` (an interpreter with academy-py 1.0.0). When
//! unset the test is skipped, unless `ACADEMY_REQUIRE_INTEROP=1`.

#![allow(clippy::unwrap_used)] // tests may unwrap (preamble)

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use academy_exchange::message::{
    ActionRequest, ActionResponse, Body, ErrorCode, Message, SerializationStrategy,
    encode_exception,
};
use academy_exchange::{AgentId, EntityId, UserId};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

fn python() -> Option<PathBuf> {
    match std::env::var_os("ACADEMY_PY_PYTHON") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            if std::env::var("ACADEMY_REQUIRE_INTEROP").as_deref() == Ok("1") {
                panic!("ACADEMY_REQUIRE_INTEROP=1 but ACADEMY_PY_PYTHON is not set");
            }
            eprintln!("skipping: set ACADEMY_PY_PYTHON to run the academy-py interop test");
            None
        }
    }
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/check_rust_messages.py")
}

async fn run_python(python: &PathBuf, input: String) -> Vec<Value> {
    let mut child = tokio::process::Command::new(python)
        .arg(script())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start python");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("python timed out")
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

struct Case {
    message: Message,
    check: Box<dyn Fn(&Value)>,
}

fn cases() -> Vec<Case> {
    let user: EntityId = UserId::new(Some("rust-ü".into())).into();
    let agent: EntityId = AgentId::new(None).into();
    let label = Some(Uuid::new_v4());
    let req = |body: Body| Message::request(user.clone(), agent.clone(), body, label);
    let resp = |body: Body| {
        req(Body::PingRequest)
            .create_response(body)
            .expect("response")
    };
    let args = vec![
        json!("héllo ☃ 😀"),
        json!({"nested": [1, 2.5, null, true, {"k": "v"}], "empty": {}}),
        json!([]),
        json!(1e-5),
        json!(9007199254740993u64),
    ];
    let kwargs = json!({"ключ": "значение", "q\"\\": "\t\n"});
    let result = json!({"text": "naïve ☃ 😀", "xs": [1, [2, [3]], {"y": null}], "f": [0.1, 1e16]});
    let mut incompatible = req(Body::PingRequest);
    incompatible.header.protocol_version = Some("2.0".into());
    let (a2, k2, r2) = (args.clone(), kwargs.clone(), result.clone());
    let mut pickled = ActionRequest::json("add", &[], &Value::Null);
    pickled.serialization = SerializationStrategy::Pickle;
    pickled.pargs = Value::String("gASVBwAAAAAAAABLAUsChpQu".into());
    pickled.kargs = Value::String("gAR9lC4=".into());
    vec![
        Case {
            message: req(Body::ActionRequest(ActionRequest::json(
                "echo", &args, &kwargs,
            ))),
            check: Box::new(move |r| {
                assert_eq!(r["kind"], "action-request");
                assert_eq!(r["args"], Value::Array(a2.clone()));
                assert_eq!(r["kwargs"], k2);
            }),
        },
        Case {
            message: req(Body::ActionRequest(pickled)),
            check: Box::new(|r| assert_eq!(r["kind"], "action-request")),
        },
        Case {
            message: req(Body::PingRequest),
            check: Box::new(|r| assert_eq!(r["kind"], "ping-request")),
        },
        Case {
            message: req(Body::CancelRequest {
                target_tag: Uuid::new_v4(),
            }),
            check: Box::new(|r| assert_eq!(r["kind"], "cancel-request")),
        },
        Case {
            message: req(Body::ShutdownRequest {
                terminate: Some(false),
            }),
            check: Box::new(|r| assert_eq!(r["kind"], "shutdown-request")),
        },
        Case {
            message: resp(Body::ActionResponse(ActionResponse::json(&result))),
            check: Box::new(move |r| assert_eq!(r["result"], r2)),
        },
        Case {
            message: resp(Body::SuccessResponse),
            check: Box::new(|r| assert_eq!(r["kind"], "success-response")),
        },
        Case {
            message: resp(Body::AcademyErrorResponse {
                error_code: ErrorCode::MailboxTerminated,
                mailbox_id: Some(agent.clone()),
            }),
            check: Box::new(|r| assert_eq!(r["exception"]["type"], "AgentTerminatedError")),
        },
        Case {
            message: resp(Body::AcademyErrorResponse {
                error_code: ErrorCode::ActionCancelled,
                mailbox_id: None,
            }),
            check: Box::new(|r| assert_eq!(r["exception"]["type"], "ActionCancelledError")),
        },
        Case {
            message: resp(Body::AcademyErrorResponse {
                error_code: ErrorCode::InvalidClient,
                mailbox_id: Some(user.clone()),
            }),
            check: Box::new(|r| assert_eq!(r["exception"]["type"], "TypeError")),
        },
        Case {
            message: resp(Body::AcademyErrorResponse {
                error_code: ErrorCode::IncompatibleProtocol,
                mailbox_id: Some(agent.clone()),
            }),
            check: Box::new(|r| {
                assert_eq!(r["exception"]["type"], "IncompatibleNetworkProtocolError")
            }),
        },
        Case {
            message: resp(Body::UserErrorResponse {
                serialization: SerializationStrategy::Json,
                exception: encode_exception("ValueError", "naïve ☃ 😀"),
            }),
            check: Box::new(|r| {
                assert_eq!(r["exception"]["type"], "AcademyRemoteError");
                assert_eq!(r["exception"]["text"], "ValueError: naïve ☃ 😀\n");
            }),
        },
        Case {
            message: incompatible,
            check: Box::new(|r| {
                assert_eq!(r["ok"], false);
                assert_eq!(r["error_type"], "IncompatibleNetworkProtocolError");
            }),
        },
    ]
}

#[tokio::test]
async fn academy_py_accepts_and_reproduces_rust_messages() {
    let Some(python) = python() else { return };
    let cases = cases();
    let input: String = cases.iter().map(|c| c.message.to_json() + "\n").collect();
    let reports = run_python(&python, input).await;
    assert_eq!(reports.len(), cases.len(), "one report per message");
    for (case, report) in cases.iter().zip(&reports) {
        let sent = case.message.to_json();
        // academy-py re-emits exactly the bytes Rust sent, raw and typed.
        assert_eq!(
            report["reemitted"].as_str(),
            Some(sent.as_str()),
            "{report}"
        );
        // (Except user errors: academy-py decodes the exception into an
        // AcademyRemoteError, which re-encodes with a different text.)
        if report["ok"] == true && report["kind"] != "user-error-response" {
            assert_eq!(
                report["reemitted_typed"].as_str(),
                Some(sent.as_str()),
                "{report}"
            );
        }
        (case.check)(report);
        // And Rust reads academy-py's output back identically.
        let back = Message::from_json(report["reemitted"].as_str().unwrap()).unwrap();
        assert_eq!(back.to_json(), sent);
    }
}
