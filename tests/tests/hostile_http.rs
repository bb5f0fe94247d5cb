//! Hostile input, server side: every route of the exchange server with
//! random and mutated bodies (proptest), oversized and deeply nested JSON,
//! invalid UTF-8, huge headers and slow-loris connections.
//!
//! What must hold: the server answers 4xx (never 5xx), never panics, keeps
//! serving well-behaved clients, frees what a hostile client made it
//! allocate, and does not keep a stalled connection forever.

#![allow(clippy::unwrap_used)] // Test code: a panic is a failed assertion.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use academy_e2e::http::{Answer, HttpClient, call, client, raw_exchange};
use academy_e2e::server_process::ServerProcess;
use academy_e2e::{bounded, procfs, report, size};
use academy_exchange::message::Body;
use academy_exchange::{AgentId, EntityId, Message, UserId};
use academy_exchange_server::{ServerConfig, ServerHandle, serve};
use proptest::prelude::*;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Every route of `exchange-http-api.md` §5, and two the server does not have.
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/mailbox"),
    ("GET", "/mailbox"),
    ("DELETE", "/mailbox"),
    ("POST", "/mailbox/share"),
    ("GET", "/mailbox/share"),
    ("DELETE", "/mailbox/share"),
    ("PUT", "/message"),
    ("GET", "/message"),
    ("GET", "/mailbox/listen"),
    ("GET", "/discover"),
    ("GET", "/mailbox/heartbeat"),
    ("POST", "/mailbox/heartbeat"),
    ("GET", "/mailbox/stats"),
    ("PATCH", "/mailbox"),
    ("GET", "/no/such/route"),
];

/// One in-process server (memory backend, 1 s maximum waits) shared by the
/// property cases of this test binary, with a few real mailboxes.
struct Target {
    rt: tokio::runtime::Runtime,
    base: String,
    client: HttpClient,
    user: EntityId,
    agent: EntityId,
    _server: ServerHandle,
}

static PANICS: AtomicUsize = AtomicUsize::new(0);

fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // Server tasks run on the runtime's worker threads; the test
            // thread's own assertion failures are counted too, harmlessly.
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (server, client, user, agent) = rt.block_on(async {
            let mut config = ServerConfig::default().with_bind("127.0.0.1:0".parse().unwrap());
            config.listen_timeout_s = 1;
            let server = serve(config).await.unwrap();
            let client = client();
            let user: EntityId = UserId::new(None).into();
            let agent: EntityId = AgentId::new(Some("target".into())).into();
            let base = server.base_url();
            for (id, agent_mro) in [(&user, None), (&agent, Some("m.A,academy.agent.Agent"))] {
                let mut body = json!({ "mailbox": id.to_json() });
                if let Some(mro) = agent_mro {
                    body["agent"] = json!(mro);
                }
                let a = call(
                    &client,
                    "POST",
                    &format!("{base}/mailbox"),
                    body.to_string(),
                    &[],
                )
                .await;
                assert_eq!(a.status, 200, "{}", a.text);
            }
            (server, client, user, agent)
        });
        Target {
            base: server.base_url(),
            rt,
            client,
            user,
            agent,
            _server: server,
        }
    })
}

fn send(method: &str, path: &str, body: Vec<u8>) -> Answer {
    let t = target();
    let url = format!("{}{path}", t.base);
    t.rt.block_on(call(&t.client, method, &url, body, &[]))
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::hash_map("[a-z_]{0,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Field values that are almost right, plus the real mailboxes.
fn field_value() -> impl Strategy<Value = Value> {
    let t = target();
    let user = t.user.clone();
    let agent = t.agent.clone();
    let ping = Message::request(user.clone(), agent.clone(), Body::PingRequest, None);
    let reply = Message::request(agent.clone(), user.clone(), Body::PingRequest, None);
    prop_oneof![
        any_json(),
        Just(json!(user.to_json())),
        Just(json!(agent.to_json())),
        Just(json!(UserId::new(None).to_json())),
        Just(json!(ping.to_json())),
        Just(json!(reply.to_json())),
        Just(json!(ping.to_json().replace("request", "response"))),
        Just(json!(ping.to_json().replace("\"1.1\"", "null"))),
        Just(json!(
            ping.to_json().replace("\"ping-request\"", "\"nope\"")
        )),
        Just(json!(&ping.to_json()[..40])),
        Just(json!(
            serde_json::from_str::<Value>(&user.to_json()).unwrap()
        )),
        Just(json!("m.A")),
        Just(json!("academy.agent.Agent")),
        Just(json!("")),
        Just(json!(0.01)),
        Just(json!(-1)),
        Just(json!(0)),
        Just(json!(1e308)),
        Just(json!(true)),
        Just(json!("1")),
    ]
}

fn structured_body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        (
            prop::sample::select(vec![
                "mailbox",
                "agent",
                "timeout",
                "message",
                "group_id",
                "allow_subclasses",
                "extra",
            ]),
            field_value(),
        ),
        0..5,
    )
    .prop_map(|fields| {
        let map: serde_json::Map<String, Value> = fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        Value::Object(map).to_string().into_bytes()
    })
}

