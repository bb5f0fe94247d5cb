//! A scripted HTTP/1.1 server on 127.0.0.1:0 for the integration tests:
//! each connection serves one request (no keep-alive) and takes the next
//! action of its route's script, so failures can be injected per attempt.

#![allow(dead_code)]
// Test scaffolding: a broken fixture should panic loudly.
#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// What the server does for one request.
#[derive(Clone, Debug)]
pub enum Action {
    /// Answer with a status, headers and body.
    Respond {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Accept the connection and close it without answering.
    Reset,
    /// Wait, then perform the inner action.
    Slow(Duration, Box<Action>),
    /// Answer 200 `text/event-stream` with these chunks, then end.
    Sse(Vec<String>),
    /// Answer 200 announcing 100 bytes, send 10, then drop the connection.
    Truncated,
}

impl Action {
    pub fn status(status: u16) -> Action {
        Action::Respond {
            status,
            headers: vec![("content-type", "text/plain; charset=utf-8".into())],
            body: String::new(),
        }
    }
    pub fn text(status: u16, body: &str) -> Action {
        Action::Respond {
            status,
            headers: vec![("content-type", "text/plain; charset=utf-8".into())],
            body: body.into(),
        }
    }
    pub fn json(status: u16, body: serde_json::Value) -> Action {
        Action::Respond {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string(),
        }
    }
    pub fn with_header(self, name: &'static str, value: &str) -> Action {
        match self {
            Action::Respond {
                status,
                mut headers,
                body,
            } => {
                headers.push((name, value.into()));
                Action::Respond {
                    status,
                    headers,
                    body,
                }
            }
            other => other,
        }
    }
}

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Seen {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }
}

#[derive(Default)]
struct State {
    scripts: HashMap<(Method, String), VecDeque<Action>>,
    seen: Vec<Seen>,
    connections: usize,
}

/// The running server; dropped at the end of the test (the accept task is
/// aborted).
pub struct ScriptServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
    pub request_seen: Arc<Notify>,
}

impl Drop for ScriptServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ScriptServer {
    pub async fn start() -> ScriptServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let notify = Arc::new(Notify::new());
        let task = tokio::spawn(accept_loop(listener, state.clone(), notify.clone()));
        ScriptServer {
            addr,
            state,
            task,
            request_seen: notify,
        }
    }

    pub fn url(&self) -> url::Url {
        format!("http://{}/", self.addr).parse().unwrap()
    }

    /// Appends actions for `method path`; an unscripted request gets 599.
    pub fn script(&self, method: Method, path: &str, actions: Vec<Action>) {
        self.state
            .lock()
            .unwrap()
            .scripts
            .entry((method, path.to_string()))
            .or_default()
            .extend(actions);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn seen_at(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }

    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<Mutex<State>>, notify: Arc<Notify>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        state.lock().unwrap().connections += 1;
        let state = state.clone();
        let notify = notify.clone();
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let svc =
                hyper::service::service_fn(move |req| handle(req, state.clone(), notify.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .serve_connection(io, svc)
                .await;
        });
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

fn full(body: String) -> Body {
    Full::new(Bytes::from(body))
        .map_err(|never| match never {})
        .boxed()
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<Mutex<State>>,
    notify: Arc<Notify>,
) -> Result<Response<Body>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().trim_start_matches('/').to_string();
    let action = {
        let mut st = state.lock().unwrap();
        st.seen.push(Seen {
            method: parts.method.clone(),
            path: path.clone(),
            headers: parts.headers.clone(),
            body,
        });
        st.scripts
            .get_mut(&(parts.method.clone(), path))
            .and_then(VecDeque::pop_front)
    };
    notify.notify_waiters();
    let mut action = action.unwrap_or_else(|| Action::text(599, "unscripted request"));
    loop {
        match action {
            Action::Slow(delay, inner) => {
                tokio::time::sleep(delay).await;
                action = *inner;
            }
            Action::Reset => {
                // Returning an error makes hyper close the connection
                // without writing a response.
                return Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
            }
            Action::Respond {
                status,
                headers,
                body,
            } => {
                let mut resp = Response::new(full(body));
                *resp.status_mut() = StatusCode::from_u16(status).unwrap();
                for (k, v) in headers {
                    resp.headers_mut().insert(k, v.parse().unwrap());
                }
                return Ok(resp);
            }
            Action::Truncated => {
                let frames = futures::stream::iter(vec![
                    Ok(Frame::data(Bytes::from_static(b"{\"partial\""))),
                    Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
                ]);
                let mut resp = Response::new(StreamBody::new(frames).boxed());
                resp.headers_mut()
                    .insert("content-length", "100".parse().unwrap());
                return Ok(resp);
            }
            Action::Sse(chunks) => {
                let frames = futures::stream::iter(
                    chunks
                        .into_iter()
                        .map(|c| Ok::<_, std::io::Error>(Frame::data(Bytes::from(c)))),
                );
                let mut resp = Response::new(StreamBody::new(frames).boxed());
                resp.headers_mut()
                    .insert("content-type", "text/event-stream".parse().unwrap());
                return Ok(resp);
            }
        }
    }
}

/// A token-endpoint answer.
pub fn token_json(
    access: &str,
    refresh: Option<&str>,
    rs: &str,
    expires_in: i64,
) -> serde_json::Value {
    let mut v = serde_json::json!({
        "access_token": access, "scope": "s", "expires_in": expires_in,
        "token_type": "Bearer", "resource_server": rs, "other_tokens": []
    });
    if let Some(r) = refresh {
        v["refresh_token"] = r.into();
    }
    v
}

/// Fails the test if `fut` takes longer than `secs`.
pub async fn bounded<T>(secs: u64, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .expect("test step timed out")
}
