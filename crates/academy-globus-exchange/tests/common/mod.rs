//! Shared set-up: our exchange server (memory or Redis backend, null or
//! Globus auth), the Globus Auth emulator, and factories for both.
#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use academy_exchange_server::config::BackendConfig;
use academy_exchange_server::{AuthConfig, GlobusAuthKwargs, ServerConfig, ServerHandle, serve};
use academy_globus_emulator::{EmulatorConfig, EmulatorHandle, defaults as d};
use academy_globus_exchange::{
    AutoApproveLoginFlow, GlobusApp, GlobusAppConfig, GlobusExchangeFactory, HttpExchangeFactory,
};
use academy_testkit::redis::RedisServer;

/// Runs `fut`, failing the test after `secs` seconds.
pub async fn bounded<T>(secs: u64, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .unwrap_or_else(|_| panic!("test did not finish within {secs} s"))
}

fn local() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A server config with the Redis backend of `redis`.
pub fn redis_backend(redis: &RedisServer) -> BackendConfig {
    let text = format!(
        "[backend]\nkind = \"redis\"\nhostname = \"127.0.0.1\"\nport = {}\n",
        redis.port()
    );
    ServerConfig::from_toml_str(&text).unwrap().backend
}

/// Our server without authentication.
pub async fn null_server(backend: Option<BackendConfig>) -> ServerHandle {
    let mut config = ServerConfig::default().with_bind(local());
    if let Some(b) = backend {
        config.backend = b;
    }
    config.listen_timeout_s = 30;
    serve(config).await.unwrap()
}

/// The emulator (auto-approve on, so PKCE logins complete unattended).
pub async fn emulator() -> EmulatorHandle {
    let config = EmulatorConfig {
        bind: local(),
        auto_approve: Some(true),
        ..EmulatorConfig::default()
    };
    academy_globus_emulator::serve(config).await.unwrap()
}

/// Our server with the Globus authenticator against `emulator`
/// .
pub async fn globus_server(
    emulator: &EmulatorHandle,
    backend: Option<BackendConfig>,
) -> ServerHandle {
    let kwargs = GlobusAuthKwargs {
        client_id: Some(d::EXCHANGE_CLIENT_ID.into()),
        client_secret: Some(d::EXCHANGE_CLIENT_SECRET.into()),
        auth_base_url: Some(emulator.base_url().into()),
        groups_base_url: Some(emulator.base_url().into()),
        // No introspection caching: expiry and revocation show at once.
        token_ttl_s: Some(0.0),
        group_info_cache_ttl_s: Some(1.0),
        ..GlobusAuthKwargs::default()
    };
    let mut config = ServerConfig::default().with_bind(local());
    config.auth = AuthConfig::Globus(kwargs);
    config.listen_timeout_s = 30;
    if let Some(b) = backend {
        config.backend = b;
    }
    serve(config).await.unwrap()
}

pub fn http_factory(server: &ServerHandle) -> HttpExchangeFactory {
    HttpExchangeFactory::new(server.base_url().parse().unwrap()).with_request_timeout_s(10.0)
}

pub fn app_config(emulator: &EmulatorHandle) -> GlobusAppConfig {
    GlobusAppConfig::new(emulator.base_url().parse().unwrap())
}

/// The seeded admin client, headless.
pub fn headless_app(emulator: &EmulatorHandle) -> Arc<GlobusApp> {
    Arc::new(
        GlobusApp::client(
            app_config(emulator),
            d::ADMIN_CLIENT_ID,
            d::ADMIN_CLIENT_SECRET.into(),
        )
        .unwrap(),
    )
}

/// Alice through PKCE logins approved by the emulator; tokens in `store` if given.
pub fn user_app(
    emulator: &EmulatorHandle,
    store: Option<academy_globus_client::TokenStore>,
) -> Arc<GlobusApp> {
    Arc::new(GlobusApp::user(app_config(emulator), Arc::new(AutoApproveLoginFlow), store).unwrap())
}

/// A factory for our server and the emulator, without an app.
pub fn globus_factory_bare(
    emulator: &EmulatorHandle,
    server: &ServerHandle,
) -> GlobusExchangeFactory {
    globus_factory_url(emulator, &server.base_url())
}

/// A factory for the exchange at `url` and the emulator, without an app.
pub fn globus_factory_url(emulator: &EmulatorHandle, url: &str) -> GlobusExchangeFactory {
    let mut f = GlobusExchangeFactory::new(d::PROJECT_ID, url.parse().unwrap())
        .with_auth_base_url(emulator.base_url().parse().unwrap())
        .with_request_timeout_s(10.0);
    f.exchange_client_id = d::EXCHANGE_CLIENT_ID.into();
    f.exchange_scope_id = d::EXCHANGE_SCOPE_ID.into();
    f
}

pub fn globus_factory(
    emulator: &EmulatorHandle,
    server: &ServerHandle,
    app: Arc<GlobusApp>,
) -> GlobusExchangeFactory {
    globus_factory_bare(emulator, server).with_app(app)
}

/// An agent with one action, `add`, summing its integer arguments.
pub struct Adder;

#[async_trait::async_trait]
impl academy_exchange::RequestHandler for Adder {
    async fn action(
        &self,
        call: academy_exchange::ActionInvocation,
    ) -> Result<serde_json::Value, academy_exchange::ActionError> {
        match call.name.as_str() {
            "add" => Ok(call
                .args
                .iter()
                .filter_map(serde_json::Value::as_i64)
                .sum::<i64>()
                .into()),
            other => Err(academy_exchange::ActionError::UnknownAction(other.into())),
        }
    }
}

/// A login flow that counts logins and delegates to the emulator's auto-approval.
#[derive(Debug, Default)]
pub struct CountingFlow(pub std::sync::atomic::AtomicUsize);

#[async_trait::async_trait]
impl academy_globus_exchange::LoginFlow for CountingFlow {
    async fn authorization_code(
        &self,
        url: &url::Url,
    ) -> Result<String, academy_globus_exchange::GlobusExchangeError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        AutoApproveLoginFlow.authorization_code(url).await
    }
}

impl CountingFlow {
    pub fn count(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}
