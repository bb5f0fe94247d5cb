//! Cross-check against the real globus-sdk (interpreter from
//! `ACADEMY_PY_PYTHON`): error-body parsing and `by_resource_server` give
//! the same results for the same bodies.

// Helpers outside `#[test]` functions unwrap too: a panic is a failed test.
#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::process::{Command, Stdio};

use academy_globus_client::ApiError;
use academy_globus_client::token::TokenResponse;
use serde_json::{Value, json};

fn python() -> Option<String> {
    match std::env::var("ACADEMY_PY_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(
                std::env::var("ACADEMY_REQUIRE_INTEROP").as_deref() != Ok("1"),
                "ACADEMY_REQUIRE_INTEROP=1 but ACADEMY_PY_PYTHON is unset"
            );
            eprintln!("skipping: ACADEMY_PY_PYTHON is unset");
            None
        }
    }
}

fn run_python(python: &str, cases: &Value) -> Vec<Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/globus_parse.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(cases.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

const ERROR_CASES: &[(u16, &str, &str, bool)] = &[
    (
        401,
        "application/json",
        r#"{"errors": [{"status": "401", "id": "e1", "code": "UNAUTHORIZED", "detail": "Call must be authenticated", "title": "Unauthorized"}], "error_description": "Unauthorized", "error": "unauthorized"}"#,
        true,
    ),
    (
        400,
        "application/json",
        r#"{"error": "invalid_grant"}"#,
        true,
    ),
    (
        403,
        "text/plain; charset=utf-8",
        "Token expired or revoked.",
        false,
    ),
    (
        419,
        "text/plain; charset=utf-8",
        "Mailbox was closed",
        false,
    ),
    (
        404,
        "application/json",
        r#"{"code": "NotFound", "message": "gone", "request_id": "r9"}"#,
        false,
    ),
    (
        404,
        "application/json",
        r#"{"code": "NotFound", "message": "gone", "request_id": 5}"#,
        false,
    ),
    (
        400,
        "application/vnd.api+json",
        r#"{"errors": [{"code": "A", "title": "t1"}, {"code": "A", "detail": "d2", "title": "t2"}]}"#,
        false,
    ),
    (
        400,
        "application/vnd.api+json",
        r#"{"errors": [{"code": "A", "title": "t1"}, {"code": "B"}]}"#,
        false,
    ),
    (
        409,
        "application/json",
        r#"{"errors": [{"message": "m1", "code": "C"}, {"title": "only title"}], "code": 7}"#,
        true,
    ),
    (500, "application/json", "not json at all", false),
    (422, "application/json", r#"["a list"]"#, false),
    (
        400,
        "application/json",
        r#"{"errors": [{"id": "x1", "detail": "a"}, {"id": "x2", "detail": "b"}]}"#,
        true,
    ),
];

#[test]
fn error_parsing_matches_globus_sdk() {
    let Some(python) = python() else { return };
    let cases: Vec<Value> = ERROR_CASES
        .iter()
        .map(|(status, ct, body, auth)| {
            json!({"kind": "error", "status": status, "content_type": ct, "body": body, "auth": auth})
        })
        .collect();
    let expected = run_python(&python, &Value::Array(cases));
    assert_eq!(expected.len(), ERROR_CASES.len());
    for ((status, ct, body, auth), want) in ERROR_CASES.iter().zip(expected) {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, ct.parse().unwrap());
        let e = ApiError::from_response(
            http::StatusCode::from_u16(*status).unwrap(),
            &headers,
            body.as_bytes(),
            *auth,
        );
        let got = json!({
            "http_status": e.http_status,
            "code": e.code,
            "messages": e.messages,
            "request_id": e.request_id,
            "errors": e.errors,
        });
        assert_eq!(got, want, "body {body}");
    }
}

#[test]
fn by_resource_server_matches_globus_sdk() {
    let Some(python) = python() else { return };
    let bodies = [
        json!({"access_token": "A", "scope": "openid email", "expires_in": 172800, "token_type": "Bearer",
               "resource_server": "auth.globus.org", "refresh_token": "R", "id_token": "J", "state": "_default",
               "other_tokens": [{"access_token": "B", "scope": "https://auth.globus.org/scopes/x/academy_exchange",
                                 "expires_in": 100, "token_type": "Bearer", "resource_server": "x",
                                 "refresh_token": "R2"}]}),
        json!({"access_token": "A", "scope": "s", "resource_server": "rs", "other_tokens": []}),
    ];
    let cases: Vec<Value> = bodies
        .iter()
        .map(|b| json!({"kind": "tokens", "body": b.to_string()}))
        .collect();
    let expected = run_python(&python, &Value::Array(cases));
    assert_eq!(expected.len(), bodies.len());
    for (body, want) in bodies.iter().zip(expected) {
        let r: TokenResponse = serde_json::from_value(body.clone()).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let want = want["by_resource_server"].as_object().unwrap();
        let got = r.by_resource_server();
        assert_eq!(got.len(), want.len());
        for (rs, w) in want {
            let g = &got[rs];
            assert_eq!(w["access_token"], g.access_token.expose());
            assert_eq!(w["scope"], g.scope);
            assert_eq!(w["resource_server"], g.resource_server);
            assert_eq!(w["token_type"], json!(g.token_type));
            assert_eq!(
                w["refresh_token"],
                json!(g.refresh_token.as_ref().map(|s| s.expose()))
            );
            let left = g.expires_at_seconds - now;
            assert!((left - w["expires_in_left"].as_i64().unwrap()).abs() <= 2);
        }
    }
}
