//! A string that never shows itself in `Debug` or `Display`.

use http::HeaderValue;

use crate::error::{Error, Result};

/// A secret string (access token, refresh token, client secret).
///
/// ```
/// use academy_globus_client::Secret;
/// let s = Secret::new("hunter2");
/// assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
/// assert_eq!(s.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself; call only where it is put on the wire or in the
    /// token store.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `Authorization: Bearer <token>`, marked sensitive so that HTTP
    /// tooling (hyper's HPACK, tower-http) never records it.
    pub fn bearer_header(&self) -> Result<HeaderValue> {
        sensitive_header(&format!("Bearer {}", self.0))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

/// Builds a header value marked sensitive.
pub fn sensitive_header(text: &str) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(text)
        .map_err(|_| Error::Config("credential contains characters invalid in a header".into()))?;
    value.set_sensitive(true);
    Ok(value)
}

/// `Authorization: Basic base64(id:secret)`, marked sensitive.
pub fn basic_header(client_id: &str, secret: &Secret) -> Result<HeaderValue> {
    use base64::Engine as _;
    let raw = format!("{client_id}:{}", secret.expose());
    sensitive_header(&format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw.as_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_sensitive_and_redacted() {
        let s = Secret::new("tok");
        let h = s.bearer_header().unwrap();
        assert!(h.is_sensitive());
        assert_eq!(format!("{h:?}"), "Sensitive");
        assert_eq!(s.to_string(), "<redacted>");
        let b = basic_header("id", &Secret::new("pw")).unwrap();
        assert_eq!(b.to_str().unwrap(), "Basic aWQ6cHc=");
        assert!(Secret::new("a\nb").bearer_header().is_err());
    }
}
