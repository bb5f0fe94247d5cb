//! The crate's error type and the Globus API error parsed from response
//! bodies (`globus-auth-api.md` §8).

use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};

/// A boxed error from a lower layer.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a status outside 200–399.
    #[error(transparent)]
    Api(Box<ApiError>),
    /// The request could not be sent or its response could not be read
    /// (connection refused or reset, TLS failure, truncated body, …).
    #[error("HTTP transport error{}: {source}", if *.connect { " while connecting" } else { "" })]
    Transport {
        /// True when the failure happened before the request was written.
        connect: bool,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// One attempt took longer than the configured per-attempt timeout.
    #[error("HTTP request timed out")]
    Timeout,
    /// The stored or supplied refresh token (or client credentials) was
    /// rejected: the user must log in again (`academy login`).
    #[error("login required: {reason}; log in again (e.g. `academy login`)")]
    LoginRequired {
        /// Why the credentials were rejected.
        reason: String,
    },
    /// A response body did not have the documented shape.
    #[error("invalid response: {0}")]
    InvalidResponse(String),
    /// Invalid configuration or argument supplied by the caller.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The token store could not be read or written.
    #[error("token store {path}: {source}")]
    TokenStore {
        /// The store file.
        path: std::path::PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Any other I/O failure.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Error::Api(Box::new(e))
    }
}

impl Error {
    /// The HTTP status, if this is an API error.
    pub fn http_status(&self) -> Option<u16> {
        self.api().map(|e| e.http_status)
    }

    /// The API error, if this is one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    /// Wraps a lower-level transport error, noting whether it happened
    /// while connecting (before anything was written).
    pub fn transport(source: impl Into<BoxError>) -> Error {
        let source = source.into();
        let connect = is_connect_error(&*source);
        Error::Transport { connect, source }
    }
}

fn is_connect_error(e: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(h) = e.downcast_ref::<hyper_util::client::legacy::Error>() {
        return h.is_connect();
    }
    false
}

/// A Globus-style API error (`GlobusAPIError`, `AuthAPIError`,
/// `AcademyAPIError`), parsed from an error response as globus-sdk does.
///
/// ```
/// use academy_globus_client::ApiError;
/// let body = br#"{"errors": [{"status": "401", "id": "a1", "code": "UNAUTHORIZED",
///   "detail": "Call must be authenticated", "title": "Unauthorized"}],
///   "error_description": "Unauthorized", "error": "unauthorized"}"#;
/// let mut headers = http::HeaderMap::new();
/// headers.insert("content-type", "application/json".parse().unwrap());
/// let e = ApiError::from_response(http::StatusCode::UNAUTHORIZED, &headers, body, true);
/// assert_eq!(e.code.as_deref(), Some("UNAUTHORIZED"));
/// assert_eq!(e.message().as_deref(), Some("Call must be authenticated"));
/// assert_eq!(e.request_id.as_deref(), Some("a1"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code.
    pub http_status: u16,
    /// Reason phrase of the status.
    pub http_reason: String,
    /// Error code, when the body carries one.
    pub code: Option<String>,
    /// Error messages (possibly empty).
    pub messages: Vec<String>,
    /// Request id, when the body carries one.
    pub request_id: Option<String>,
    /// Sub-error documents.
    pub errors: Vec<Value>,
    /// Raw body text (the exchange answers with plain text).
    pub text: String,
    /// Parsed body, only when the content type is JSON.
    pub raw_json: Option<Value>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} {}", self.http_status, self.http_reason)?;
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        match self.message() {
            Some(m) => write!(f, ": {m}"),
            None if !self.text.is_empty() => {
                // Bodies can be large; the beginning is enough to diagnose.
                let text: String = self.text.chars().take(200).collect();
                write!(f, ": {}", text.trim_end())
            }
            None => Ok(()),
        }
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// `"; ".join(messages)`, or `None` when there are none.
    pub fn message(&self) -> Option<String> {
        (!self.messages.is_empty()).then(|| self.messages.join("; "))
    }

    /// Parses an error response. `auth_rules` enables the Globus Auth rule
    /// that a single distinct sub-error `id` becomes the request id.
    pub fn from_response(
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        auth_rules: bool,
    ) -> ApiError {
        let text = String::from_utf8_lossy(body).into_owned();
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        let is_json = content_type == "application/json"
            || (content_type.starts_with("application/") && content_type.ends_with("+json"));
        let raw_json = if is_json {
            serde_json::from_slice::<Value>(body).ok()
        } else {
            None
        };
        let mut err = ApiError {
            http_status: status.as_u16(),
            http_reason: status.canonical_reason().unwrap_or_default().to_string(),
            code: None,
            messages: Vec::new(),
            request_id: None,
            errors: Vec::new(),
            text,
            raw_json: raw_json.clone(),
        };
        if let Some(Value::Object(root)) = &raw_json {
            err.parse_object(root, content_type == "application/vnd.api+json");
            if auth_rules {
                let ids: std::collections::BTreeSet<&str> = err
                    .errors
                    .iter()
                    .filter_map(|e| e.get("id").and_then(Value::as_str))
                    .collect();
                if ids.len() == 1 {
                    err.request_id = ids.into_iter().next().map(str::to_string);
                }
            }
        }
        err
    }

    fn parse_object(&mut self, root: &Map<String, Value>, jsonapi: bool) {
        let sub_errors: Option<Vec<Value>> = match root.get("errors") {
            Some(Value::Array(items))
                if !items.is_empty() && items.iter().all(Value::is_object) =>
            {
                Some(items.clone())
            }
            _ => None,
        };
        // 1. JSON:API
        if jsonapi && let Some(errors) = &sub_errors {
            self.code = common_code(errors);
            self.messages = errors
                .iter()
                .filter_map(|e| first_string(e, &["detail", "title"]))
                .collect();
            self.errors = errors.clone();
            return;
        }
        // 2. Type zero
        let code = root.get("code").and_then(Value::as_str);
        let message = root.get("message").and_then(Value::as_str);
        let request_id_ok = matches!(root.get("request_id"), None | Some(Value::String(_)));
        if let (Some(code), Some(message), true) = (code, message, request_id_ok) {
            self.code = Some(code.to_string());
            self.messages = vec![message.to_string()];
            self.request_id = root
                .get("request_id")
                .and_then(Value::as_str)
                .map(str::to_string);
            self.errors = sub_errors.unwrap_or_else(|| vec![Value::Object(root.clone())]);
            return;
        }
        // 3. Undefined
        let errors = sub_errors.unwrap_or_else(|| vec![Value::Object(root.clone())]);
        self.code = code.map(str::to_string).or_else(|| common_code(&errors));
        self.messages = errors
            .iter()
            .filter_map(|e| first_string(e, &["message", "detail", "title"]))
            .collect();
        self.errors = errors;
    }
}

