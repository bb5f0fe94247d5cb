//! `[backend.kwargs]` credentials and database reach Redis as configured,
//! including passwords with URL-reserved characters.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use academy_exchange::{EntityId, UserId};
use academy_exchange_server::{ServerConfig, serve};
use academy_testkit::redis::{RedisOptions, RedisServer};
use common::{call, client};
use serde_json::json;

/// A password with every character a URL would otherwise misread.
const PASSWORD: &str = "p@ss:w/rd#?%&= x";

fn config(port: u16, password: &str) -> ServerConfig {
    let mut kwargs = toml::Table::new();
    kwargs.insert("username".into(), "alice".into());
    kwargs.insert("password".into(), password.into());
    kwargs.insert("db".into(), 3.into());
    kwargs.insert("decode_responses".into(), false.into());
    let mut backend = toml::Table::new();
    backend.insert("kind".into(), "redis".into());
    backend.insert("hostname".into(), "127.0.0.1".into());
    backend.insert("port".into(), i64::from(port).into());
    backend.insert("kwargs".into(), kwargs.into());
    let mut root = toml::Table::new();
    root.insert("backend".into(), backend.into());
    ServerConfig::from_toml_str(&toml::to_string(&root).unwrap())
        .unwrap()
        .with_bind("127.0.0.1:0".parse().unwrap())
}

async fn keys(port: u16, db: u32) -> Vec<String> {
    let url = format!("redis://127.0.0.1:{port}/{db}");
    let mut conn = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn acl_user_with_reserved_characters_in_password_and_db() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let redis = RedisServer::start_with(RedisOptions {
            // One argument per ACL rule (redis-server quotes each argument).
            extra_args: [
                "--user",
                "alice",
                "on",
                &format!(">{PASSWORD}"),
                "~*",
                "&*",
                "+@all",
            ]
            .map(String::from)
            .to_vec(),
            ..RedisOptions::default()
        })
        .await
        .unwrap();

        // The right password: the server works, and writes to database 3.
        let server = serve(config(redis.port(), PASSWORD)).await.unwrap();
        let http = client();
        let id: EntityId = UserId::new(None).into();
        let url = format!("{}/mailbox", server.base_url());
        let created = call(&http, "POST", &url, &json!({"mailbox": id.to_json()})).await;
        assert_eq!(created.status, 200, "{}", created.text);
        let in_db3 = keys(redis.port(), 3).await;
        assert!(
            in_db3.iter().any(|k| k.contains(&id.uid().to_string())),
            "{in_db3:?}"
        );
        assert!(keys(redis.port(), 0).await.is_empty());
        server.shutdown().await;

        // A wrong password is refused by Redis: the password is really sent.
        let Err(err) = serve(config(redis.port(), "p@ss:w/rd")).await else {
            panic!("a wrong password must fail");
        };
        let text = err.to_string().to_ascii_lowercase();
        assert!(text.contains("redis"), "{text}");
        assert!(!text.contains("p@ss"), "password in the error: {text}");
    })
    .await
    .unwrap();
}
