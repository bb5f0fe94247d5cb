//! Shared helpers of the integration tests: a small HTTP client (GET and
//! DELETE with JSON bodies), servers, a redis-server and the Python peer.

#![allow(dead_code)]

use std::path::PathBuf;

use academy_exchange_server::{ServerConfig, ServerHandle, serve};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// One answer: status, content type and body text.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

pub async fn call_raw(
    client: &HttpClient,
    method: &str,
    url: &str,
    body: impl Into<Bytes>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut req = http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(body.into())).unwrap();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        content_type,
        text: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

pub async fn call(client: &HttpClient, method: &str, url: &str, body: &Value) -> Answer {
    call_raw(client, method, url, body.to_string(), &[]).await
}

/// A memory server on a free loopback port.
pub async fn memory_server() -> ServerHandle {
    serve(ServerConfig::default().with_bind("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap()
}

/// The Python interpreter of the pinned venv, or `None` (skip); panics
/// when `ACADEMY_REQUIRE_INTEROP=1` and it is missing.
pub fn python() -> Option<PathBuf> {
    academy_testkit::python::interpreter()
}

pub fn py_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(name)
}

/// A private redis-server on a free loopback port, killed on drop.
pub struct RedisServer(academy_testkit::redis::RedisServer);

impl RedisServer {
    pub async fn start() -> RedisServer {
        RedisServer(academy_testkit::redis::RedisServer::start().await.unwrap())
    }

    pub fn port(&self) -> u16 {
        self.0.port()
    }

    pub fn url(&self) -> String {
        self.0.url()
    }

    /// Kills the redis-server (SIGKILL) and waits for it to exit.
    pub async fn kill(&mut self) {
        self.0.kill().await.unwrap();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
