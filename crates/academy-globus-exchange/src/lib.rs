//! # academy-globus-exchange
//!
//! Transports to Academy's hosted exchange HTTP API
//! (`globus-exchange-client.md` §5, §7), native async on the tower stack
//! of `academy-globus-client` (one pooled HTTP client per transport, no
//! thread pool):
//!
//! * [`HttpExchangeFactory`] / [`HttpExchangeTransport`]: static headers
//!   (or none), for servers without Globus auth;
//! * [`GlobusExchangeFactory`] / [`GlobusExchangeTransport`]: Globus Auth
//!   tokens renewed transparently; agents registered as Globus Auth
//!   clients ([`GlobusAgentRegistration`]), by users (PKCE login through a
//!   [`LoginFlow`]) or headless by a confidential client ([`GlobusApp`]);
//!   agent processes use dependent tokens and refresh them for ever.
//!
//! Receiving streams `GET /mailbox/listen` with reconnection and falls
//! back to long polls (`GET /message`), acknowledging what it returned so
//! that our server re-sends what a cut connection lost ([`receive`]);
//! HTTP outcomes map to
//! [`academy_exchange::ExchangeError`] in one place ([`error_map`]).
//!
//! Deliberate differences from academy-py 1.0.0 (wire format unchanged):
//! receive errors other than 408 end receiving instead of a silent hot
//! loop, transient ones back off (§9.1, §9.2); a 403 renews the token once
//! (§9.5); `request_timeout_s` survives shipping the factory (§9.3);
//! `close()` deletes only terminated agents' Globus clients and is
//! idempotent (§9.4); a failed batch registration cleans up after itself;
//! headless (client-credentials) launchers can register agents; no forced
//! re-login every 30 minutes (§5.5).
//!
//! ```no_run
//! # async fn demo() -> Result<(), academy_exchange::ExchangeError> {
//! use std::sync::Arc;
//! use academy_exchange::{AgentType, ExchangeFactory};
//! use academy_globus_exchange::{GlobusApp, GlobusAppConfig, GlobusExchangeFactory};
//! // Launcher: a confidential client registers an agent, no person present.
//! let app = GlobusApp::client(GlobusAppConfig::from_env()?, "client-id", "secret".into())?;
//! let factory = GlobusExchangeFactory::new(
//!     "b0c1d2e3-f4a5-4b6c-8d7e-8f9a0b1c2d01",
//!     "https://exchange.academy-agents.org/v1".parse().unwrap(),
//! ).with_app(Arc::new(app));
//! let user = factory.create_user_client(Some("launcher"), true).await?;
//! let registration = user.register_agent(&AgentType::new("mypkg.Adder"), Some("adder")).await?;
//! // Ship these two strings to the agent's process…
//! let (factory_json, registration_json) = (factory.to_json()?, registration.to_json()?);
//! // …which runs `create_agent_client` with them.
//! let remote = academy_globus_exchange::GlobusExchangeFactory::from_json(&factory_json)?;
//! let reg = remote.registration_from_json(&registration_json)?;
//! # let _ = reg; Ok(()) }
//! ```

pub mod app;
pub mod error;
pub mod error_map;
pub mod factory;
pub mod http_factory;
pub mod login_flow;
mod mailbox;
pub mod receive;
pub mod registration;
pub mod transport;

pub use app::{AppAuthorizer, GlobusApp, GlobusAppConfig};
pub use error::GlobusExchangeError;
pub use factory::GlobusExchangeFactory;
pub use http_factory::{HttpAgentRegistration, HttpExchangeFactory, HttpExchangeTransport};
pub use login_flow::{AutoApproveLoginFlow, ConsoleLoginFlow, LoginFlow};
pub use receive::{MAX_CONSECUTIVE_FAILURES, ReceivePolicy};
pub use registration::GlobusAgentRegistration;
pub use transport::{GlobusCredentials, GlobusExchangeOptions, GlobusExchangeTransport};
