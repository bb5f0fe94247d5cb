//! Errors: [`EmulatorError`] for the library and binary, [`ApiError`] for
//! HTTP responses in Globus's JSON error format.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Errors of the emulator library and binary.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The bind address is not loopback and remote access was not allowed.
    #[error("refusing to bind non-loopback address {0} without --allow-remote (development only)")]
    NonLoopback(SocketAddr),
    /// Serving failed.
    #[error("the HTTP server failed")]
    Serve(#[source] std::io::Error),
    /// Binding failed.
    #[error("cannot listen on {addr}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be read or written.
    #[error("cannot access {path}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The seed TOML is malformed.
    #[error("invalid seed file {path}")]
    SeedParse {
        /// Path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: toml::de::Error,
    },
    /// The seed is inconsistent (dangling reference, bad id …).
    #[error("invalid seed: {0}")]
    Seed(String),
    /// The JSON state file is malformed.
    #[error("invalid state file {path}")]
    State {
        /// Path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
    /// The embedded signing key could not be loaded.
    #[error("cannot load the embedded id_token signing key")]
    SigningKey,
    /// Serialising the state failed.
    #[error("cannot serialise state")]
    Serialize(#[source] serde_json::Error),
    /// The server task failed.
    #[error("server task failed")]
    Join(#[source] tokio::task::JoinError),
}

/// An HTTP error in the Globus Auth JSON error format.
///
/// The body carries both Globus's `code`/`message`/`request_id`/`errors[]`
/// (parsed by globus-sdk as a "type zero" error) and the OAuth2
/// `error`/`error_description` pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// OAuth2-style lowercase error, e.g. `invalid_grant`.
    pub error: &'static str,
    /// Human-readable detail.
    pub message: String,
}

impl ApiError {
    /// Builds an error.
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            error,
            message: message.into(),
        }
    }
    /// 400 `invalid_request`.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }
    /// 401 `invalid_client`.
    pub fn invalid_client(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", message)
    }
    /// 400 `invalid_grant`.
    pub fn invalid_grant(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", message)
    }
    /// 400 `invalid_scope`.
    pub fn invalid_scope(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", message)
    }
    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let request_id = uuid::Uuid::new_v4().to_string();
        let code = self.error.to_ascii_uppercase();
        let title = self.status.canonical_reason().unwrap_or("Error");
        serde_json::json!({
            "code": code,
            "message": self.message,
            "request_id": request_id,
            "errors": [{
                "status": self.status.as_u16().to_string(),
                "id": request_id,
                "code": code,
                "title": title,
                "detail": self.message,
            }],
            "error": self.error,
            "error_description": self.message,
        })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.error,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}
