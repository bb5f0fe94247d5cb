//! Starts an emulator on a free loopback port, prints the environment that
//! points globus-sdk and academy-py at it, and serves until Ctrl-C.
//!
//! `cargo run -p academy-globus-emulator --example print_env`

use academy_globus_emulator::{EmulatorConfig, EmulatorError, env, serve};

#[tokio::main]
async fn main() -> Result<(), EmulatorError> {
    let config = EmulatorConfig {
        auto_approve: Some(true),
        ..EmulatorConfig::default()
    };
    let emulator = serve(config).await?;
    print!("{}", env::render(&emulator.env()));
    eprintln!(
        "serving at {} until Ctrl-C (development only)",
        emulator.base_url()
    );
    let _ = tokio::signal::ctrl_c().await;
    emulator.shutdown().await
}
