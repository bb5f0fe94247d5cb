//! academy-exchange-server: the hosted exchange HTTP API of academy-py 1.0.0
//! (`exchange-http-api.md`), as a library and a binary.
//!
//! academy-py's own `HttpExchangeFactory` and `GlobusExchangeFactory`
//! clients work against it unchanged. Mailboxes live in memory or in Redis
//! (wire-compatible key layout, so Rust and Python servers can share one
//! Redis); callers are unauthenticated or authenticated with Globus Auth.
//!
//! ```no_run
//! # async fn demo() -> Result<(), academy_exchange_server::ServerError> {
//! use academy_exchange_server::{ServerConfig, serve};
//! let config = ServerConfig::from_toml_str("port = 0")?
//!     .with_bind("127.0.0.1:0".parse().unwrap())
//!     .with_path_prefix("/v1");
//! let server = serve(config).await?;
//! println!("{}/v1", server.base_url());
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Deliberate differences from the Python server (wire format unchanged):
//! malformed JSON and wrongly typed fields answer 400 instead of 500; the
//! group id `""` never grants access; `src` of a sent message must be a
//! mailbox the caller may use (403); termination answers every pending
//! request with server authority and always succeeds; retried sends are
//! deduplicated by (dest, tag, kind) for [`backend::DEDUP_WINDOW`]; a
//! message taken for a receiver that went away goes back to the head of its
//! queue; the Globus audience checked is the configured `client_id`. See the
//! module docs of [`backend`], [`auth`] and [`routes`] for details.

pub mod auth;
pub mod backend;
pub mod config;
mod delivery;
pub mod error;
pub mod routes;
mod server;

pub use auth::{Authenticator, ClientInfo, NullAuthenticator};
pub use backend::MailboxBackend;
pub use config::{AuthConfig, BackendConfig, GlobusAuthKwargs, ServerConfig};
pub use error::ServerError;
pub use server::{ServerHandle, serve};
