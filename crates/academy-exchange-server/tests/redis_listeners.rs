//! Thousands of listeners on the Redis backend cost no Redis connection each.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use academy_exchange::message::Body as MsgBody;
use academy_exchange::{AgentId, EntityId, Message};
use academy_exchange_server::{ServerConfig, serve};
use common::{RedisServer, call, client};
use futures::StreamExt;
use http_body_util::BodyExt;
use serde_json::json;

const LISTENERS: usize = 1000;

#[tokio::test]
async fn a_thousand_sse_listeners_share_two_redis_connections() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let redis = RedisServer::start().await;
        let config = ServerConfig::from_toml_str(&format!(
            "[backend]\nkind = 'redis'\nhostname = '127.0.0.1'\nport = {}",
            redis.port()
        ))
        .unwrap()
        .with_bind("127.0.0.1:0".parse().unwrap());
        let server = serve(config).await.unwrap();
        let base = server.base_url();
        let http = client();
        let ids: Vec<EntityId> = (0..LISTENERS).map(|_| AgentId::new(None).into()).collect();
        futures::stream::iter(ids.iter().cloned())
            .for_each_concurrent(32, |id| {
                let http = http.clone();
                let url = format!("{base}/mailbox");
                async move {
                    assert_eq!(
                        call(&http, "POST", &url, &json!({"mailbox": id.to_json()}))
                            .await
                            .status,
                        200
                    );
                }
            })
            .await;

        // Open every stream (one connection each) and wait for its headers.
        let streams = futures::stream::iter(ids.iter().cloned())
            .map(|id| {
                let http = client();
                let url = format!("{base}/mailbox/listen");
                async move {
                    let req = http::Request::builder()
                        .method("GET")
                        .uri(url)
                        .body(http_body_util::Full::new(bytes::Bytes::from(
                            json!({"mailbox": id.to_json(), "timeout": 60}).to_string(),
                        )))
                        .unwrap();
                    let resp = http.request(req).await.unwrap();
                    assert_eq!(resp.status(), 200);
                    (resp, http)
                }
            })
            .buffered(64)
            .collect::<Vec<_>>()
            .await;

        // Redis sees the connection manager and the notification
        // subscriber (plus our own probe), not one connection per listener.
        let probe = redis::Client::open(redis.url()).unwrap();
        let mut conn = probe.get_multiplexed_async_connection().await.unwrap();
        let info: String = redis::cmd("INFO")
            .arg("clients")
            .query_async(&mut conn)
            .await
            .unwrap();
        let clients: usize = info
            .lines()
            .find_map(|l| l.strip_prefix("connected_clients:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(clients <= 4, "connected_clients = {clients}");

        // One message to each mailbox; every listener receives its own.
        let messages: Vec<Message> = ids
            .iter()
            .map(|id| Message::request(id.clone(), id.clone(), MsgBody::PingRequest, None))
            .collect();
        futures::stream::iter(messages.iter().cloned())
            .for_each_concurrent(32, |m| {
                let http = http.clone();
                let url = format!("{base}/message");
                async move {
                    assert_eq!(
                        call(&http, "PUT", &url, &json!({"message": m.to_json()}))
                            .await
                            .status,
                        200
                    );
                }
            })
            .await;
        let received = futures::stream::iter(streams.into_iter().zip(messages.iter()))
            .map(|((resp, _http), m)| async move {
                let mut body = resp.into_body();
                loop {
                    let frame = body.frame().await.unwrap().unwrap();
                    if let Ok(data) = frame.into_data() {
                        let text = String::from_utf8(data.to_vec()).unwrap();
                        if let Some((_, event)) = text.split_once("data: ") {
                            assert!(text.starts_with("id: "), "{text:?}");
                            assert_eq!(event.trim_end(), m.to_json());
                            return;
                        }
                    }
                }
            })
            .buffer_unordered(64)
            .count()
            .await;
        assert_eq!(received, LISTENERS);
        server.shutdown().await;
    })
    .await
    .unwrap();
}
