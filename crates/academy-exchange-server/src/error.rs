//! The crate's error type: start-up failures and the HTTP error answers of
//! `exchange-http-api.md` §2.3.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Everything that can go wrong in the server, from configuration to a
/// single request.
///
/// The request-level variants map one-to-one onto the status codes and texts
/// of the spec (§2.3) through [`ServerError::status`] and
/// [`ServerError::response_text`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration file could not be read.
    #[error("cannot read configuration file {path}")]
    ConfigRead {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The configuration is not valid TOML or fails validation.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A configured feature is not supported by this implementation.
    #[error("unsupported configuration: {0}")]
    Unsupported(String),

    /// Binding the listening socket failed.
    #[error("cannot bind {addr}")]
    Bind {
        /// The address.
        addr: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A TLS certificate or key file could not be read or holds no usable
    /// PEM item.
    #[error("TLS {what} file {path}")]
    TlsFile {
        /// The file.
        path: String,
        /// `"certificate"` or `"private key"`.
        what: &'static str,
        /// The PEM or I/O error.
        #[source]
        source: rustls::pki_types::pem::Error,
    },

    /// The certificate and key were read but rustls rejects them (e.g. the
    /// key does not match the certificate).
    #[error("TLS certificate {certfile} with key {keyfile}")]
    Tls {
        /// The certificate file.
        certfile: String,
        /// The key file.
        keyfile: String,
        /// The rustls error.
        #[source]
        source: rustls::Error,
    },

    /// The `[logger]` log file could not be created or opened.
    #[error("cannot open log file {path}")]
    LogFile {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// Connecting to or talking to Redis failed.
    #[error("redis: {context}")]
    Redis {
        /// What was being done.
        context: String,
        /// The Redis error.
        #[source]
        source: redis::RedisError,
    },

    /// 503 with `Retry-After: 1`: Redis is unreachable, restarting or too
    /// slow to answer. Clients retry; the detail is logged, never sent.
    #[error("redis: {context} (unavailable)")]
    Unavailable {
        /// What was being done.
        context: String,
        /// The Redis error.
        #[source]
        source: redis::RedisError,
    },

    /// 400 `Missing or invalid field: <detail>`.
    #[error("Missing or invalid field: {0}")]
    BadRequest(String),

    /// 400 for a body that is not a JSON object (Python answers 500).
    #[error("Invalid request body: {0}")]
    BadBody(String),

    /// 400 `Invalid timeout (must be less than <max> and greater than 0)`.
    #[error("Invalid timeout (must be less than {0} and greater than 0)")]
    InvalidTimeout(u64),

    /// 401 `Missing required headers.`
    #[error("Missing required headers.")]
    Unauthorized,

    /// 403 `Token expired or revoked.`
    #[error("Token expired or revoked.")]
    TokenRejected,

    /// 403 `Incorrect permissions`.
    #[error("Incorrect permissions")]
    Forbidden,

    /// 404 `Unknown mailbox ID`.
    #[error("Unknown mailbox ID")]
    NotFound,

    /// 408 `Request timeout`.
    #[error("Request timeout")]
    Timeout,

    /// 413 `Message of size <size> larger than limit <limit>.`
    #[error("Message of size {size} larger than limit {limit}.")]
    TooLarge {
        /// Size of the re-serialised message in bytes.
        size: usize,
        /// The configured limit in bytes.
        limit: usize,
    },

    /// 419 `Mailbox was closed`.
    #[error("Mailbox was closed")]
    Terminated,

    /// 500: a backend or authentication service failed. The detail is
    /// logged, never sent to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServerError {
    /// The HTTP status of a request-level error (500 for start-up errors).
    pub fn status(&self) -> StatusCode {
        match self {
            ServerError::BadRequest(_)
            | ServerError::BadBody(_)
            | ServerError::InvalidTimeout(_) => StatusCode::BAD_REQUEST,
            ServerError::Unauthorized => StatusCode::UNAUTHORIZED,
            ServerError::TokenRejected | ServerError::Forbidden => StatusCode::FORBIDDEN,
            ServerError::NotFound => StatusCode::NOT_FOUND,
            ServerError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ServerError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            // 419 is not a registered code; from_u16 accepts any 100..=999.
            ServerError::Terminated => {
                StatusCode::from_u16(419).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            ServerError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The plain-text body sent to the client.
    pub fn response_text(&self) -> String {
        match self {
            ServerError::Internal(_)
            | ServerError::Redis { .. }
            | ServerError::Config(_)
            | ServerError::ConfigRead { .. }
            | ServerError::Unsupported(_)
            | ServerError::TlsFile { .. }
            | ServerError::Tls { .. }
            | ServerError::LogFile { .. }
            | ServerError::Bind { .. } => "500 Internal Server Error".to_string(),
            ServerError::Unavailable { .. } => "503 Service Unavailable".to_string(),
            other => other.to_string(),
        }
    }

    /// A Redis failure: [`ServerError::Unavailable`] when it is about the
    /// connection (down, refused, timed out, loading), else
    /// [`ServerError::Redis`].
    pub(crate) fn redis(context: impl Into<String>, source: redis::RedisError) -> Self {
        let context = context.into();
        let transient = source.is_io_error()
            || source.is_timeout()
            || source.is_connection_dropped()
            || source.is_connection_refusal()
            || source.is_unrecoverable_error()
            || matches!(
                source.retry_method(),
                redis::RetryMethod::Reconnect
                    | redis::RetryMethod::ReconnectFromInitialConnections
                    | redis::RetryMethod::WaitAndRetry
            );
        if transient {
            ServerError::Unavailable { context, source }
        } else {
            ServerError::Redis { context, source }
        }
    }
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "request failed");
        } else if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(error = %self, "request refused: backend unavailable");
        }
        let mut response = (status, self.response_text()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
