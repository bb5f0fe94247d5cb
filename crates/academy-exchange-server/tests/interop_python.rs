//! academy-py 1.0.0's `HttpExchangeFactory` clients against this server.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use academy_exchange_server::{ServerConfig, serve};
use tokio::process::Command;

async fn run_script(python: &std::path::Path, base_url: &str) {
    let out = Command::new(python)
        .arg(common::py_script("interop_http.py"))
        .arg(base_url)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for step in [
        "request-response",
        "ping",
        "discover",
        "status",
        "stats",
        "terminate",
        "user-client",
    ] {
        assert!(
            stdout.lines().any(|l| l == format!("ok {step}")),
            "missing step {step}: {stdout}"
        );
    }
}

#[tokio::test]
async fn python_http_exchange_factory_against_memory_server() {
    let Some(python) = common::python() else {
        return;
    };
    tokio::time::timeout(Duration::from_secs(150), async {
        let server = common::memory_server().await;
        run_script(&python, &server.base_url()).await;
        server.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn python_http_exchange_factory_against_redis_server_with_prefix() {
    let Some(python) = common::python() else {
        return;
    };
    tokio::time::timeout(Duration::from_secs(150), async {
        let redis = common::RedisServer::start().await;
        let config = ServerConfig::from_toml_str(&format!(
            "[backend]\nkind = 'redis'\nhostname = '127.0.0.1'\nport = {}",
            redis.port()
        ))
        .unwrap()
        .with_bind("127.0.0.1:0".parse().unwrap())
        .with_path_prefix("/v1");
        let server = serve(config).await.unwrap();
        run_script(&python, &format!("{}/v1", server.base_url())).await;
        server.shutdown().await;
    })
    .await
    .unwrap();
}
