//! Test helpers: a tiny HTTP client over real loopback TCP and emulator
//! start-up.
#![allow(dead_code, missing_docs)]

use academy_globus_emulator::defaults as d;
use academy_globus_emulator::{EmulatorConfig, EmulatorHandle, serve};
use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::future::Future;
use std::time::Duration;

/// Bounds every async test.
pub async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("test timed out")
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    pub fn location(&self) -> url::Url {
        url::Url::parse(self.headers.get("location").unwrap().to_str().unwrap()).unwrap()
    }
}

pub enum Auth<'a> {
    None,
    Basic(&'a str, &'a str),
    Bearer(&'a str),
}

pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    pub base: String,
}

impl Http {
    pub fn new(base: &str) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: base.to_owned(),
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Resp {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{}", self.base, path.trim_start_matches('/'))
        };
        let mut req = Request::builder().method(method).uri(url);
        match auth {
            Auth::None => {}
            Auth::Basic(id, secret) => {
                let v = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
                req = req.header("authorization", format!("Basic {v}"));
            }
            Auth::Bearer(t) => req = req.header("authorization", format!("Bearer {t}")),
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = self
            .client
            .request(req.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn form(&self, path: &str, auth: Auth<'_>, fields: &[(&str, &str)]) -> Resp {
        let body = serde_urlencoded::to_string(fields).unwrap();
        self.send(
            Method::POST,
            path,
            auth,
            Some("application/x-www-form-urlencoded"),
            body.into_bytes(),
        )
        .await
    }

    pub async fn json(&self, method: Method, path: &str, token: &str, body: Value) -> Resp {
        self.send(
            method,
            path,
            Auth::Bearer(token),
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await
    }

    pub async fn get(&self, path: &str, auth: Auth<'_>) -> Resp {
        self.send(Method::GET, path, auth, None, Vec::new()).await
    }

    /// Client-credentials token response for the admin client.
    pub async fn admin_tokens(&self, scope: &str) -> Value {
        let r = self
            .form(
                "v2/oauth2/token",
                Auth::Basic(d::ADMIN_CLIENT_ID, d::ADMIN_CLIENT_SECRET),
                &[("grant_type", "client_credentials"), ("scope", scope)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.json()
    }

    pub async fn introspect(&self, token: &str) -> Value {
        let r = self
            .form(
                "v2/oauth2/token/introspect",
                Auth::Basic(d::EXCHANGE_CLIENT_ID, d::EXCHANGE_CLIENT_SECRET),
                &[("token", token)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.json()
    }
}

pub async fn start(config: EmulatorConfig) -> (EmulatorHandle, Http) {
    let handle = serve(config).await.unwrap();
    let http = Http::new(handle.base_url());
    (handle, http)
}

pub async fn start_default() -> (EmulatorHandle, Http) {
    start(EmulatorConfig::default()).await
}

/// The error body has Globus's shape; returns its `error` value.
pub fn globus_error(r: &Resp, status: StatusCode) -> String {
    assert_eq!(r.status, status, "{}", r.text);
    let v = r.json();
    assert!(
        v["code"].is_string() && v["message"].is_string() && v["request_id"].is_string(),
        "{v}"
    );
    assert_eq!(v["errors"][0]["status"], status.as_u16().to_string());
    v["error"].as_str().unwrap().to_owned()
}

/// PKCE pair.
pub fn pkce() -> (String, String) {
    let verifier = "a".repeat(20) + "0123456789-._~ABCDEFGHIJK";
    let challenge = academy_globus_emulator::secret::pkce_challenge(&verifier);
    (verifier, challenge)
}

pub fn authorize_query(base: &str, scope: &str, challenge: &str, offline: bool) -> String {
    let redirect = format!("{base}v2/web/auth-code");
    let mut pairs = vec![
        ("client_id", d::NATIVE_CLIENT_ID),
        ("redirect_uri", redirect.as_str()),
        ("scope", scope),
        ("state", "_default"),
        ("response_type", "code"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    if offline {
        pairs.push(("access_type", "offline"));
    }
    format!(
        "v2/oauth2/authorize?{}",
        serde_urlencoded::to_string(&pairs).unwrap()
    )
}

/// Runs an auto-approved native login and returns the token response.
pub async fn native_login(http: &Http, scope: &str, offline: bool) -> Value {
    let (verifier, challenge) = pkce();
    let r = http
        .get(
            &authorize_query(&http.base, scope, &challenge, offline),
            Auth::None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.text);
    let loc = r.location();
    let code = loc
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let redirect = format!("{}v2/web/auth-code", http.base);
    let r = http
        .form(
            "v2/oauth2/token",
            Auth::None,
            &[
                ("client_id", d::NATIVE_CLIENT_ID),
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &verifier),
                ("redirect_uri", &redirect),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json()
}

pub fn auto_approve() -> EmulatorConfig {
    EmulatorConfig {
        auto_approve: Some(true),
        ..EmulatorConfig::default()
    }
}
