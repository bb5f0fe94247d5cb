//! Raw HTTP calls, below the client library: every route reads a JSON body
//! (also `GET` and `DELETE`), so the hostile-input and auth-matrix
//! scenarios talk to the server directly.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A pooled HTTP/1 client.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A new client.
pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// One answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Body (lossy UTF-8).
    pub text: String,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

/// Sends one request and reads the whole answer (bounded: 30 s). A
/// transport failure is answer status 0 with the error as text.
pub async fn call(
    client: &HttpClient,
    method: &str,
    url: &str,
    body: impl Into<Bytes>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut req = ::http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(body.into())).unwrap();
    tokio::time::timeout(Duration::from_secs(30), async {
        let resp = match client.request(req).await {
            Ok(r) => r,
            Err(e) => {
                return Answer {
                    status: 0,
                    text: format!("{e:?}"),
                };
            }
        };
        let status = resp.status().as_u16();
        match resp.into_body().collect().await {
            Ok(body) => Answer {
                status,
                text: String::from_utf8_lossy(&body.to_bytes()).into_owned(),
            },
            Err(e) => Answer {
                status: 0,
                text: format!("status {status}, body failed: {e:?}"),
            },
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{method} {url}: no answer within 30 s"))
}

/// Writes `request` bytes on a fresh connection and reads until the server
/// closes or `limit` passes; returns the status of the first answer line
/// (`None` when the server closed without answering).
pub async fn raw_exchange(
    addr: std::net::SocketAddr,
    request: &[u8],
    limit: Duration,
) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may answer (and close) before the whole request is written.
    let _ = stream.write_all(request).await;
    let mut got = Vec::new();
    let _ = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    if got.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&got);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
}