fn common_code(errors: &[Value]) -> Option<String> {
    let codes: std::collections::BTreeSet<&str> = errors
        .iter()
        .filter_map(|e| e.get("code").and_then(Value::as_str))
        .collect();
    (codes.len() == 1)
        .then(|| codes.into_iter().next().map(str::to_string))
        .flatten()
}

fn first_string(e: &Value, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| e.get(*k).and_then(Value::as_str))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_headers(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::CONTENT_TYPE, ct.parse().unwrap());
        h
    }

    #[test]
    fn oauth_error_has_no_code_or_message() {
        let e = ApiError::from_response(
            StatusCode::BAD_REQUEST,
            &json_headers("application/json"),
            br#"{"error": "invalid_grant"}"#,
            true,
        );
        assert_eq!(e.code, None);
        assert_eq!(e.message(), None);
        assert_eq!(e.errors.len(), 1);
    }

    #[test]
    fn plain_text_exchange_error() {
        let e = ApiError::from_response(
            StatusCode::FORBIDDEN,
            &json_headers("text/plain; charset=utf-8"),
            b"Token expired or revoked.",
            false,
        );
        assert_eq!(e.http_status, 403);
        assert_eq!(e.text, "Token expired or revoked.");
        assert!(e.raw_json.is_none());
        assert_eq!(
            e.to_string(),
            "HTTP 403 Forbidden: Token expired or revoked."
        );
    }

    #[test]
    fn type_zero() {
        let e = ApiError::from_response(
            StatusCode::NOT_FOUND,
            &json_headers("application/json"),
            br#"{"code": "NotFound", "message": "nope", "request_id": "r1"}"#,
            false,
        );
        assert_eq!(e.code.as_deref(), Some("NotFound"));
        assert_eq!(e.message().as_deref(), Some("nope"));
        assert_eq!(e.request_id.as_deref(), Some("r1"));
    }

    #[test]
    fn jsonapi_mixed_codes() {
        let e = ApiError::from_response(
            StatusCode::BAD_REQUEST,
            &json_headers("application/vnd.api+json"),
            br#"{"errors": [{"code": "A", "title": "t1"}, {"code": "B", "detail": "d2", "title": "t2"}]}"#,
            false,
        );
        assert_eq!(e.code, None);
        assert_eq!(e.messages, vec!["t1", "d2"]);
    }
}
