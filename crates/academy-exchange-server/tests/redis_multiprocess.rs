//! Two Rust server processes and one academy-py server on one Redis form
//! one exchange.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use academy_exchange::message::Body as MsgBody;
use academy_exchange::{AgentId, EntityId, Message, UserId};
use common::{RedisServer, call, client};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

struct Proc {
    child: Child,
    base: String,
}

async fn rust_server(config: &std::path::Path) -> Proc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_academy-exchange-server"))
        .arg("--config")
        .arg(config)
        .args(["--host", "127.0.0.1", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).await.unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    Proc { child, base }
}

async fn python_server(python: &std::path::Path, config: &std::path::Path, port: u16) -> Proc {
    let child = Command::new(python)
        .args(["-m", "academy.exchange.cloud", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The Python server prints nothing useful: wait until it accepts.
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "python server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Proc {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

async fn sigterm(p: &mut Proc) {
    let pid = p.child.id().unwrap();
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .unwrap();
    assert!(status.success());
    let exit = p.child.wait().await.unwrap();
    assert!(exit.success(), "server exit status {exit}");
}

/// Redis's MONITOR feed: one line per command the server executes
/// (including commands run by scripts).
async fn monitor(port: u16) -> tokio::io::Lines<BufReader<tokio::net::TcpStream>> {
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    conn.write_all(b"MONITOR\r\n").await.unwrap();
    let mut lines = BufReader::new(conn).lines();
    assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("+OK"));
    lines
}

/// Reads the feed up to the first line `matches`.
async fn wait_for(
    feed: &mut tokio::io::Lines<BufReader<tokio::net::TcpStream>>,
    matches: impl Fn(&str) -> bool,
) {
    while let Some(line) = feed.next_line().await.unwrap() {
        if matches(&line) {
            return;
        }
    }
    panic!("MONITOR feed ended");
}

fn mb(id: &EntityId) -> serde_json::Value {
    json!({ "mailbox": id.to_json() })
}

#[tokio::test]
async fn rust_and_python_servers_share_one_redis() {
    tokio::time::timeout(Duration::from_secs(90), async {
        let redis = RedisServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        let backend = format!(
            "[backend]\nkind = \"redis\"\nhostname = \"127.0.0.1\"\nport = {}\n",
            redis.port()
        );
        let rust_cfg = dir.path().join("rust.toml");
        std::fs::write(&rust_cfg, &backend).unwrap();
        let mut a = rust_server(&rust_cfg).await;
        let mut b = rust_server(&rust_cfg).await;
        let py = common::python();
        let py_port = common::free_port();
        let py_cfg = dir.path().join("py.toml");
        std::fs::write(
            &py_cfg,
            format!("host = \"127.0.0.1\"\nport = {py_port}\n{backend}"),
        )
        .unwrap();
        let mut p = match &py {
            Some(python) => Some(python_server(python, &py_cfg, py_port).await),
            None => None,
        };
        let http = client();

        let user: EntityId = UserId::new(None).into();
        let agent: EntityId = AgentId::new(None).into();
        assert_eq!(
            call(&http, "POST", &format!("{}/mailbox", a.base), &mb(&user))
                .await
                .status,
            200
        );
        let mut reg = mb(&agent);
        reg["agent"] = json!("m.Shared,academy.agent.Agent");
        let creator = p.as_ref().map_or(&b.base, |p| &p.base);
        assert_eq!(
            call(&http, "POST", &format!("{creator}/mailbox"), &reg)
                .await
                .status,
            200
        );

        // A receiver blocked on A is woken by a put through B (notification,
        // well before the fallback poll). Server A is another process; Redis's
        // MONITOR feed says when its take has found the queue empty (the
        // take's `LPOP`), by which time its wake-up is armed.
        let mut feed = monitor(redis.port()).await;
        let waiting = {
            let http = client();
            let url = format!("{}/message", a.base);
            let mut body = mb(&agent);
            body["timeout"] = json!(20);
            tokio::spawn(async move { call(&http, "GET", &url, &body).await })
        };
        let pop = format!("\"queue:{}\"", agent.uid());
        wait_for(&mut feed, |line| {
            line.to_ascii_lowercase().contains("\"lpop\"") && line.contains(&pop)
        })
        .await;
        drop(feed);
        let req = Message::request(user.clone(), agent.clone(), MsgBody::PingRequest, None);
        let sent = Instant::now();
        let put = call(
            &http,
            "PUT",
            &format!("{}/message", b.base),
            &json!({"message": req.to_json()}),
        )
        .await;
        assert_eq!(put.status, 200);
        let got = waiting.await.unwrap();
        assert_eq!(got.status, 200, "{got:?}");
        assert!(
            sent.elapsed() < Duration::from_millis(1500),
            "woken late: {:?}",
            sent.elapsed()
        );
        let got = Message::from_json(got.json()["message"].as_str().unwrap()).unwrap();
        assert_eq!(got.tag(), req.tag());

        // Every server sees the same state.
        let mut servers = vec![a.base.clone(), b.base.clone()];
        if let Some(p) = &p {
            servers.push(p.base.clone());
        }
        for s in &servers {
            let st = call(&http, "GET", &format!("{s}/mailbox"), &mb(&agent)).await;
            assert_eq!(st.json()["status"], "ACTIVE", "{s}");
            let d = call(
                &http,
                "GET",
                &format!("{s}/discover"),
                &json!({"agent": "m.Shared", "allow_subclasses": false}),
            )
            .await;
            assert_eq!(d.json()["agent_ids"], agent.uid().to_string(), "{s}");
            let stats = call(&http, "GET", &format!("{s}/mailbox/stats"), &mb(&agent)).await;
            assert_eq!(stats.json()["in_progress"], 1, "{s}");
        }

        // The response goes through the Python server (if any) and is
        // received through B; completion is counted for everyone.
        let resp = got.create_response(MsgBody::SuccessResponse).unwrap();
        let via = p.as_ref().map_or(&a.base, |p| &p.base);
        assert_eq!(
            call(
                &http,
                "PUT",
                &format!("{via}/message"),
                &json!({"message": resp.to_json()})
            )
            .await
            .status,
            200
        );
        let mut body = mb(&user);
        body["timeout"] = json!(5);
        let back = call(&http, "GET", &format!("{}/message", b.base), &body).await;
        assert_eq!(back.status, 200, "{back:?}");
        for s in &servers {
            let stats = call(&http, "GET", &format!("{s}/mailbox/stats"), &mb(&agent)).await;
            assert_eq!(stats.json()["completed"], 1, "{s}");
        }

        // A Python-side put reaches a Rust receiver; heartbeats agree.
        if let Some(p) = &p {
            let m = Message::request(agent.clone(), user.clone(), MsgBody::PingRequest, None);
            assert_eq!(
                call(
                    &http,
                    "PUT",
                    &format!("{}/message", p.base),
                    &json!({"message": m.to_json()})
                )
                .await
                .status,
                200
            );
            let got = call(&http, "GET", &format!("{}/message", a.base), &body).await;
            assert_eq!(
                Message::from_json(got.json()["message"].as_str().unwrap())
                    .unwrap()
                    .tag(),
                m.tag()
            );
            assert_eq!(
                call(
                    &http,
                    "POST",
                    &format!("{}/mailbox/heartbeat", p.base),
                    &mb(&agent)
                )
                .await
                .status,
                200
            );
            let hb = call(
                &http,
                "GET",
                &format!("{}/mailbox/heartbeat", a.base),
                &mb(&agent),
            )
            .await;
            let age = hb.json()["heartbeat"].as_f64().unwrap();
            assert!((0.0..5.0).contains(&age), "{age}");
        }

        // Terminate through B: everyone agrees, a pending request is answered.
        let pending = Message::request(user.clone(), agent.clone(), MsgBody::PingRequest, None);
        call(
            &http,
            "PUT",
            &format!("{}/message", a.base),
            &json!({"message": pending.to_json()}),
        )
        .await;
        assert_eq!(
            call(&http, "DELETE", &format!("{}/mailbox", b.base), &mb(&agent))
                .await
                .status,
            200
        );
        for s in &servers {
            let st = call(&http, "GET", &format!("{s}/mailbox"), &mb(&agent)).await;
            assert_eq!(st.json()["status"], "TERMINATED", "{s}");
            let hb = call(&http, "GET", &format!("{s}/mailbox/heartbeat"), &mb(&agent)).await;
            assert_eq!(hb.status, 419, "{s}");
        }
        let answer = call(&http, "GET", &format!("{}/message", a.base), &body).await;
        let answer = Message::from_json(answer.json()["message"].as_str().unwrap()).unwrap();
        assert_eq!(answer.tag(), pending.tag());
        assert!(matches!(
            answer.body().unwrap(),
            MsgBody::AcademyErrorResponse { .. }
        ));

        // SIGTERM: clean exit.
        sigterm(&mut a).await;
        sigterm(&mut b).await;
        if let Some(p) = p.as_mut() {
            let _ = p.child.start_kill();
            let _ = p.child.wait().await;
        }
    })
    .await
    .unwrap();
}
