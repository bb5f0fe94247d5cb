//! Criterion micro-benchmarks: message encode/decode, and our client's
//! per-request overhead (`PUT /message` against a loopback stub that
//! answers `200` at once, so that only the client's work is measured).
//!
//! `cargo bench -p academy-bench`

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use academy_exchange::message::{ActionRequest, Body};
use academy_exchange::{AgentId, EntityId, Message, UserId};
use academy_globus_client::{AcademyGlobusClient, ExchangeClientConfig};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn message(payload: Option<usize>) -> Message {
    let src: EntityId = UserId::new(None).into();
    let dest: EntityId = AgentId::new(None).into();
    let body = match payload {
        None => Body::PingRequest,
        Some(n) => Body::ActionRequest(ActionRequest::json(
            "echo",
            &["x".repeat(n).into()],
            &serde_json::json!({}),
        )),
    };
    Message::request(src, dest, body, None)
}

const SIZES: [(&str, Option<usize>); 4] = [
    ("ping", None),
    ("100B", Some(100)),
    ("10KiB", Some(10 * 1024)),
    ("500KiB", Some(500 * 1024)),
];

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("message");
    for (name, size) in SIZES {
        let m = message(size);
        let wire = m.to_json();
        group.throughput(Throughput::Bytes(wire.len() as u64));
        group.bench_with_input(BenchmarkId::new("encode", name), &m, |b, m| {
            b.iter(|| black_box(m.to_json()))
        });
        group.bench_with_input(BenchmarkId::new("decode", name), &wire, |b, w| {
            b.iter(|| black_box(Message::from_json(w).unwrap()))
        });
        group.bench_with_input(BenchmarkId::new("decode+body", name), &wire, |b, w| {
            b.iter(|| black_box(Message::from_json(w).unwrap().body().unwrap()))
        });
        // What a client does to receive it: one server-sent event.
        let event = format!("data: {wire}\r\n\r\n").into_bytes();
        group.bench_with_input(BenchmarkId::new("sse decode", name), &event, |b, e| {
            b.iter(|| {
                let mut d = academy_globus_client::sse::SseDecoder::default();
                black_box(d.push(e).unwrap())
            })
        });
        // What building an action request costs (academy-py's json.dumps).
        if let Some(n) = size {
            let arg = serde_json::Value::Array(vec!["x".repeat(n).into()]);
            group.bench_with_input(
                BenchmarkId::new("python_json_dumps args", name),
                &arg,
                |b, a| b.iter(|| black_box(academy_exchange::message::python_json_dumps(a))),
            );
            let text = "x".repeat(n);
            group.bench_with_input(
                BenchmarkId::new("json string escape (run-at-a-time prototype)", name),
                &text,
                |b, t| b.iter(|| black_box(escape_prototype(t))),
            );
        }
    }
    group.finish();
}

/// A keep-alive HTTP/1.1 stub: reads a request head and its
/// content-length body, answers `200` with an empty body.
async fn stub_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(64 * 1024);
                let mut chunk = vec![0u8; 64 * 1024];
                loop {
                    // Parse as many complete requests as the buffer holds.
                    while let Some(end) = find(&buf, b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if buf.len() < end + 4 + len {
                            break;
                        }
                        buf.drain(..end + 4 + len);
                        if sock
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    addr
}

/// Python `json.dumps` string escaping that copies runs of unescaped
/// bytes at once (prototype for `academy_exchange`'s `write_str`; only
/// `"`, `\\` and newline are escaped, enough for this benchmark's ASCII
/// payloads).
fn escape_prototype(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escaped = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        out.push_str(escaped);
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn client_overhead(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = rt.block_on(stub_server());
    let url = url::Url::parse(&format!("http://{addr}/")).unwrap();
    let client =
        rt.block_on(async { AcademyGlobusClient::new(ExchangeClientConfig::new(url)).unwrap() });
    // The floor: the same request body through a bare hyper-util client.
    let bare: hyper_util::client::legacy::Client<_, http_body_util::Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let mut group = c.benchmark_group("client");
    for (name, size) in [SIZES[0], SIZES[2]] {
        let m = message(size);
        group.bench_with_input(BenchmarkId::new("send (stub server)", name), &m, |b, m| {
            b.to_async(&rt)
                .iter(|| async { client.send(m).await.unwrap() })
        });
        let body = serde_json::json!({ "message": m.to_json() }).to_string();
        group.bench_with_input(
            BenchmarkId::new("bare hyper PUT (stub server)", name),
            &body,
            |b, body| {
                b.to_async(&rt).iter(|| async {
                    let req = http::Request::put(format!("http://{addr}/message"))
                        .header("content-type", "application/json")
                        .body(http_body_util::Full::new(bytes::Bytes::from(body.clone())))
                        .unwrap();
                    let resp = bare.request(req).await.unwrap();
                    assert!(resp.status().is_success());
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, codec, client_overhead);
criterion_main!(benches);
