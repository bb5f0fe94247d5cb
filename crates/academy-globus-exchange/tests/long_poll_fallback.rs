//! The long-poll fallback: in front of our server, an exchange without the
//! `GET /mailbox/listen` route (a framework 404, as an older or partial
//! deployment answers). `listen()` must fall back to `GET /message` and
//! the whole conformance suite must still pass.
#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns: a panic is a failed assertion.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use academy_exchange::conformance;
use academy_globus_client::http::HttpRequest;
use academy_globus_client::{HttpClient, RetryPolicy};
use academy_globus_exchange::HttpExchangeFactory;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};

#[derive(Clone)]
struct Front {
    upstream: HttpClient,
    listen_calls: Arc<AtomicUsize>,
}

/// Forwards every request to the real server, except the event stream.
async fn forward(State(front): State<Front>, req: Request) -> Response {
    if req.uri().path() == "/mailbox/listen" {
        front.listen_calls.fetch_add(1, Ordering::SeqCst);
        let mut resp = Response::new(Body::from("404: Not Found"));
        *resp.status_mut() = http::StatusCode::NOT_FOUND;
        return resp;
    }
    let (parts, body) = req.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let mut out: HttpRequest = http::Request::new(Full::new(bytes));
    *out.method_mut() = parts.method;
    *out.uri_mut() = parts
        .uri
        .path_and_query()
        .unwrap()
        .as_str()
        .parse()
        .unwrap();
    *out.headers_mut() = parts.headers;
    out.headers_mut().remove(http::header::HOST);
    let resp = front.upstream.send(out).await.unwrap();
    let (mut parts, body) = resp.into_parts();
    // Hop-by-hop framing is the front's own business.
    for h in [
        http::header::TRANSFER_ENCODING,
        http::header::CONTENT_LENGTH,
        http::header::CONNECTION,
    ] {
        parts.headers.remove(h);
    }
    let body: Bytes = body.collect().await.unwrap().to_bytes();
    Response::from_parts(parts, Body::from(body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_falls_back_to_long_polls() {
    bounded(300, async {
        let server = null_server(None).await;
        let upstream = HttpClient::builder(server.base_url().parse().unwrap())
            .retry(RetryPolicy::none())
            .timeout(None)
            .build()
            .unwrap();
        let listen_calls = Arc::new(AtomicUsize::new(0));
        let app = axum::Router::new().fallback(forward).with_state(Front {
            upstream,
            listen_calls: listen_calls.clone(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let front = tokio::spawn(async move { axum::serve(listener, app).await });
        let factory = HttpExchangeFactory::new(format!("http://{addr}").parse().unwrap())
            .with_request_timeout_s(10.0);
        conformance::run_all(&factory).await;
        assert!(
            listen_calls.load(Ordering::SeqCst) > 0,
            "listen() tried the event stream first"
        );
        front.abort();
        server.shutdown().await;
    })
    .await;
}
