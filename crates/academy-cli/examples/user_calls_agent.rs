//! A user calls an agent through a Globus-authenticated exchange, all on
//! loopback: an embedded Globus Auth emulator (auto-approve) and exchange
//! server, and the user and agent clients in this one process.
//!
//! ```text
//! cargo run -p academy-cli --example user_calls_agent
//! ```

use std::sync::Arc;

use academy_cli::agent::{DemoActions, demo_agent_type};
use academy_exchange::ExchangeFactory as _;
use academy_exchange_server::{AuthConfig, GlobusAuthKwargs, ServerConfig};
use academy_globus_client::TokenStore;
use academy_globus_emulator::{EmulatorConfig, defaults};
use academy_globus_exchange::{
    AutoApproveLoginFlow, GlobusApp, GlobusAppConfig, GlobusExchangeFactory,
};
use serde_json::{Map, json};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Globus Auth (emulated) and the exchange, on free loopback ports.
    let emulator = academy_globus_emulator::serve(EmulatorConfig {
        auto_approve: Some(true),
        ..EmulatorConfig::default()
    })
    .await?;
    let mut config = ServerConfig::default()
        .with_bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .with_path_prefix("/v1");
    config.auth = AuthConfig::Globus(GlobusAuthKwargs {
        client_id: Some(defaults::EXCHANGE_CLIENT_ID.into()),
        client_secret: Some(defaults::EXCHANGE_CLIENT_SECRET.into()),
        auth_base_url: Some(emulator.base_url().into()),
        groups_base_url: Some(emulator.base_url().into()),
        ..GlobusAuthKwargs::default()
    });
    let server = academy_exchange_server::serve(config).await?;
    let auth_url: url::Url = emulator.base_url().parse()?;
    let exchange_url: url::Url = format!("{}/v1", server.base_url()).parse()?;

    // The user: a PKCE login (approved by the emulator), tokens kept in a
    // temporary store.
    let home = tempfile::tempdir()?;
    let app = GlobusApp::user(
        GlobusAppConfig::new(auth_url.clone()),
        Arc::new(AutoApproveLoginFlow),
        Some(TokenStore::new(home.path().join("tokens.json"))),
    )?;
    let factory = GlobusExchangeFactory::new(defaults::PROJECT_ID, exchange_url)
        .with_auth_base_url(auth_url)
        .with_app(Arc::new(app));
    let user = factory
        .create_user_client(Some("example-user"), true)
        .await?;

    // The agent: registered through Globus (client, credential, scope,
    // delegated token), served here by the demo's actions.
    let registration = user
        .register_agent(&demo_agent_type(), Some("calculator"))
        .await?;
    let agent = factory
        .create_agent_client(registration.as_ref(), Arc::new(DemoActions))
        .await?;

    // Calls.
    let handle = user.get_handle(registration.agent_id().clone());
    let sum = handle
        .action("add", vec![json!(2), json!(40)], Map::new())
        .await?;
    println!("add(2, 40) = {sum}");
    let echoed = handle
        .action("echo", vec![json!("hello, agent")], Map::new())
        .await?;
    println!("echo -> {echoed}");
    println!("ping round trip: {:?}", handle.ping().await?);

    // Shut down: the agent terminates its mailbox, the user client
    // terminates the user's and deletes the agent's Globus client.
    handle.shutdown(Some(true)).await?;
    println!("agent stopped: {:?}", agent.wait_stopped().await);
    agent.close().await?;
    user.close().await?;
    server.shutdown().await;
    emulator.shutdown().await?;
    Ok(())
}
