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
//! With `certfile` set the server speaks HTTPS only (rustls, ring provider;
//! see [`tls`]); the binary applies `[logger]` (see [`logging`]).
//!
//! # Deliberate differences from the Python server
//!
//! The wire format is unchanged. Each difference fixes a Python bug listed
//! in `exchange-http-api.md` §12, or hardens the server; the module named
//! gives the details.
//!
//! Requests ([`routes`]):
//! * malformed JSON and wrongly typed or missing fields answer 400 instead
//!   of 500 (§12.6, §12.7), and nothing changes state before the whole body
//!   is validated.
//!
//! Permissions and authentication ([`auth`], [`auth::globus`]):
//! * the group id `""` never grants access (§12.9);
//! * the Globus audience checked is the configured `client_id` (§12.10);
//! * an active token without `username` answers 403 instead of 500;
//! * Globus calls are not retried (an unreachable Globus answers 500, as
//!   Python does after its retries), and the Groups URL follows the globus-sdk
//!   environment variables like the Auth URL (Python hard-codes production).
//!
//! Mailboxes and messages ([`backend`], [`backend::memory`],
//! [`backend::redis`]):
//! * both backends check a send in the order 403 (dest, then src), 404,
//!   419, 413 and a receive in the order 403, 404, 419 (Python's two
//!   backends differ, §11.3);
//! * `src` of a sent message must be a mailbox the caller may use (403), so
//!   replies cannot be forged (§12.8);
//! * termination answers every pending request with server authority and
//!   always succeeds (§12.2);
//! * re-creating an existing or terminated mailbox changes nothing: no
//!   re-activation, no ownership take-over by a group member (§12.3, §12.4);
//!   Redis' `<CLOSED>` sentinel gets the mailbox TTL and is skipped by
//!   receivers, and `agent:<uid>` is written for agents only;
//! * a request sent to a terminated mailbox is not tracked (§12.5);
//!   unsharing a never-shared mailbox answers 200 (§12.1);
//! * retried sends are deduplicated by (dest, tag, kind) for
//!   [`backend::DEDUP_WINDOW`], so a client retry after a lost answer does
//!   not deliver twice; in-memory pending-request tracking is bounded by
//!   [`backend::PENDING_LIMIT`] per mailbox;
//! * `POST /mailbox/heartbeat` for an id without a mailbox answers 200 but
//!   stores nothing (Python keeps one entry or Redis key per arbitrary id,
//!   §12.13), so a heartbeat sent before the mailbox exists is not reported
//!   after it is created;
//! * a message taken for a receiver that went away (closed connection,
//!   shutdown) goes back to the head of its queue instead of being lost
//!   (§12.12);
//! * acknowledged delivery (see [`routes`], *Acknowledged delivery*): every
//!   delivered message gets a per-mailbox sequence number (SSE `id: <n>`;
//!   `GET /message` answers an extra `"id": <n>` key) and stays in an
//!   in-flight list (bounded by [`backend::INFLIGHT_LIMIT`], Redis keys
//!   `inflight:<uid>` and `seqno:<uid>` with the mailbox TTL, cleared on
//!   termination) until the receiver comes back with `Last-Event-ID`
//!   (listen) or the body field `last_id` (receive): entries up to it are
//!   delivered, later ones are sent again first. Delivery is exactly-once
//!   for clients that echo ids (across cut connections, a killed server and
//!   a Redis restart mid-take) and at-most-once, as with Python, for
//!   clients that do not: a request without an id forgets what is in
//!   flight. academy-py 1.0.0 parses the integer `id:` fields and ignores
//!   the extra key;
//! * an event stream that opts in to acknowledged delivery supersedes the
//!   mailbox's earlier opted-in streams (receiver generations, see
//!   [`routes`]), so a client can reopen a busy stream to acknowledge it
//!   without the stream it dropped taking the next message; streams without
//!   the opt-in (academy-py's) are unaffected;
//! * Redis unreachable or too slow (more than
//!   [`backend::redis::REDIS_RESPONSE_TIMEOUT`]) answers `503` with
//!   `Retry-After: 1` at once, instead of 500 after a long wait;
//! * a client gets [`config::HEADER_READ_TIMEOUT`] to send its request
//!   headers (then the connection is closed) and
//!   [`config::BODY_READ_TIMEOUT`] for its body (then `408`), both
//!   configurable ([`ServerConfig::with_read_timeouts`]), so slow-loris
//!   clients cannot hold connections.
//!
//! Process ([`ServerConfig`], [`tls`], [`logging`]):
//! * the default `host` is `127.0.0.1`, not `localhost`, so that the default
//!   never binds an IPv6-only address;
//! * `keyfile` without `certfile` is a start-up error (Python silently
//!   serves plain HTTP), so a half-configured TLS set-up is noticed; a TLS
//!   handshake must finish within [`tls::HANDSHAKE_TIMEOUT`];
//! * the console log goes to stderr, not stdout, because the binary's stdout
//!   carries the `listening on …` line that scripts read; rotated log files
//!   carry the UTC date (Python: local time); log lines use `tracing`'s
//!   format;
//! * the binary's `--config` is optional (without it the defaults apply);
//! * `[backend.kwargs]` ([`RedisKwargs`]) honours `username`, `password`,
//!   `db`, `socket_timeout` and `socket_connect_timeout`, accepts redis-py's
//!   pool and decoding options with a warning that they have no effect,
//!   refuses `ssl = true` (no TLS to Redis in this build) and rejects
//!   unknown keys when the file is read (Python: a `TypeError` at start-up).
//!
//! Extensions, absent from Python: an optional path prefix
//! ([`ServerConfig::with_path_prefix`]); a configurable SSE ping interval
//! ([`ServerConfig::with_sse_ping_interval`], default 15 s as specified);
//! `auth_base_url`/`groups_base_url` in `[auth.kwargs]`; HTTP/2 (h2c, and h2
//! by ALPN over TLS) besides HTTP/1.1; the binary's `--host`, `--port`,
//! `--prefix` and `--log-level` options.
//!
//! Kept as in Python although §12 lists them: heartbeat values are ages, and
//! stats answer zeros for unknown and terminated mailboxes (§12.11); and the 512 KiB message limit stays a few bytes above what the
//! Python SSE client can read (§12.14).

pub mod auth;
pub mod backend;
pub mod config;
mod delivery;
pub mod error;
pub mod logging;
pub mod routes;
mod server;
pub mod tls;

pub use auth::{Authenticator, ClientInfo, NullAuthenticator};
pub use backend::MailboxBackend;
pub use config::{AuthConfig, BackendConfig, GlobusAuthKwargs, RedisKwargs, ServerConfig};
pub use error::ServerError;
pub use server::{ServerHandle, WaitingReceivers, serve};
