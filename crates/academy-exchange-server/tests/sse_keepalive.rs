//! `GET /mailbox/listen` keep-alive (§6.9): an idle stream carries `: ping`
//! comments at the configured interval and still delivers messages after.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use academy_exchange::message::Body as MsgBody;
use academy_exchange::{EntityId, Message, UserId};
use academy_exchange_server::{ServerConfig, serve};
use bytes::Bytes;
use common::{call, client};
use http_body_util::{BodyExt, Full};
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(30);
const PING: &str = ": ping\r\n\r\n";

/// Reads frames from `body` into `text` until `done(text)`.
async fn read_until(
    body: &mut hyper::body::Incoming,
    text: &mut String,
    done: impl Fn(&str) -> bool,
) {
    while !done(text) {
        let frame = body.frame().await.expect("stream ended").unwrap();
        if let Ok(data) = frame.into_data() {
            text.push_str(std::str::from_utf8(&data).unwrap());
        }
    }
}

#[tokio::test]
async fn idle_stream_gets_ping_comments_then_messages() {
    tokio::time::timeout(LIMIT, async {
        let config = ServerConfig::default()
            .with_bind("127.0.0.1:0".parse().unwrap())
            .with_sse_ping_interval(Duration::from_millis(100));
        let server = serve(config).await.unwrap();
        let base = server.base_url();
        let http = client();
        let user: EntityId = UserId::new(None).into();
        let mailbox = json!({ "mailbox": user.to_json() });
        assert_eq!(
            call(&http, "POST", &format!("{base}/mailbox"), &mailbox)
                .await
                .status,
            200
        );
        let mut listen = mailbox.clone();
        listen["timeout"] = json!(20);
        let req = http::Request::builder()
            .method("GET")
            .uri(format!("{base}/mailbox/listen"))
            .body(Full::new(Bytes::from(listen.to_string())))
            .unwrap();
        let resp = http.request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let mut body = resp.into_body();
        let mut text = String::new();

        // Two pings on an idle stream, well inside the 20 s listen timeout.
        tokio::time::timeout(
            Duration::from_secs(5),
            read_until(&mut body, &mut text, |t| t.matches(PING).count() >= 2),
        )
        .await
        .expect("no ping comments within 5 s at a 100 ms interval");
        assert_eq!(text.replace(PING, ""), "", "only pings so far: {text:?}");

        // The stream still delivers.
        let m = Message::request(user.clone(), user.clone(), MsgBody::PingRequest, None);
        let sent = call(
            &http,
            "PUT",
            &format!("{base}/message"),
            &json!({ "message": m.to_json() }),
        )
        .await;
        assert_eq!(sent.status, 200, "{sent:?}");
        let event = format!("id: 1\r\ndata: {}\r\n\r\n", m.to_json());
        tokio::time::timeout(
            Duration::from_secs(5),
            read_until(&mut body, &mut text, |t| t.contains(&event)),
        )
        .await
        .expect("message not delivered on the stream");
        drop(body);
        server.shutdown().await;
    })
    .await
    .unwrap();
}

#[test]
fn default_interval_is_the_specified_15_s() {
    assert_eq!(
        ServerConfig::default().sse_ping_interval,
        Duration::from_secs(15)
    );
    assert_eq!(
        ServerConfig::from_toml_str("").unwrap().sse_ping_interval,
        Duration::from_secs(15)
    );
}
