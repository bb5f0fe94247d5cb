//! # academy-globus-client
//!
//! HTTP access to Globus Auth and to Academy's hosted exchange, the way
//! academy-py 1.0.0 (through globus-sdk 4.10) makes it:
//!
//! * [`HttpClient`]: one tower stack — base URL → [`RetryPolicy`] retries
//!   with a budget → [`authorizer::Authorizer`] credentials with
//!   single-flight refresh → per-attempt timeout → tracing → hyper-util
//!   over rustls;
//! * authorizers (static, refresh token, client credentials, token store);
//! * [`AuthClient`] for the OAuth2 grants and the client/scope API, and
//!   [`login`] for the native-app PKCE flow;
//! * [`TokenStore`], tokens on disk in `$ACADEMY_HOME`;
//! * [`AcademyGlobusClient`] for every exchange route, including the SSE
//!   listen stream.
//!
//! Nothing here knows `ExchangeTransport`: calls return typed values or
//! an [`Error`] (an [`ApiError`] carries the status and body).

pub mod auth_client;
pub mod authorizer;
pub mod config;
pub mod error;
pub mod exchange_client;
pub mod http;
pub mod layer;
pub mod login;
pub mod secret;
pub mod sse;
pub mod tls;
pub mod token;
pub mod token_store;

pub use auth_client::{AuthClient, AuthClientConfig, ClientIdentity};
pub use config::TlsVerification;
pub use error::{ApiError, BoxError, Error, Result};
pub use exchange_client::{AcademyGlobusClient, ExchangeClientConfig, ReconnectPolicy};
pub use http::{HttpClient, HttpClientBuilder};
pub use layer::RetryPolicy;
pub use secret::Secret;
pub use token::{TokenData, TokenResponse};
pub use token_store::TokenStore;
