//! The whole HTTP stack against a real loopback server injecting 503s,
//! connection resets and slow responses.

// Helpers outside `#[test]` functions unwrap too: a panic is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use academy_globus_client::authorizer::StaticTokenAuthorizer;
use academy_globus_client::http::RequestBody;
use academy_globus_client::{Error, HttpClient, RetryPolicy};
use common::{Action, ScriptServer, bounded};
use http::{HeaderMap, Method};

fn client(server: &ScriptServer, policy: RetryPolicy, timeout: Option<Duration>) -> HttpClient {
    HttpClient::builder(server.url())
        .retry(policy)
        .timeout(timeout)
        .authorizer(Arc::new(StaticTokenAuthorizer::new("tok".into())))
        .build()
        .unwrap()
}

async fn get(
    c: &HttpClient,
    path: &str,
) -> Result<academy_globus_client::http::BufferedResponse, Error> {
    c.execute(Method::GET, path, RequestBody::Empty, HeaderMap::new())
        .await
}

#[tokio::test]
async fn retries_503_honouring_retry_after_then_succeeds() {
    let server = ScriptServer::start().await;
    server.script(
        Method::GET,
        "x",
        vec![
            Action::status(503).with_header("retry-after", "1"),
            Action::status(503),
            Action::json(200, serde_json::json!({"ok": true})),
        ],
    );
    let c = client(
        &server,
        RetryPolicy::default(),
        Some(Duration::from_secs(5)),
    );
    let started = Instant::now();
    let resp = bounded(20, get(&c, "x")).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(resp.json::<serde_json::Value>().unwrap()["ok"], true);
    let seen = server.seen_at("x");
    assert_eq!(seen.len(), 3);
    // 1 s from Retry-After plus 0.5–1.5 s of backoff for the second retry.
    assert!(elapsed >= Duration::from_millis(1500), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");
    // Every attempt carries the credentials and the SDK's headers.
    for s in &seen {
        assert_eq!(s.header("authorization").as_deref(), Some("Bearer tok"));
        assert!(
            s.header("user-agent")
                .unwrap()
                .starts_with("globus-sdk-py-")
        );
        assert_eq!(s.header("accept").as_deref(), Some("application/json"));
    }
}

#[tokio::test]
async fn persistent_503_gives_up_with_api_error() {
    let server = ScriptServer::start().await;
    server.script(
        Method::GET,
        "x",
        (0..3).map(|_| Action::text(503, "down")).collect(),
    );
    let policy = RetryPolicy {
        max_retries: 2,
        ..RetryPolicy::default()
    };
    let c = client(&server, policy, Some(Duration::from_secs(5)));
    let err = bounded(20, get(&c, "x")).await.unwrap_err();
    let api = err.api().expect("api error");
    assert_eq!(api.http_status, 503);
    assert_eq!(api.text, "down");
    assert_eq!(server.seen_at("x").len(), 3);
}

#[tokio::test]
async fn connection_resets_are_retried() {
    let server = ScriptServer::start().await;
    server.script(
        Method::GET,
        "x",
        vec![
            Action::Reset,
            Action::Reset,
            Action::json(200, serde_json::json!({})),
        ],
    );
    let c = client(
        &server,
        RetryPolicy::default(),
        Some(Duration::from_secs(5)),
    );
    let resp = bounded(20, get(&c, "x")).await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(server.seen_at("x").len(), 3);
}

#[tokio::test]
async fn resets_without_retries_surface_as_transport_errors() {
    let server = ScriptServer::start().await;
    server.script(Method::GET, "x", vec![Action::Reset]);
    let c = client(&server, RetryPolicy::none(), Some(Duration::from_secs(5)));
    let err = bounded(20, get(&c, "x")).await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
}

#[tokio::test]
async fn slow_attempt_times_out_and_is_retried() {
    let server = ScriptServer::start().await;
    server.script(
        Method::GET,
        "x",
        vec![
            Action::Slow(Duration::from_secs(3), Box::new(Action::status(200))),
            Action::json(200, serde_json::json!({"fast": 1})),
        ],
    );
    let c = client(
        &server,
        RetryPolicy::default(),
        Some(Duration::from_millis(300)),
    );
    let resp = bounded(20, get(&c, "x")).await.unwrap();
    assert_eq!(resp.json::<serde_json::Value>().unwrap()["fast"], 1);
    assert_eq!(server.seen_at("x").len(), 2);
}

#[tokio::test]
async fn connection_dropped_mid_body_is_retried() {
    let server = ScriptServer::start().await;
    server.script(
        Method::GET,
        "x",
        vec![
            Action::Truncated,
            Action::json(200, serde_json::json!({"whole": true})),
        ],
    );
    let c = client(
        &server,
        RetryPolicy::default(),
        Some(Duration::from_secs(5)),
    );
    let resp = bounded(20, get(&c, "x")).await.unwrap();
    assert_eq!(resp.json::<serde_json::Value>().unwrap()["whole"], true);
    assert_eq!(server.seen_at("x").len(), 2);
}

#[tokio::test]
async fn slow_server_without_retries_is_a_timeout() {
    let server = ScriptServer::start().await;
    server.script(
        Method::GET,
        "x",
        vec![Action::Slow(
            Duration::from_secs(3),
            Box::new(Action::status(200)),
        )],
    );
    let c = client(
        &server,
        RetryPolicy::none(),
        Some(Duration::from_millis(200)),
    );
    let err = bounded(20, get(&c, "x")).await.unwrap_err();
    assert!(matches!(err, Error::Timeout), "{err:?}");
}

#[tokio::test]
async fn dead_server_is_a_connect_error() {
    // Bind then drop to get a port nobody listens on.
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let c = HttpClient::builder(format!("http://{addr}/").parse().unwrap())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let err = bounded(20, get(&c, "x")).await.unwrap_err();
    assert!(
        matches!(err, Error::Transport { connect: true, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn excluded_statuses_are_not_retried_on_the_wire() {
    let server = ScriptServer::start().await;
    for code in [400u16, 403, 404, 408, 413, 419] {
        let path = format!("s{code}");
        server.script(Method::GET, &path, vec![Action::text(code, "no")]);
        let c = client(
            &server,
            RetryPolicy::default(),
            Some(Duration::from_secs(5)),
        );
        let err = bounded(20, get(&c, &path)).await.unwrap_err();
        assert_eq!(err.http_status(), Some(code));
        assert_eq!(server.seen_at(&path).len(), 1, "status {code}");
    }
}

#[tokio::test]
async fn plain_http_to_remote_hosts_is_refused() {
    let err = HttpClient::builder("http://example.org/".parse().unwrap())
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)));
}