fn mutated_body() -> impl Strategy<Value = Vec<u8>> {
    (
        structured_body(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    )
        .prop_map(|(mut bytes, edits)| {
            for (at, byte, op) in edits {
                if bytes.is_empty() {
                    bytes.push(byte);
                    continue;
                }
                let i = at.index(bytes.len());
                match op {
                    0 => bytes[i] = byte,
                    1 => bytes.insert(i, byte),
                    _ => bytes.truncate(i),
                }
            }
            bytes
        })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        any_json().prop_map(|v| v.to_string().into_bytes()),
        structured_body(),
        mutated_body(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_route_answers_4xx_to_bad_bodies(route in 0..ROUTES.len(), body in body()) {
        let (method, path) = ROUTES[route];
        let shown = String::from_utf8_lossy(&body).into_owned();
        let a = send(method, path, body);
        prop_assert!(
            (200..500).contains(&a.status),
            "{} {} answered {} ({}) to {:?}", method, path, a.status, a.text, shown
        );
        prop_assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a handler panicked");
    }
}

#[test]
fn oversized_deep_and_invalid_utf8_bodies_get_4xx() {
    let t = target();
    let mb = t.user.to_json();
    // Just over the 1 MiB body limit, with and without a length header.
    let big = format!(
        "{{\"mailbox\": {}, \"pad\": \"{}\"}}",
        json!(mb),
        "x".repeat(1 << 20)
    );
    for (method, path) in &ROUTES[..13] {
        let a = send(method, path, big.clone().into_bytes());
        assert_eq!(a.status, 413, "{method} {path}: {}", a.text);
    }
    // A message over the 512 KiB message limit inside a body under 1 MiB.
    let mut m = Message::request(t.user.clone(), t.agent.clone(), Body::PingRequest, None);
    m = Message::with_raw_body(
        m.header.clone(),
        json!({"kind": "ping-request", "pad": "y".repeat(600 << 10)}),
    );
    let a = send(
        "PUT",
        "/message",
        json!({"message": m.to_json()}).to_string().into_bytes(),
    );
    assert_eq!(a.status, 413, "{}", a.text);
    // Deep nesting: in the body, in the message string, in the mailbox string.
    for depth in [200usize, 100_000] {
        let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        for (method, path) in &ROUTES[..13] {
            let a = send(
                method,
                path,
                format!("{{\"mailbox\": {deep}}}").into_bytes(),
            );
            assert_eq!(a.status, 400, "{method} {path} depth {depth}: {}", a.text);
        }
        let deep_msg = m
            .to_json()
            .replace(&format!("\"{}\"", "y".repeat(600 << 10)), &deep);
        let a = send(
            "PUT",
            "/message",
            json!({"message": deep_msg}).to_string().into_bytes(),
        );
        assert_eq!(a.status, 400, "deep message: {}", a.text);
        let a = send(
            "GET",
            "/mailbox",
            json!({"mailbox": deep}).to_string().into_bytes(),
        );
        assert_eq!(a.status, 400, "deep mailbox string: {}", a.text);
    }
    // Invalid UTF-8 inside a JSON string, and a lone surrogate escape.
    let mut bad = format!("{{\"mailbox\": {}}}", json!(mb)).into_bytes();
    let at = bad.iter().position(|b| *b == b'u').unwrap();
    bad[at] = 0xff;
    let surrogate = format!("{{\"mailbox\": {}}}", json!(mb)).replace("\\\"uid", "\\ud800\\\"uid");
    for (method, path) in &ROUTES[..13] {
        let a = send(method, path, bad.clone());
        assert_eq!(a.status, 400, "{method} {path} invalid UTF-8: {}", a.text);
        let a = send(method, path, surrogate.clone().into_bytes());
        assert_eq!(a.status, 400, "{method} {path} lone surrogate: {}", a.text);
    }
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a handler panicked");
}

#[test]
fn chunked_oversized_body_is_cut_at_the_limit() {
    let t = target();
    let addr: SocketAddr = t.base.trim_start_matches("http://").parse().unwrap();
    t.rt.block_on(bounded(60, async {
        // 8 MiB announced in chunks: the server must stop reading at 1 MiB.
        let mut req =
            b"PUT /message HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        let chunk = vec![b'a'; 64 << 10];
        for _ in 0..128 {
            req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            req.extend_from_slice(&chunk);
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(b"0\r\n\r\n");
        let status = raw_exchange(addr, &req, Duration::from_secs(20)).await;
        assert_eq!(status, Some(413));
    }));
}

#[test]
fn malformed_request_lines_and_headers_get_4xx() {
    let t = target();
    let addr: SocketAddr = t.base.trim_start_matches("http://").parse().unwrap();
    t.rt.block_on(bounded(60, async {
        let body = json!({"mailbox": t.user.to_json()}).to_string();
        // (name, request, lowest acceptable status): obs-text bytes in a
        // header value are legal HTTP, so that one may succeed.
        let cases: Vec<(&str, Vec<u8>, u16)> = vec![
            ("invalid UTF-8 in the path", b"GET /mail\xffbox HTTP/1.1\r\nhost: x\r\n\r\n".to_vec(), 400),
            (
                "invalid UTF-8 in a header value",
                format!(
                    "GET /mailbox HTTP/1.1\r\nhost: x\r\nauthorization: Bearer \u{0}\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes()
                .into_iter()
                .map(|b| if b == 0 { 0xff } else { b })
                .collect(),
                200,
            ),
            ("one 1 MiB header", {
                let mut r = b"GET /mailbox HTTP/1.1\r\nhost: x\r\nx-big: ".to_vec();
                r.extend(std::iter::repeat_n(b'a', 1 << 20));
                r.extend_from_slice(b"\r\n\r\n");
                r
            }, 400),
            ("10 000 headers", {
                let mut r = b"GET /mailbox HTTP/1.1\r\nhost: x\r\n".to_vec();
                for i in 0..10_000 {
                    r.extend_from_slice(format!("x-h{i}: v\r\n").as_bytes());
                }
                r.extend_from_slice(b"\r\n");
                r
            }, 400),
            ("garbage request line", b"\x00\x01\x02 / HTTP/9.9\r\n\r\n".to_vec(), 400),
            ("bad content-length", b"PUT /message HTTP/1.1\r\nhost: x\r\ncontent-length: -5\r\n\r\n".to_vec(), 400),
            (
                "conflicting lengths",
                b"PUT /message HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
                400,
            ),
        ];
        for (name, request, lowest) in cases {
            let status = raw_exchange(addr, &request, Duration::from_secs(10)).await;
            assert!(
                status.is_some_and(|s| (lowest..500).contains(&s)),
                "{name}: answered {status:?}"
            );
        }
        // Still serving.
        let a = call(&t.client, "GET", &format!("{}/mailbox", t.base), body, &[]).await;
        assert_eq!(a.status, 200);
    }));
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a handler panicked");
}

/// Slow-loris: many connections that send a request a byte at a time or
/// stall mid-header. Well-behaved clients must still be served promptly,
/// and the server must drop a connection that stalls (hyper's 30 s header
/// timeout when a timer is configured) rather than keep it forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_connections_do_not_starve_or_stick() {
    bounded(120, async {
        let mut config = ServerConfig::default().with_bind("127.0.0.1:0".parse().unwrap());
        config.listen_timeout_s = 1;
        let server = serve(config).await.unwrap();
        let addr = server.addr();
        let n = size("ACADEMY_SOAK_SLOWLORIS_CONNECTIONS", 200) as usize;
        let mut stalled = Vec::new();
        for _ in 0..n {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"PUT /message HTTP/1.1\r\nhost: x\r\ncontent-le")
                .await
                .unwrap();
            stalled.push(s);
        }
        // A body that never finishes, too.
        let mut slow_body = TcpStream::connect(addr).await.unwrap();
        slow_body
            .write_all(b"PUT /message HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n{")
            .await
            .unwrap();
        let client = client();
        let user = UserId::new(None).to_json();
        let started = Instant::now();
        for _ in 0..20 {
            let t = Instant::now();
            let a = call(
                &client,
                "POST",
                &format!("{}/mailbox", server.base_url()),
                json!({ "mailbox": user }).to_string(),
                &[],
            )
            .await;
            assert_eq!(a.status, 200);
            assert!(
                t.elapsed() < Duration::from_secs(2),
                "starved: {:?}",
                t.elapsed()
            );
        }
        let served = started.elapsed();
        // The stalled connections must be closed (or answered) by the server.
        let limit = Duration::from_secs(45);
        let closed = |mut s: TcpStream| async move {
            let t = Instant::now();
            let mut buf = [0u8; 256];
            tokio::time::timeout(limit, tokio::io::AsyncReadExt::read(&mut s, &mut buf))
                .await
                .ok()
                .map(|_| t.elapsed())
        };
        let first = stalled.remove(0);
        let (header_closed, body_closed) = tokio::join!(closed(first), closed(slow_body));
        let shown = |d: Option<Duration>| {
            d.map(|d| format!("{:.1}", d.as_secs_f64()))
                .unwrap_or_else(|| "never".into())
        };
        report(
            "slow_loris",
            &[
                ("stalled_connections", n.to_string()),
                ("20_requests_served_in_ms", served.as_millis().to_string()),
                ("stalled_header_closed_after_s", shown(header_closed)),
                ("stalled_body_closed_after_s", shown(body_closed)),
            ],
        );
        assert!(
            header_closed.is_some() && body_closed.is_some(),
            "stalled connections still open after {limit:?} (header: {}, body: {}): the \
             server has no header-read or body timeout, so slow-loris clients can hold \
             its file descriptors forever",
            shown(header_closed),
            shown(body_closed)
        );
        drop(stalled);
        server.shutdown().await;
    })
    .await;
}

/// Floods the server binary with rejected requests and checks that its
/// resident memory and file descriptors come back to a plateau.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_flood_does_not_grow_the_server() {
    if !academy_e2e::has_procfs() {
        eprintln!("skipped: needs /proc");
        return;
    }
    let rounds = size("ACADEMY_SOAK_HOSTILE_ROUNDS", 5);
    let per_round = 2_000;
    bounded(240, async {
        let mut server = ServerProcess::start("listen_timeout_s = 1\n", "warn").await;
        let pid = server.pid().unwrap();
        let base = server.base_url();
        let client = client();
        let bodies: Vec<Vec<u8>> = vec![
            b"not json".to_vec(),
            b"{\"mailbox\": 5}".to_vec(),
            format!("{{\"mailbox\": {}}}", "[".repeat(10_000)).into_bytes(),
            vec![0xff; 512],
            format!("{{\"pad\": \"{}\"}}", "z".repeat(64 << 10)).into_bytes(),
            json!({"message": "{\"header\": 1}"})
                .to_string()
                .into_bytes(),
        ];
        let fds_before = procfs::fd_count(pid).unwrap();
        let mut rss = Vec::new();
        let mut requests = 0u64;
        for _ in 0..rounds {
            let mut tasks = Vec::new();
            for w in 0..8usize {
                let client = client.clone();
                let base = base.clone();
                let bodies = bodies.clone();
                tasks.push(tokio::spawn(async move {
                    for i in 0..per_round / 8 {
                        let (method, path) = ROUTES[(i + w) % ROUTES.len()];
                        let body = bodies[(i * 7 + w) % bodies.len()].clone();
                        let a = call(&client, method, &format!("{base}{path}"), body, &[]).await;
                        // 0: the server answered early (405, 413) and closed
                        // while the body was still being written; legal HTTP.
                        assert!(
                            a.status == 0 || (400..500).contains(&a.status),
                            "{method} {path}: {} {}",
                            a.status,
                            a.text
                        );
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            requests += per_round as u64;
            rss.push(procfs::rss_kib(pid).unwrap());
        }
        drop(client);
        // Closed client connections must be released (poll: no event to await).
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut fds_after = procfs::fd_count(pid).unwrap();
        while fds_after > fds_before + 2 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            fds_after = procfs::fd_count(pid).unwrap();
        }
        let log = std::fs::read_to_string(server.log_path()).unwrap_or_default();
        server.stop().await;
        report(
            "hostile_flood",
            &[
                ("requests", requests.to_string()),
                ("rss_kib_per_round", format!("{rss:?}")),
                ("fds_before", fds_before.to_string()),
                ("fds_after", fds_after.to_string()),
            ],
        );
        assert!(!log.contains("panicked"), "server panicked:\n{log}");
        assert!(
            fds_after <= fds_before + 2,
            "fd leak: {fds_before} -> {fds_after}"
        );
        // After the first round (warm-up: allocator arenas, buffers), the
        // plateau may wobble but not climb with every round.
        let warm = rss[0];
        let last = *rss.last().unwrap();
        assert!(
            last <= warm + 16 * 1024,
            "RSS grew from {warm} KiB to {last} KiB over {rounds} rounds: {rss:?}"
        );
    })
    .await;
}
