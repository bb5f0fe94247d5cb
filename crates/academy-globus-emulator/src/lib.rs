//! A local Globus Auth emulator for development and tests — **development
//! only**: fixed dev secrets, an embedded signing key, no real login.
//!
//! It implements the subset of Globus Auth (and the one Globus Groups call)
//! that the Academy exchange, its clients, academy-py and the real Python
//! globus-sdk use (`shared/spec/globus-auth-api.md`): the OAuth2 grants
//! (authorization code with PKCE, refresh, client credentials, dependent
//! tokens), introspection, revocation, userinfo, OpenID `id_token`s,
//! clients / credentials / scopes / projects under `/v2/api`, and
//! `/v2/groups/my_groups`. Point globus-sdk at it with
//! `GLOBUS_SDK_SERVICE_URL_AUTH` and `GLOBUS_SDK_SERVICE_URL_GROUPS`
//! (see [`EmulatorHandle::env`]).
//!
//! # Command line
//!
//! ```text
//! academy-globus-emulator [--bind 127.0.0.1:PORT] [--config seed.toml] [--env-file PATH]
//!                         [--state PATH] [--auto-approve] [--access-token-lifetime SECS]
//!                         [--no-groups-tokens] [--allow-remote]
//! academy-globus-emulator env [--bind ADDR] [--config seed.toml] [--env-file PATH]
//! ```
//!
//! It prints `academy-globus-emulator listening on http://ADDR/ …` once it
//! accepts connections. `--env-file` (or `env`) writes `export KEY='value'`
//! lines; `source` them and globus-sdk, academy-py (headless, as the seeded
//! admin client) and our tools use the emulator. `--no-groups-tokens` makes
//! the dependent-token grant return no Groups token, which academy-py's
//! server (hard-coded production Groups URL) needs offline.
//!
//! # Behaviour worth knowing
//!
//! * Scope strings are `https://auth.globus.org/scopes/<client>/<suffix>`
//!   whatever the emulator's URL; ids of the default seed are in
//!   [`defaults`].
//! * Introspection: `username` is the user's username, or
//!   `<client-id>@clients.auth.globus.org` for a client identity; `aud` is
//!   `[resource server]`. Any authenticated confidential client may
//!   introspect (real Globus is stricter about who asks).
//! * Client credentials: a confidential client gets tokens for any existing
//!   scope (Globus consents for client identities automatically).
//! * Dependent tokens: only for the declared dependent scopes of the
//!   presented token's scopes, only to that token's resource server, for the
//!   same identity; refresh tokens with `access_type=offline`. Users need
//!   consent, recorded at login for a scope and (recursively) its
//!   dependents; optional dependents without consent are left out.
//! * Tokens, codes and secrets are random opaque strings stored as SHA-256
//!   digests (also in the state file). Deleting a client ends its tokens and
//!   the tokens for its scopes. Revocation is seen at once.
//! * Emulated clock: [`EmulatorHandle::advance_clock`] expires tokens and
//!   codes without waiting; `id_token`s use real time.
//!
//! ```no_run
//! # async fn demo() -> Result<(), academy_globus_emulator::EmulatorError> {
//! use academy_globus_emulator::{serve, EmulatorConfig};
//! let mut config = EmulatorConfig::default();
//! config.auto_approve = Some(true);
//! config.access_token_lifetime = Some(60);
//! let emulator = serve(config).await?;
//! assert!(emulator.base_url().ends_with('/'));
//! emulator.shutdown().await?;
//! # Ok(()) }
//! ```

mod auth_api;
mod authorize;
pub mod defaults;
pub mod env;
mod error;
mod grants;
mod groups;
pub mod model;
mod oauth2;
mod oidc;
mod request;
pub mod secret;
pub mod seed;
mod server;
pub mod state;

pub use auth_api::CLIENT_TYPES;
pub use error::{ApiError, EmulatorError};
pub use seed::Seed;
pub use server::{EmulatorConfig, EmulatorHandle, Settings, serve};
